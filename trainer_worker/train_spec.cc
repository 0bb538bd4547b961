#include "trainer_worker/train_spec.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {

absl::Status WriteTrainSpec(const v1::TrainSpec& spec, const std::string& path) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string json;
  const auto s = google::protobuf::util::MessageToJsonString(spec, &json, o);
  if (!s.ok()) return absl::InternalError(absl::StrCat("train spec to JSON: ", s.ToString()));
  return WriteFileAtomically(path, json);
}

absl::StatusOr<v1::TrainSpec> ReadTrainSpec(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
  if (!text.ok())
    return absl::NotFoundError(absl::StrCat(path, ": cannot read the train spec: ", text.status().message()));
  v1::TrainSpec spec;
  const auto s = google::protobuf::util::JsonStringToMessage(*text, &spec);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a TrainSpec: ", std::string(s.message().data(), s.message().size())));
  }
  return spec;
}

const std::vector<std::string>& TrainSpecFlags() {
  static const std::vector<std::string> kFlags = {"--epochs",
                                                  "--max-steps",
                                                  "--lr",
                                                  "--schedule",
                                                  "--min-lr-ratio",
                                                  "--warmup",
                                                  "--batch-tokens",
                                                  "--micro-batch-tokens",
                                                  "--max-seq-len",
                                                  "--weight-decay",
                                                  "--beta1",
                                                  "--beta2",
                                                  "--grad-clip",
                                                  "--seed",
                                                  "--batching",
                                                  "--save-every",
                                                  "--activation-checkpointing",
                                                  "--sharding",
                                                  "--router-aux-loss",
                                                  "--router-aux-loss-coef"};
  return kFlags;
}

absl::StatusOr<ShardingMode> ShardingFromProto(v1::Sharding s) {
  switch (s) {
    case v1::SHARDING_UNSPECIFIED:
    case v1::SHARDING_NONE: return ShardingMode::kNone;
    case v1::SHARDING_OPTIMIZER: return ShardingMode::kOptimizer;
    case v1::SHARDING_GRADIENTS: return ShardingMode::kGradients;
    case v1::SHARDING_FULL: return ShardingMode::kFull;
    default: return absl::InvalidArgumentError(absl::StrCat("--spec: sharding ", s, " is not one ssd knows"));
  }
}

std::string TrainSpecPath(const std::string& out) { return JoinPath(out, "train_spec.json"); }

absl::StatusOr<BatchPlanOptions> PlanOptionsFor(const v1::TrainSpec& t) {
  BatchPlanOptions o;
  switch (t.batching()) {
    case v1::BATCHING_PACKED: o.mode = BatchingMode::kPacked; break;
    case v1::BATCHING_PADDED: o.mode = BatchingMode::kPadded; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("train.batching: ", t.batching(), " is not packed or padded"));
  }
  o.row_tokens = t.max_seq_len();
  o.micro_batch_tokens = t.micro_batch_tokens();
  o.batch_tokens = t.batch_tokens();
  o.seed = t.seed();
  RETURN_IF_ERROR(o.Validate());
  return o;
}

int64_t PlanEpochs(const v1::TrainSpec& t) { return t.steps() > 0 ? 1000 : t.epochs(); }

}  // namespace ssd
