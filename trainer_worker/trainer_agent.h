// TrainerAgent: the trainer worker's loop (`ssd trainer`), free of libtorch.
//
//   register ─► acquire ─┬─ training assignment: read the round's
//                        │  survivors from the replay store, write them as
//                        │  chat JSONL, run `ssd train` as a child (its own
//                        │  process group) with the job's recipe, this
//                        │  rank and the rendezvous, --resume from the
//                        │  round's checkpoints; report step, loss and
//                        │  tokens/s as the child logs them; report done
//                        │  with the model folder (rank 0)
//                        └─ push assignment: stream the round's saved model
//                           folder (immutable once written) down the chain
//                           of samplers
//
// The child is the unit of failure: a revoked lease (a dead peer dissolved
// the group, the job was cancelled) kills it at once, and a new group
// resumes from the last checkpoint, so on CPU the final weights equal an
// uninterrupted run's.
#ifndef SSD_TRAINER_WORKER_TRAINER_AGENT_H_
#define SSD_TRAINER_WORKER_TRAINER_AGENT_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/weights/weights_transport.h"
#include "coordinator/client/worker_session.h"
#include "trainer_worker/rank_data.h"

namespace ssd {

struct TrainerAgentOptions {
  WorkerSessionOptions session;  // role is set to TRAINER
  std::string work_dir;          // data files; outputs when the job names no output_dir
  std::string ssd_binary;        // the `ssd` that trains (default: this executable)
  int threads = 0;               // --threads for the child (0: its default)
  std::string device = "cpu";
  std::vector<std::string> extra_train_args;
  ChannelFactory samplers;
  int64_t push_chunk_bytes = 4 << 20;
  int64_t progress_interval_ms = 500;
};

struct TrainerAgentStats {
  int64_t trainings_done = 0;
  int64_t trainings_failed = 0;
  int64_t last_step = 0;
  double last_loss = 0;
  double last_step_s = 0;
  double tokens_per_s = 0;
  int64_t peak_rss_bytes = 0;  // the largest peak of an `ssd train` child so far
  std::string sharding;        // train.sharding of the last assignment ("none" ... "full"), "" before one
  // Mixture-of-experts models: the last step's aux loss and each MoE
  // layer's expert load (metrics.jsonl's expert_load), empty otherwise.
  double aux_loss = 0;
  struct LayerLoad {
    int64_t layer = 0;
    double max_over_mean = 0;
    int64_t dead_experts = 0;
    std::vector<double> fractions;
  };
  std::vector<LayerLoad> expert_load;
  int64_t pushes_done = 0;
  int64_t push_bytes = 0;
  double last_push_gb_per_s = 0;
};

class TrainerAgent {
 public:
  explicit TrainerAgent(const TrainerAgentOptions& options);
  ~TrainerAgent();
  absl::Status Run();
  // Stops taking work; a training in progress is stopped (its lease goes
  // back and the group resumes from the last checkpoint).
  void Drain();
  std::string worker_id() const;
  TrainerAgentStats stats() const;

  // The `ssd train` command line for an assignment (exposed for tests).
  static std::vector<std::string> TrainArgv(const TrainerAgentOptions& options, const v1::TrainingAssignment& a,
                                            const RankData& data, const std::string& out);

 private:
  absl::Status Train(const v1::TrainingAssignment& a);
  absl::Status Push(const v1::PushAssignment& p);
  std::string OutDir(const v1::TrainingAssignment& a) const;

  const TrainerAgentOptions options_;
  std::unique_ptr<WorkerSession> session_;
  std::atomic<bool> draining_{false};
  mutable absl::Mutex mu_;
  TrainerAgentStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAINER_AGENT_H_
