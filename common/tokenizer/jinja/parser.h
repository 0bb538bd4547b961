// Parses Jinja template source into the syntax tree of ast.h.
#ifndef SSD_COMMON_TOKENIZER_JINJA_PARSER_H_
#define SSD_COMMON_TOKENIZER_JINJA_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/jinja/ast.h"

namespace ssd {
namespace jinja {

// The deepest nesting of expressions (parentheses, lists, calls, chains of
// `not` and `-`) and of blocks ({% if %}, {% for %}) a template may have;
// deeper is INVALID_ARGUMENT.
constexpr int kMaxTemplateNesting = 100;

// Whitespace handling follows transformers' environment: trim_blocks and
// lstrip_blocks on, plus explicit "-" markers. Errors name the construct and
// its line and column.
absl::StatusOr<Body> Parse(const std::string& source);

// "line L, column C" of a byte offset.
std::string Position(const std::string& source, size_t offset);

}  // namespace jinja
}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_JINJA_PARSER_H_
