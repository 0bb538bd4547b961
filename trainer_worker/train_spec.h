// A job's training settings (v1::TrainSpec) as a file. The trainer agent
// writes its assignment's spec into the round's output folder and runs
// `ssd train --spec FILE`, so the settings reach the training process as the
// proto itself (its JSON form), not as a list of flags parsed back from
// strings. `ssd train` applies it in train_command.cc.
#ifndef SSD_TRAINER_WORKER_TRAIN_SPEC_H_
#define SSD_TRAINER_WORKER_TRAIN_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/model/sharding_mode.h"
#include "ssd/v1/job.pb.h"
#include "trainer_worker/packing.h"

namespace ssd {

// Writes `spec` as JSON to `path`, atomically.
absl::Status WriteTrainSpec(const v1::TrainSpec& spec, const std::string& path);

// Reads a spec written by WriteTrainSpec (or by hand: the proto's JSON
// mapping, enums by name). Unknown fields and bad values are
// INVALID_ARGUMENT naming the file and what is wrong; a missing file is
// NOT_FOUND.
absl::StatusOr<v1::TrainSpec> ReadTrainSpec(const std::string& path);

// The `ssd train` flags a spec sets; a command line may not give them
// together with --spec.
const std::vector<std::string>& TrainSpecFlags();

// Where the trainer agent writes the spec of a round it trains into `out`.
std::string TrainSpecPath(const std::string& out);

// The spec's sharding (unspecified is none).
absl::StatusOr<ShardingMode> ShardingFromProto(v1::Sharding sharding);

// The batch plan `ssd train --spec` builds from `t`, and the epochs it runs
// (a spec with steps runs until them). The trainer agent plans each rank's
// share of the data with the same.
absl::StatusOr<BatchPlanOptions> PlanOptionsFor(const v1::TrainSpec& t);
int64_t PlanEpochs(const v1::TrainSpec& t);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TRAIN_SPEC_H_
