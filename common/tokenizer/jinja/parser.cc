#include "common/tokenizer/jinja/parser.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace jinja {
namespace {

// ---- Splitting the source into text and tags -------------------------------

struct Segment {
  enum class Type { kText, kOutput, kStatement } type;
  std::string content;  // tag contents without delimiters and "-"
  size_t offset;        // of the content in the source
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Index just past the closing delimiter `close` of a tag whose content starts
// at `pos`, skipping string literals; npos when unterminated.
size_t FindClose(const std::string& s, size_t pos, const char* close) {
  char quote = 0;
  for (size_t i = pos; i + 1 < s.size(); ++i) {
    if (quote) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == quote) {
        quote = 0;
      }
      continue;
    }
    if (s[i] == '\'' || s[i] == '"') {
      quote = s[i];
    } else if (s[i] == close[0] && s[i + 1] == close[1]) {
      return i;
    }
  }
  return std::string::npos;
}

absl::StatusOr<std::vector<Segment>> Split(const std::string& src) {
  std::vector<Segment> out;
  size_t i = 0;
  bool strip_next = false;    // a "-" closed the previous tag
  bool trim_newline = false;  // trim_blocks after a block or comment tag
  std::string text;
  auto flush_text = [&](size_t at) {
    if (!text.empty()) out.push_back({Segment::Type::kText, text, at});
    text.clear();
  };
  while (i < src.size()) {
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' && src[open + 1] != '%' &&
           src[open + 1] != '#') {
      open = src.find('{', open + 1);
    }
    if (open == std::string::npos || open + 1 >= src.size()) open = src.size();
    std::string chunk = src.substr(i, open - i);
    if (strip_next) {
      size_t k = 0;
      while (k < chunk.size() && IsSpace(chunk[k])) ++k;
      chunk.erase(0, k);
    } else if (trim_newline && !chunk.empty() && chunk[0] == '\n') {
      chunk.erase(0, 1);
    }
    strip_next = trim_newline = false;
    text += chunk;
    if (open >= src.size()) break;
    const char kind = src[open + 1];
    size_t content = open + 2;
    const bool lstrip = content < src.size() && src[content] == '-';
    if (lstrip || (content < src.size() && src[content] == '+')) ++content;
    if (lstrip) {
      while (!text.empty() && IsSpace(text.back())) text.pop_back();
    } else if (kind != '{' && !(open + 2 < src.size() && src[open + 2] == '+')) {
      // lstrip_blocks: spaces and tabs between a line start and a block or
      // comment tag are dropped.
      size_t b = open;
      while (b > 0 && (src[b - 1] == ' ' || src[b - 1] == '\t')) --b;
      if (b == 0 || src[b - 1] == '\n') {
        size_t n = open - b;
        size_t k = text.size();
        while (n > 0 && k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) {
          --k;
          --n;
        }
        text.erase(k);
      }
    }
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t end = FindClose(src, content, close);
    if (end == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("chat template: unterminated \"{", std::string(1, kind), "\" at ", Position(src, open)));
    }
    size_t content_end = end;
    if (content_end > content && src[content_end - 1] == '-') {
      strip_next = true;
      --content_end;
    }
    if (kind != '#') {
      flush_text(i);
      out.push_back({kind == '{' ? Segment::Type::kOutput : Segment::Type::kStatement,
                     src.substr(content, content_end - content), content});
    }
    if (kind != '{' && !strip_next) trim_newline = true;
    i = end + 2;
  }
  flush_text(i);
  return out;
}

// ---- Expression tokens ----------------------------------------------------

struct Token {
  enum class Type { kName, kString, kInt, kFloat, kOp, kEnd } type;
  std::string text;
  size_t offset;
};

absl::StatusOr<std::vector<Token>> Lex(const std::string& src, const std::string& s, size_t base) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    const size_t at = base + i;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Type::kName, s.substr(i, j - i), at});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[j])) ||
              (s[j] == '.' && !is_float && j + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[j + 1]))))) {
        if (s[j] == '.') is_float = true;
        ++j;
      }
      out.push_back({is_float ? Token::Type::kFloat : Token::Type::kInt, s.substr(i, j - i), at});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          v.push_back(s[j]);
          continue;
        }
        const char e = s[++j];
        switch (e) {
          case 'n': v.push_back('\n'); break;
          case 't': v.push_back('\t'); break;
          case 'r': v.push_back('\r'); break;
          case '\\': v.push_back('\\'); break;
          case '\'': v.push_back('\''); break;
          case '"': v.push_back('"'); break;
          default: v.push_back('\\'); v.push_back(e);
        }
      }
      if (j >= s.size()) {
        return absl::InvalidArgumentError(absl::StrCat("chat template: unterminated string at ", Position(src, at)));
      }
      out.push_back({Token::Type::kString, v, at});
      i = j + 1;
    } else {
      static const char* kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const char* t : kTwo) {
        if (s.compare(i, 2, t) == 0) op = t;
      }
      if (std::string("+-*/%<>()[]{}.,:|~=!").find(c) == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("chat template: unexpected character '", std::string(1, c), "' at ", Position(src, at)));
      }
      out.push_back({Token::Type::kOp, op, at});
      i += op.size();
    }
  }
  out.push_back({Token::Type::kEnd, "", base + s.size()});
  return out;
}

// ---- Expression parser (precedence climbing) ------------------------------

class ExprParser {
 public:
  ExprParser(const std::string& src, std::vector<Token> tokens) : src_(src), t_(std::move(tokens)) {}

  absl::StatusOr<ExprPtr> Parse() { return Ternary(); }
  bool AtEnd() const { return t_[pos_].type == Token::Type::kEnd; }
  const Token& Peek() const { return t_[pos_]; }
  bool IsName(const char* n) const { return Peek().type == Token::Type::kName && Peek().text == n; }
  bool IsOp(const char* o) const { return Peek().type == Token::Type::kOp && Peek().text == o; }
  void Next() {
    if (!AtEnd()) ++pos_;
  }
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("chat template: ", what, " at ", Position(src_, Peek().offset)));
  }
  absl::Status Expect(const char* op) {
    if (!IsOp(op)) return Error(absl::StrCat("expected '", op, "', found '", Peek().text, "'"));
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Name() {
    if (Peek().type != Token::Type::kName) return Error(absl::StrCat("expected a name, found '", Peek().text, "'"));
    std::string n = Peek().text;
    Next();
    return n;
  }

 private:
  // Nesting (parentheses, lists, calls, chains of `not` or `-`) is bounded
  // so that a hostile template cannot exhaust the stack of the parser, the
  // interpreter or the syntax tree's destructor.
  class Nested {
   public:
    explicit Nested(int* depth) : depth_(depth) { ++*depth_; }
    ~Nested() { --*depth_; }
    bool too_deep() const { return *depth_ > kMaxTemplateNesting; }

   private:
    int* depth_;
  };
  absl::Status TooDeep() const {
    return Error(absl::StrCat("expressions nest more than ", kMaxTemplateNesting, " deep"));
  }

  ExprPtr Make(Expr::Kind k, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->offset = offset;
    return e;
  }

  absl::StatusOr<ExprPtr> Ternary() {
    Nested nested(&depth_);
    if (nested.too_deep()) return TooDeep();
    ASSIGN_OR_RETURN(ExprPtr value, Or());
    if (!IsName("if")) return value;
    const size_t at = Peek().offset;
    Next();
    ASSIGN_OR_RETURN(ExprPtr cond, Or());
    ExprPtr other;
    if (IsName("else")) {
      Next();
      ASSIGN_OR_RETURN(other, Ternary());
    }
    auto e = Make(Expr::Kind::kTernary, at);
    e->args.push_back(std::move(value));
    e->args.push_back(std::move(cond));
    if (other) e->args.push_back(std::move(other));
    return e;
  }

  absl::StatusOr<ExprPtr> Binary(const char* op, ExprPtr lhs, ExprPtr rhs, size_t at) {
    auto e = Make(Expr::Kind::kBinary, at);
    e->name = op;
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return e;
  }

  absl::StatusOr<ExprPtr> Or() {
    ASSIGN_OR_RETURN(ExprPtr lhs, And());
    while (IsName("or")) {
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr rhs, And());
      ASSIGN_OR_RETURN(lhs, Binary("or", std::move(lhs), std::move(rhs), at));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> And() {
    ASSIGN_OR_RETURN(ExprPtr lhs, Not());
    while (IsName("and")) {
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr rhs, Not());
      ASSIGN_OR_RETURN(lhs, Binary("and", std::move(lhs), std::move(rhs), at));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> Not() {
    Nested nested(&depth_);
    if (nested.too_deep()) return TooDeep();
    if (IsName("not")) {
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr operand, Not());
      auto e = Make(Expr::Kind::kUnary, at);
      e->name = "not";
      e->args.push_back(std::move(operand));
      return e;
    }
    return Compare();
  }

  absl::StatusOr<ExprPtr> Compare() {
    ASSIGN_OR_RETURN(ExprPtr lhs, Additive());
    while (true) {
      const size_t at = Peek().offset;
      if (IsOp("==") || IsOp("!=") || IsOp("<") || IsOp(">") || IsOp("<=") || IsOp(">=")) {
        const std::string op = Peek().text;
        Next();
        ASSIGN_OR_RETURN(ExprPtr rhs, Additive());
        ASSIGN_OR_RETURN(lhs, Binary(op.c_str(), std::move(lhs), std::move(rhs), at));
      } else if (IsName("in")) {
        Next();
        ASSIGN_OR_RETURN(ExprPtr rhs, Additive());
        ASSIGN_OR_RETURN(lhs, Binary("in", std::move(lhs), std::move(rhs), at));
      } else if (IsName("not") && pos_ + 1 < t_.size() && t_[pos_ + 1].text == "in") {
        Next();
        Next();
        ASSIGN_OR_RETURN(ExprPtr rhs, Additive());
        ASSIGN_OR_RETURN(ExprPtr in, Binary("in", std::move(lhs), std::move(rhs), at));
        lhs = Make(Expr::Kind::kUnary, at);
        lhs->name = "not";
        lhs->args.push_back(std::move(in));
      } else if (IsName("is")) {
        Next();
        auto e = Make(Expr::Kind::kTest, at);
        if (IsName("not")) {
          e->negate = true;
          Next();
        }
        ASSIGN_OR_RETURN(e->name, Name());
        e->args.push_back(std::move(lhs));
        lhs = std::move(e);
      } else {
        return lhs;
      }
    }
  }

  absl::StatusOr<ExprPtr> Additive() {
    ASSIGN_OR_RETURN(ExprPtr lhs, Multiplicative());
    while (IsOp("+") || IsOp("-") || IsOp("~")) {
      const std::string op = Peek().text;
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr rhs, Multiplicative());
      ASSIGN_OR_RETURN(lhs, Binary(op.c_str(), std::move(lhs), std::move(rhs), at));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> Multiplicative() {
    ASSIGN_OR_RETURN(ExprPtr lhs, Unary());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const std::string op = Peek().text;
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr rhs, Unary());
      ASSIGN_OR_RETURN(lhs, Binary(op.c_str(), std::move(lhs), std::move(rhs), at));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> Unary() {
    Nested nested(&depth_);
    if (nested.too_deep()) return TooDeep();
    if (IsOp("-")) {
      const size_t at = Peek().offset;
      Next();
      ASSIGN_OR_RETURN(ExprPtr operand, Unary());
      auto e = Make(Expr::Kind::kUnary, at);
      e->name = "-";
      e->args.push_back(std::move(operand));
      return e;
    }
    return Filtered();
  }

  // Call arguments after "(": positional then name=value.
  absl::Status Arguments(Expr* e) {
    while (!IsOp(")")) {
      if (Peek().type == Token::Type::kName && pos_ + 1 < t_.size() && t_[pos_ + 1].text == "=") {
        e->kwarg_names.push_back(Peek().text);
        Next();
        Next();
      } else if (!e->kwarg_names.empty()) {
        return Error("positional argument after keyword argument");
      }
      ASSIGN_OR_RETURN(ExprPtr a, Ternary());
      e->args.push_back(std::move(a));
      if (!IsOp(",")) break;
      Next();
    }
    return Expect(")");
  }

  absl::StatusOr<ExprPtr> Filtered() {
    ASSIGN_OR_RETURN(ExprPtr e, Postfix());
    while (IsOp("|")) {
      const size_t at = Peek().offset;
      Next();
      auto f = Make(Expr::Kind::kFilter, at);
      ASSIGN_OR_RETURN(f->name, Name());
      f->args.push_back(std::move(e));
      if (IsOp("(")) {
        Next();
        RETURN_IF_ERROR(Arguments(f.get()));
      }
      e = std::move(f);
    }
    return e;
  }

  absl::StatusOr<ExprPtr> Postfix() {
    ASSIGN_OR_RETURN(ExprPtr e, Primary());
    while (true) {
      const size_t at = Peek().offset;
      if (IsOp(".")) {
        Next();
        auto a = Make(Expr::Kind::kAttr, at);
        ASSIGN_OR_RETURN(a->name, Name());
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (IsOp("[")) {
        Next();
        ExprPtr parts[3];
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!IsOp(":") && !IsOp("]")) {
            ASSIGN_OR_RETURN(parts[k], Ternary());
          }
          if (IsOp(":") && k < 2) {
            slice = true;
            Next();
          } else {
            break;
          }
        }
        RETURN_IF_ERROR(Expect("]"));
        auto x = Make(slice ? Expr::Kind::kSlice : Expr::Kind::kIndex, at);
        x->args.push_back(std::move(e));
        if (slice) {
          for (auto& p : parts) {
            if (!p) p = Make(Expr::Kind::kLiteral, at);  // null: default bound
            x->args.push_back(std::move(p));
          }
        } else {
          if (!parts[0]) return Error("empty subscript");
          x->args.push_back(std::move(parts[0]));
        }
        e = std::move(x);
      } else if (IsOp("(")) {
        Next();
        auto c = Make(Expr::Kind::kCall, at);
        c->args.push_back(std::move(e));
        RETURN_IF_ERROR(Arguments(c.get()));
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  absl::StatusOr<ExprPtr> Primary() {
    const Token tok = Peek();
    switch (tok.type) {
      case Token::Type::kString: {
        Next();
        auto e = Make(Expr::Kind::kLiteral, tok.offset);
        e->value = tok.text;
        // Adjacent string literals concatenate, as in Python.
        while (Peek().type == Token::Type::kString) {
          e->value = e->value.get<std::string>() + Peek().text;
          Next();
        }
        return e;
      }
      case Token::Type::kInt:
      case Token::Type::kFloat: {
        Next();
        auto e = Make(Expr::Kind::kLiteral, tok.offset);
        if (tok.type == Token::Type::kInt) {
          int64_t v = 0;
          if (!absl::SimpleAtoi(tok.text, &v)) {
            return Error(absl::StrCat("integer literal ", tok.text.substr(0, 40), " is out of range"));
          }
          e->value = v;
        } else {
          errno = 0;
          char* end = nullptr;
          const double v = std::strtod(tok.text.c_str(), &end);
          if (errno == ERANGE || end != tok.text.c_str() + tok.text.size() || !std::isfinite(v)) {
            return Error(absl::StrCat("number literal ", tok.text.substr(0, 40), " is out of range"));
          }
          e->value = v;
        }
        return e;
      }
      case Token::Type::kName: {
        Next();
        auto e = Make(Expr::Kind::kLiteral, tok.offset);
        if (tok.text == "true" || tok.text == "True") {
          e->value = true;
        } else if (tok.text == "false" || tok.text == "False") {
          e->value = false;
        } else if (tok.text == "none" || tok.text == "None") {
          e->value = nullptr;
        } else {
          e->kind = Expr::Kind::kName;
          e->name = tok.text;
        }
        return e;
      }
      case Token::Type::kOp:
        if (tok.text == "(") {
          Next();
          ASSIGN_OR_RETURN(ExprPtr inner, Ternary());
          RETURN_IF_ERROR(Expect(")"));
          return inner;
        }
        if (tok.text == "[") {
          Next();
          auto e = Make(Expr::Kind::kList, tok.offset);
          while (!IsOp("]")) {
            ASSIGN_OR_RETURN(ExprPtr item, Ternary());
            e->args.push_back(std::move(item));
            if (!IsOp(",")) break;
            Next();
          }
          RETURN_IF_ERROR(Expect("]"));
          return e;
        }
        if (tok.text == "{") {
          Next();
          auto e = Make(Expr::Kind::kDict, tok.offset);
          while (!IsOp("}")) {
            ASSIGN_OR_RETURN(ExprPtr key, Ternary());
            RETURN_IF_ERROR(Expect(":"));
            ASSIGN_OR_RETURN(ExprPtr value, Ternary());
            e->args.push_back(std::move(key));
            e->args.push_back(std::move(value));
            if (!IsOp(",")) break;
            Next();
          }
          RETURN_IF_ERROR(Expect("}"));
          return e;
        }
        break;
      case Token::Type::kEnd: return Error("unexpected end of expression");
    }
    return Error(absl::StrCat("unexpected '", tok.text, "'"));
  }

  const std::string& src_;
  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ---- Statements ------------------------------------------------------------

class BodyParser {
 public:
  BodyParser(const std::string& src, std::vector<Segment> segs) : src_(src), segs_(std::move(segs)) {}

  // Parses until a statement whose first word is in `stops` (returned in
  // *stop, its parser in *rest) or the end (when stops is empty).
  absl::Status ParseBody(Body* body, const std::vector<std::string>& stops, std::string* stop,
                         std::unique_ptr<ExprParser>* rest) {
    if (static_cast<int>(stops.empty() ? 0 : ++depth_) > kMaxTemplateNesting) {
      return absl::InvalidArgumentError(absl::StrCat("chat template: blocks nest more than ", kMaxTemplateNesting,
                                                     " deep at ", Position(src_, i_ > 0 ? segs_[i_ - 1].offset : 0)));
    }
    struct Leave {
      int* depth;
      bool nested;
      ~Leave() {
        if (nested) --*depth;
      }
    } leave{&depth_, !stops.empty()};
    while (i_ < segs_.size()) {
      const Segment& seg = segs_[i_++];
      if (seg.type == Segment::Type::kText) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kText;
        n->text = seg.content;
        n->offset = seg.offset;
        body->push_back(std::move(n));
        continue;
      }
      ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(src_, seg.content, seg.offset));
      auto p = std::make_unique<ExprParser>(src_, std::move(tokens));
      if (seg.type == Segment::Type::kOutput) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::kOutput;
        n->offset = seg.offset;
        ASSIGN_OR_RETURN(n->expr, p->Parse());
        if (!p->AtEnd()) return p->Error(absl::StrCat("unexpected '", p->Peek().text, "' in {{ }}"));
        body->push_back(std::move(n));
        continue;
      }
      ASSIGN_OR_RETURN(std::string word, p->Name());
      for (const std::string& s : stops) {
        if (word == s) {
          *stop = word;
          *rest = std::move(p);
          return absl::OkStatus();
        }
      }
      auto n = std::make_unique<Node>();
      n->offset = seg.offset;
      if (word == "if") {
        RETURN_IF_ERROR(ParseIf(n.get(), std::move(p)));
      } else if (word == "for") {
        RETURN_IF_ERROR(ParseFor(n.get(), std::move(p)));
      } else if (word == "set") {
        n->kind = Node::Kind::kSet;
        ASSIGN_OR_RETURN(std::string target, p->Name());
        n->targets.push_back(target);
        if (p->IsOp(".")) {
          p->Next();
          ASSIGN_OR_RETURN(std::string attr, p->Name());
          n->targets.push_back(attr);
        }
        RETURN_IF_ERROR(p->Expect("="));
        ASSIGN_OR_RETURN(n->expr, p->Parse());
        if (!p->AtEnd()) return p->Error(absl::StrCat("unexpected '", p->Peek().text, "' in set"));
      } else {
        return absl::UnimplementedError(absl::StrCat("chat template: unsupported or misplaced statement \"", word,
                                                     "\" at ", Position(src_, seg.offset)));
      }
      body->push_back(std::move(n));
    }
    if (!stops.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chat template: missing {% ", stops.back(), " %} before the end of the template"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status ParseIf(Node* n, std::unique_ptr<ExprParser> p) {
    n->kind = Node::Kind::kIf;
    while (true) {
      ExprPtr cond;
      if (p) {
        ASSIGN_OR_RETURN(cond, p->Parse());
        if (!p->AtEnd()) return p->Error(absl::StrCat("unexpected '", p->Peek().text, "' in condition"));
      }
      Body body;
      std::string stop;
      std::unique_ptr<ExprParser> rest;
      RETURN_IF_ERROR(ParseBody(&body, {"elif", "else", "endif"}, &stop, &rest));
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (stop == "endif") return absl::OkStatus();
      if (stop == "else") {
        Body else_body;
        std::string end;
        std::unique_ptr<ExprParser> unused;
        RETURN_IF_ERROR(ParseBody(&else_body, {"endif"}, &end, &unused));
        n->branches.emplace_back(nullptr, std::move(else_body));
        return absl::OkStatus();
      }
      p = std::move(rest);  // elif condition
    }
  }

  absl::Status ParseFor(Node* n, std::unique_ptr<ExprParser> p) {
    n->kind = Node::Kind::kFor;
    ASSIGN_OR_RETURN(std::string var, p->Name());
    n->targets.push_back(var);
    while (p->IsOp(",")) {
      p->Next();
      ASSIGN_OR_RETURN(std::string more, p->Name());
      n->targets.push_back(more);
    }
    if (!p->IsName("in")) return p->Error("expected 'in' in for loop");
    p->Next();
    ASSIGN_OR_RETURN(n->expr, p->Parse());
    if (!p->AtEnd()) return p->Error(absl::StrCat("unexpected '", p->Peek().text, "' in for loop"));
    std::string stop;
    std::unique_ptr<ExprParser> rest;
    RETURN_IF_ERROR(ParseBody(&n->body, {"else", "endfor"}, &stop, &rest));
    if (stop == "else") {
      std::unique_ptr<ExprParser> unused;
      RETURN_IF_ERROR(ParseBody(&n->else_body, {"endfor"}, &stop, &unused));
    }
    return absl::OkStatus();
  }

  const std::string& src_;
  std::vector<Segment> segs_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string Position(const std::string& source, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return absl::StrCat("line ", line, ", column ", col);
}

absl::StatusOr<Body> Parse(const std::string& source) {
  ASSIGN_OR_RETURN(std::vector<Segment> segs, Split(source));
  BodyParser parser(source, std::move(segs));
  Body body;
  std::string stop;
  std::unique_ptr<ExprParser> rest;
  RETURN_IF_ERROR(parser.ParseBody(&body, {}, &stop, &rest));
  return body;
}

}  // namespace jinja
}  // namespace ssd
