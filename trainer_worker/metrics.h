// Training metrics: one JSON object per optimizer step in <out>/metrics.jsonl
// (rank 0 only) and a one-line progress report on stderr. Torch-free.
//
// JSONL fields: step (1-based, after the update), epoch, loss (mean per target
// token over the global batch), lr, grad_norm (before clipping), tokens
// (non-pad, global), target_tokens, step_s, tokens_per_s, mfu (omitted when
// the peak is unknown), elapsed_s, total_steps (the run's, when known).
// Mixture-of-experts models add ce_loss (the cross-entropy alone; loss is
// the objective, ce_loss + coef * aux_loss), aux_loss (the router's
// load-balancing loss, router_trace.h; 0 when off) and expert_load: per MoE
// layer, each expert's share of the step's token choices (1/E each at
// perfect balance), the busiest expert's load over the mean, and the
// experts no token chose.
#ifndef SSD_TRAINER_WORKER_METRICS_H_
#define SSD_TRAINER_WORKER_METRICS_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include <vector>

#include "common/model/expert_load.h"
#include "common/model/model_config.h"

namespace ssd {

struct StepMetrics {
  int64_t step = 0;
  int64_t epoch = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  int64_t tokens = 0;
  int64_t target_tokens = 0;
  double step_s = 0;
  double tokens_per_s = 0;
  double mfu = -1;  // < 0: unknown
  // Sharded (gradients, full): seconds the step waited on its layers'
  // gathers and reduce-scatters, the part no compute hid; < 0: not sharded.
  double comm_wait_s = -1;
  double elapsed_s = 0;
  int64_t total_steps = 0;  // of the whole run; 0: unknown
  // Mixture of experts (num_moe_layers > 0), else empty and unused.
  double ce_loss = 0;
  double aux_loss = 0;
  int64_t top_k = 0;
  std::vector<ExpertLoad> expert_load;  // by ascending layer, over the global batch
};

// The MoE layer whose busiest expert is furthest above the mean; nullptr
// without MoE layers.
const ExpertLoad* WorstExpertLoad(const StepMetrics& m);

// Model FLOPs of one training step (forward + backward = 3x forward) over
// `tokens` tokens whose causal attention covers `attention_pairs` (query,
// key) pairs in total: 6 x matmul parameters per token (the lm_head
// included, the embedding lookup not; of a MoE layer the router and the k
// active experts) plus 12 x heads x head_dim per pair per layer. Padding and
// masked-out pairs are not counted.
double TrainingFlops(const ModelConfig& config, double tokens, double attention_pairs);

std::string MetricsJson(const StepMetrics& m);
// "step 12/200 ep 0 | loss 2.3456 | lr 1.00e-05 | gnorm 0.812 | 1234 tok/s | mfu 12.3%"
std::string ProgressLine(const StepMetrics& m, int64_t total_steps);

// Appends lines to metrics.jsonl. Open() keeps the lines of steps
// <= keep_through_step (a resumed run drops what a killed run logged after
// its last checkpoint, so the file stays one curve).
class MetricsLog {
 public:
  static absl::StatusOr<MetricsLog> Open(const std::string& path, int64_t keep_through_step);
  MetricsLog(MetricsLog&& other) noexcept : path_(std::move(other.path_)), file_(other.file_) { other.file_ = nullptr; }
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  ~MetricsLog();
  absl::Status Write(const StepMetrics& m);

 private:
  MetricsLog(std::string path, FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  FILE* file_ = nullptr;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_METRICS_H_
