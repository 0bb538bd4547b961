// What a trainer rank reads from the replay store for its assignment.
//
// With one rank, or when the samplers did not count the samples' training
// sizes (Sample.sft_tokens), the rank reads every survivor. Otherwise it
// reads only the sizes of all survivors (ScanRequest.sizes_only), builds the
// batch plan that `ssd train` will build from the same TrainSpec, and fetches
// the text of just the survivors its own micro-batches use
// (ScanRequest.select). Both produce the same training: the plan is the same
// function of the same sizes in the same order (rank_share.h).
#ifndef SSD_TRAINER_WORKER_RANK_DATA_H_
#define SSD_TRAINER_WORKER_RANK_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/client/worker_session.h"
#include "ssd/v1/worker_service.pb.h"
#include "trainer_worker/packing.h"
#include "trainer_worker/train_spec.h"

namespace ssd {

struct RankData {
  std::string data_path;   // chat JSONL
  std::string sizes_path;  // empty when data_path holds every survivor
  int64_t survivors = 0;   // of the round
  int64_t lines = 0;       // in data_path
};

// Bitmap for ScanRequest.select: bit i set iff chosen[i].
std::string SelectBitmap(const std::vector<int64_t>& ordinals);

// Writes the data of assignment `a` under `dir` and checks that the store
// returned exactly the round's `a.survivors()` survivors.
absl::StatusOr<RankData> ReadRankData(WorkerSession* session, const v1::TrainingAssignment& a, const std::string& dir);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_RANK_DATA_H_
