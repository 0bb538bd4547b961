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

#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/jinja/ast.h"

namespace ssd {
namespace jinja {

// `source` is the template text, for error positions.
absl::StatusOr<std::string> Render(const Body& body, const nlohmann::ordered_json& context,
                                   const std::string& source);

}  // namespace jinja
}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_JINJA_INTERPRETER_H_
