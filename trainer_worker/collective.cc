#include "trainer_worker/collective.h"

namespace ssd {

std::vector<std::vector<at::Tensor>> GroupIntoBuckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const at::Tensor& t : tensors) {
    const int64_t n = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || bytes + n > bucket_bytes) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += n;
  }
  return out;
}

}  // namespace ssd
