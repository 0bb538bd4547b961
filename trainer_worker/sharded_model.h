// ShardedModel: a decoder's training state split over the d ranks of a
// Collective, as ZeRO stages 1-3 and FSDP split it (sharding_mode.h says
// which state each mode shards). It wraps the model from outside: the
// decoder runs its layers through this LayerRunner and never sees a
// collective.
//
// Layout. The parameters form units: one per decoder layer and the root
// (embedding, final norm, an untied lm_head). A unit's parameters, in
// Decoder::Parameters() order, are flattened into one fp32 vector padded
// with zeros to a multiple of d; rank r owns its elements [r n, (r + 1) n)
// (n = padded / d): the master weights, both AdamW moments, and (gradients,
// full) the gradient of that shard. AdamW runs on the shard slice by slice,
// each slice keeping its parameter's decay rule (no decay for norms and
// biases). The decoder's parameters become views into the unit's gathered
// buffer.
//
// One step (Trainer drives it):
//   BeginStep        zero the shard gradients; full: gather the root, which
//                    stays gathered for the step (FSDP's root: the
//                    embedding runs first and lm_head last);
//   forward/backward per micro-batch. optimizer: as plain data parallel,
//                    into per-unit flat gradient buffers. gradients, full:
//                    each layer runs as one autograd node (RunLayer) whose
//                    backward computes the layer's parameter gradients,
//                    reduce-scatters them into the shard gradient at once and
//                    frees them; full also gathers the layer's parameters
//                    just before its forward and again before its backward,
//                    and frees them after each;
//   FinishGradients  reduce-scatter what is still whole: the root's
//                    gradients (all units' in optimizer);
//   GradNorm         the global norm: squares summed over every shard,
//                    all-reduced;
//   Update           clip and AdamW on the shard; optimizer and gradients
//                    all-gather the new parameters; full frees the root.
//
// Overlap: the collectives run in order on a CommQueue thread. full queues
// the next layer's all-gather before a layer runs (in backward, the
// previous layer's), and after the last layer's forward gathers it again
// for its backward while the loss runs; gradients and full queue a layer's
// reduce-scatter and go on with the next layer's backward, with at most
// one more in flight. The sums and their order are those of running them
// inline, so results are bitwise the same.
//
// SPMD: in gradients and full, collectives run inside every layer's forward
// and backward, so every rank must run the same number of micro-batches
// (Trainer pads a rank with an empty one) and the same layers.
//
// Numerics: the result is plain data parallel's up to float summation
// order (the reduce-scatter sums per micro-batch in gradients and full, and
// the norm sums per shard). Communication errors inside autograd become
// c10::Error, which Trainer::Step turns into a Status. Not thread-safe.
#ifndef SSD_TRAINER_WORKER_SHARDED_MODEL_H_
#define SSD_TRAINER_WORKER_SHARDED_MODEL_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/decoder.h"
#include "common/model/layer_runner.h"
#include "common/model/sharding_mode.h"
#include "trainer_worker/adamw.h"
#include "trainer_worker/collective.h"
#include "trainer_worker/comm_queue.h"

namespace ssd {

// One parameter's place in its unit's flat vector.
struct FlatParam {
  std::string name;  // Decoder::Parameters() name
  std::vector<int64_t> shape;
  int64_t offset = 0;  // first element in the unit's flat vector
  int64_t numel = 0;
  bool decayed = false;  // IsDecayed()
};

// A unit as every rank sees it; the same on every rank.
struct FlatUnitLayout {
  std::string name;  // "layers.<i>" or "root"
  std::vector<FlatParam> params;
  int64_t numel = 0;   // sum of the parameters' numel
  int64_t padded = 0;  // numel rounded up to a multiple of the world size
  int64_t ShardNumel(int world_size) const { return padded / world_size; }
};

// Units of `model` for `world_size` ranks: "layers.<i>" in order, then
// "root".
std::vector<FlatUnitLayout> PlanFlatUnits(const Decoder& model, int world_size);

class ShardedModel : public LayerRunner {
 public:
  // Takes over `model`'s parameters (which become views into the units'
  // buffers; in full, only gathered during a step). `model` and `collective`
  // are not owned and must outlive this. mode must not be kNone.
  // `param_dtype`: the dtype the parameters are gathered and computed in,
  // fp32 or bf16 (mixed precision: the masters, moments and the reduction
  // of the gradients stay fp32, as in FSDP2's MixedPrecisionPolicy with
  // reduce_dtype fp32; the forward then runs under autocast).
  // overlap: false waits for every layer collective where it is queued
  // (no prefetch, no reduce-scatter left in flight), for comparison.
  static absl::StatusOr<std::unique_ptr<ShardedModel>> Create(Decoder& model, ShardingMode mode, Collective& collective,
                                                              const AdamWOptions& adamw,
                                                              at::ScalarType param_dtype = at::kFloat,
                                                              bool overlap = true);
  ~ShardedModel() override;

  ShardingMode mode() const { return mode_; }
  at::ScalarType param_dtype() const { return param_dtype_; }
  // True when layers run through RunLayer (gradients, full), so every rank
  // must run the same number of micro-batches.
  bool RunsLayers() const { return mode_ != ShardingMode::kOptimizer; }
  LayerRunner* runner() { return RunsLayers() ? this : nullptr; }

  absl::Status BeginStep();
  at::Tensor RunLayer(int64_t index, const LayerFn& layer, const at::Tensor& x, bool checkpoint) override;
  absl::Status FinishGradients();
  // The gradient's global L2 norm over all ranks' shards.
  absl::StatusOr<double> GradNorm();
  // Multiplies this rank's shard gradients by `coef` (clipping).
  void ScaleGradients(double coef);
  // AdamW on this rank's shards with learning rate `lr`, then the
  // parameters as the mode keeps them between steps.
  absl::Status Update(double lr);
  int64_t optimizer_steps() const { return optimizer_steps_; }

  // Checkpoint state of this rank: per unit "master.<unit>",
  // "exp_avg.<unit>" and "exp_avg_sq.<unit>", each its shard [n].
  NamedTensors ShardTensors() const;
  // Restores ShardTensors() of this rank (resharded by the caller if the
  // world size changed) and the optimizer step count, then the parameters.
  // Fails naming the tensor on a missing name or a wrong size.
  absl::Status LoadShardTensors(const std::map<std::string, at::Tensor>& tensors, int64_t optimizer_steps);

  // Collective: every rank must call it. The full parameters under their
  // Parameters() names, gathered one unit at a time into fresh tensors
  // (`device`), for comparison and export.
  absl::StatusOr<NamedTensors> GatherParameters(const at::Device& device);
  // Collective: calls `fn` with each unit's parameters gathered in place
  // (the decoder's own tensors valid for the call), unit by unit, so no rank
  // holds more than one layer's full parameters beyond what the mode keeps.
  // With bf16 parameters, the call sees the fp32 masters instead.
  absl::Status ForEachGatheredUnit(const std::function<absl::Status(const FlatUnitLayout&)>& fn);

  const std::vector<FlatUnitLayout>& layout() const { return layout_; }
  int world_size() const { return world_; }
  // Bytes of model state this rank holds between steps: parameters as kept
  // (full: only its shards), gradient buffers, master shards and moments.
  int64_t ModelStateBytes() const;

  // Collective: waits for the layers' queued gathers and reduce-scatters
  // (the trainer calls it before any collective of its own); their first
  // error. FinishGradients, RefreshParameters and the gathers for export
  // call it first too.
  absl::Status WaitForCommunication();
  // Seconds this step's compute thread waited on the collectives (the part
  // of their time that no compute hid), since BeginStep.
  double comm_wait_seconds() const { return comm_wait_seconds_; }

  // Used by the layer's autograd node. GatherUnit waits for the unit's
  // parameters (queueing the all-gather if no prefetch did); PrefetchUnit
  // queues it and returns.
  void GatherUnit(size_t unit);
  void PrefetchUnit(size_t unit);
  void MaybePrefetch(size_t unit);  // PrefetchUnit when overlapping
  void ReleaseUnit(size_t unit);
  void ReduceLayerGradients(size_t unit, const std::vector<at::Tensor>& grads);
  std::vector<at::Tensor> UnitParameters(size_t unit) const;

 private:
  struct Unit;
  struct PendingReduce;
  ShardedModel(Decoder& model, ShardingMode mode, Collective& collective, const AdamWOptions& adamw,
               at::ScalarType param_dtype, bool overlap);
  absl::Status Init();
  // The parameters kept whole (optimizer, gradients) from the masters.
  absl::Status RefreshParameters();
  bool KeepsGathered(size_t unit) const;
  // Waits for `ticket`, or (nullptr) drains the queue, counting the wait.
  absl::Status WaitFor(const CommQueue::Ticket* ticket);
  // Waits for the reduce-scatter in flight and adds its shard.
  absl::Status FinishReduce();

  Decoder& model_;
  const ShardingMode mode_;
  const at::ScalarType param_dtype_;
  Collective& coll_;
  const AdamWOptions adamw_;
  const int rank_;
  const int world_;
  const bool overlap_;
  std::vector<FlatUnitLayout> layout_;
  std::vector<std::unique_ptr<Unit>> units_;
  NamedTensors params_;  // the decoder's, in Parameters() order
  int64_t optimizer_steps_ = 0;
  std::unique_ptr<PendingReduce> pending_reduce_;
  double comm_wait_seconds_ = 0;
  // Last: its thread runs closures that use the members above.
  CommQueue comm_;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_SHARDED_MODEL_H_
