#include "common/model/activation_checkpointing.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ssd {

std::string ActivationCheckpointing::Name() const {
  if (every <= 0) return "none";
  if (every == 1) return "full";
  return absl::StrCat("every:", every);
}

absl::StatusOr<ActivationCheckpointing> ActivationCheckpointing::Parse(absl::string_view text,
                                                                       absl::string_view field) {
  ActivationCheckpointing a;
  if (text == "none") return a;
  if (text == "full") {
    a.every = 1;
    return a;
  }
  absl::string_view n = text;
  int32_t every = 0;
  if (absl::ConsumePrefix(&n, "every:") && absl::SimpleAtoi(n, &every) && every >= 1) {
    a.every = every;
    return a;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be none, full or every:N with N >= 1, got \"", text, "\""));
}

}  // namespace ssd
