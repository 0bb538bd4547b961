// AnalyzeMechanism, the computation behind `ssd analyze`: samples solutions
// from the base, scores every position with the base and the tuned model,
// and summarises by lock and fork positions (mechanism_summary.h has the
// definitions).
#ifndef SSD_COMMON_ANALYSIS_MECHANISM_H_
#define SSD_COMMON_ANALYSIS_MECHANISM_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/analysis/mechanism_summary.h"
#include "common/eval/benchmark.h"
#include "common/model/decoder.h"
#include "common/sampling/engine.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/ssd_prompts.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

// Samples from `base_engine` (which runs `base`), scores with both models,
// and summarises. The two models must share the vocabulary (the tuned model
// is checked against the base's config). `progress` (optional) hears one
// line per stage.
absl::StatusOr<MechanismReport> AnalyzeMechanism(Engine& base_engine, const Decoder& base, const Decoder& tuned,
                                                 const Tokenizer& tokenizer, const ChatTemplate* chat,
                                                 const PromptTemplates& templates, const Benchmark& benchmark,
                                                 const MechanismOptions& options,
                                                 const std::function<void(const std::string&)>& progress = {});

}  // namespace ssd

#endif  // SSD_COMMON_ANALYSIS_MECHANISM_H_
