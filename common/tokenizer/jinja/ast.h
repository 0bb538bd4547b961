// Syntax tree of the Jinja subset that chat templates use (see template.h).
#ifndef SSD_COMMON_TOKENIZER_JINJA_AST_H_
#define SSD_COMMON_TOKENIZER_JINJA_AST_H_

#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ssd {
namespace jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // value
    kName,     // name
    kList,     // args
    kDict,     // args as key, value, key, value...
    kAttr,     // args[0].name
    kIndex,    // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null entries omitted)
    kCall,     // args[0](args[1..]) with kwarg_names for trailing kwargs
    kFilter,   // args[0] | name(args[1..])
    kTest,     // args[0] is [not] name(args[1..]); negate
    kUnary,    // op args[0]: "not", "-"
    kBinary,   // args[0] op args[1]
    kTernary,  // args[0] if args[1] else args[2]
  };
  Kind kind;
  nlohmann::ordered_json value;
  std::string name;  // variable, attribute, filter, test, operator
  std::vector<ExprPtr> args;
  std::vector<std::string> kwarg_names;  // for kCall: names of the last N args
  bool negate = false;
  size_t offset = 0;  // position in the template source, for errors
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet };
  Kind kind;
  std::string text;                                // kText
  ExprPtr expr;                                    // kOutput, kSet value, kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: (condition or null for else, body)
  std::vector<std::string> targets;                // kFor loop variables; kSet: [name] or [name, attr]
  Body body, else_body;                            // kFor
  ExprPtr filter;                                  // kFor: optional "if" clause
  size_t offset = 0;
};

}  // namespace jinja
}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_JINJA_AST_H_
