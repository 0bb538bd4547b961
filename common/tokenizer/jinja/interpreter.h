// Renders a parsed Jinja template (ast.h) against a JSON context, with
// Python/Jinja semantics for the subset chat templates use: truthiness,
// `and`/`or` returning operands, negative indices and slices ([::-1]),
// loop.index0/index/first/last/length/revindex, namespace() objects,
// filters (length, count, tojson, trim, string, lower, upper, default, join,
// first, last, list, items), tests (defined, undefined, none, string, number,
// integer, mapping, sequence, iterable, true, false, boolean) and the string
// methods startswith, endswith, split, strip, lstrip, rstrip, replace, upper,
// lower, plus dict items/keys/values/get. raise_exception(msg) fails the
// render with msg. Errors name the construct and its line and column.
#ifndef SSD_COMMON_TOKENIZER_JINJA_INTERPRETER_H_
#define SSD_COMMON_TOKENIZER_JINJA_INTERPRETER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/jinja/ast.h"

namespace ssd {
namespace jinja {

// Bounds that hold for any template, however hostile; past one the render
// fails with INVALID_ARGUMENT naming it and the construct's position.
//  - work: a unit per node executed and expression evaluated, 20 per loop
//    iteration (it builds a scope and its `loop` object), and one per item
//    of a list or mapping and per 4 KiB of a string produced, so copying
//    large values is paid for. 10 million units take about 2 s here; real
//    chat templates spend a few units per message;
//  - output, and any one string value: 16 MiB;
//  - items in one list or mapping (range() included): 1,000,000.
// Nesting depth is bounded by the parser (kMaxTemplateNesting).
constexpr int64_t kMaxTemplateWork = 10'000'000;
constexpr int64_t kTemplateLoopIterationWork = 20;
constexpr size_t kMaxTemplateOutputBytes = size_t{16} << 20;
constexpr size_t kMaxTemplateItems = 1'000'000;

// `source` is the template text, for error positions.
absl::StatusOr<std::string> Render(const Body& body, const nlohmann::ordered_json& context, const std::string& source);

}  // namespace jinja
}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_JINJA_INTERPRETER_H_
