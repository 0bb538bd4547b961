// The Python grading harness (harness.py, embedded at build time).
#ifndef SSD_COMMON_EVAL_HARNESS_SCRIPT_H_
#define SSD_COMMON_EVAL_HARNESS_SCRIPT_H_

#include "absl/strings/string_view.h"

namespace ssd {

absl::string_view HarnessScript();

}  // namespace ssd

#endif  // SSD_COMMON_EVAL_HARNESS_SCRIPT_H_
