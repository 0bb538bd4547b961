// Live CPU tensor bytes, as libtorch's allocator reports them to a memory
// profiler: the bytes a memory plan models, without the malloc arenas'
// slack that a process's peak RSS adds on top.
#ifndef SSD_TESTS_TESTING_TENSOR_BYTES_H_
#define SSD_TESTS_TESTING_TENSOR_BYTES_H_

#include <cstdint>
#include <memory>

namespace ssd {

// While one lives, CPU allocations made on the creating thread (and the
// threads libtorch hands its state to) are counted. Frees of tensors made
// before it are not seen, so make it before the model.
class TensorBytesTracker {
 public:
  TensorBytesTracker();
  ~TensorBytesTracker();
  TensorBytesTracker(const TensorBytesTracker&) = delete;
  TensorBytesTracker& operator=(const TensorBytesTracker&) = delete;

  int64_t current() const;
  int64_t peak() const;
  // Starts a new peak from the bytes live now.
  void ResetPeak();

 private:
  struct State;
  struct Guard;
  std::shared_ptr<State> state_;
  std::unique_ptr<Guard> guard_;
};

}  // namespace ssd

#endif  // SSD_TESTS_TESTING_TENSOR_BYTES_H_
