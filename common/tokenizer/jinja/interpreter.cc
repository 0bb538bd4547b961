#include "common/tokenizer/jinja/interpreter.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/tokenizer/jinja/parser.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace jinja {
namespace {

using Json = nlohmann::ordered_json;

// A Jinja value: JSON, or undefined (a missing variable or attribute).
struct Value {
  Json v;
  bool undefined = false;
  static Value Undefined() { return Value{Json(), true}; }
};

bool Truthy(const Value& x) {
  if (x.undefined) return false;
  const Json& v = x.v;
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number_float()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return !v.empty();
}

std::string TypeName(const Value& x) {
  if (x.undefined) return "undefined";
  return x.v.type_name();
}

// JSON text with Python json.dumps separators (", " and ": "), non-ASCII kept.
void DumpPython(const Json& v, std::string* out, int indent, int depth) {
  auto newline = [&](int d) {
    if (indent > 0) absl::StrAppend(out, "\n", std::string(static_cast<size_t>(indent * d), ' '));
  };
  if (v.is_object()) {
    if (v.empty()) {
      *out += "{}";
      return;
    }
    *out += "{";
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) *out += indent > 0 ? "," : ", ";
      first = false;
      newline(depth + 1);
      *out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace) + ": ";
      DumpPython(it.value(), out, indent, depth + 1);
    }
    newline(depth);
    *out += "}";
  } else if (v.is_array()) {
    if (v.empty()) {
      *out += "[]";
      return;
    }
    *out += "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) *out += indent > 0 ? "," : ", ";
      newline(depth + 1);
      DumpPython(v[i], out, indent, depth + 1);
    }
    newline(depth);
    *out += "]";
  } else {
    *out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

std::string PythonFloat(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  // Shortest repr that round-trips, as Python prints floats.
  for (int p = 1; p <= 17; ++p) {
    char b[32];
    std::snprintf(b, sizeof(b), "%.*g", p, d);
    if (std::strtod(b, nullptr) == d) {
      std::snprintf(buf, sizeof(buf), "%s", b);
      break;
    }
  }
  std::string s = buf;
  if (s.find_first_of(".eninf") == std::string::npos) s += ".0";
  return s;
}

std::string Str(const Value& x) {
  if (x.undefined) return "";
  const Json& v = x.v;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  if (v.is_number_integer()) return absl::StrCat(v.get<int64_t>());
  if (v.is_number_float()) return PythonFloat(v.get<double>());
  std::string out;
  DumpPython(v, &out, 0, 0);
  return out;
}

const char* kPyWhitespace = " \t\n\r\v\f";

std::string StripChars(const std::string& s, const std::string& chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  }
  return s.substr(b, e - b);
}

struct Frame {
  Json vars = Json::object();
};

class Interpreter {
 public:
  Interpreter(const std::string& source, const Json& context) : src_(source) {
    frames_.push_back(Frame{context.is_object() ? context : Json::object()});
  }

  absl::Status Exec(const Body& body, std::string* out) {
    for (const NodePtr& n : body) RETURN_IF_ERROR(ExecNode(*n, out));
    return absl::OkStatus();
  }

 private:
  absl::Status Error(size_t offset, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("chat template: ", what, " at ", Position(src_, offset)));
  }

  Value Lookup(const std::string& name) const {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto f = it->vars.find(name);
      if (f != it->vars.end()) return Value{*f, false};
    }
    return Value::Undefined();
  }

  Json* LookupMutable(const std::string& name) {
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      auto f = it->vars.find(name);
      if (f != it->vars.end()) return &*f;
    }
    return nullptr;
  }

  absl::Status ExecNode(const Node& n, std::string* out) {
    RETURN_IF_ERROR(Charge(n.offset, 1));
    switch (n.kind) {
      case Node::Kind::kText: *out += n.text; return CheckOutput(n.offset, *out);
      case Node::Kind::kOutput: {
        ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        *out += Str(v);
        return CheckOutput(n.offset, *out);
      }
      case Node::Kind::kSet: {
        ASSIGN_OR_RETURN(Value v, Eval(*n.expr));
        if (n.targets.size() == 1) {
          frames_.back().vars[n.targets[0]] = v.v;
          return absl::OkStatus();
        }
        Json* obj = LookupMutable(n.targets[0]);
        if (obj == nullptr || !obj->is_object()) {
          return Error(n.offset,
                       absl::StrCat("cannot set attribute of \"", n.targets[0], "\", which is not a namespace"));
        }
        (*obj)[n.targets[1]] = v.v;
        return absl::OkStatus();
      }
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          bool take = true;
          if (cond) {
            ASSIGN_OR_RETURN(Value c, Eval(*cond));
            take = Truthy(c);
          }
          if (take) return Exec(body, out);
        }
        return absl::OkStatus();
      case Node::Kind::kFor: return ExecFor(n, out);
    }
    return absl::OkStatus();
  }

  absl::Status ExecFor(const Node& n, std::string* out) {
    ASSIGN_OR_RETURN(Value seq, Eval(*n.expr));
    Json items = Json::array();
    if (seq.v.is_array()) {
      items = seq.v;
    } else if (seq.v.is_object()) {
      for (auto it = seq.v.begin(); it != seq.v.end(); ++it) items.push_back(it.key());
    } else if (seq.v.is_string()) {
      for (char c : seq.v.get<std::string>()) items.push_back(std::string(1, c));
    } else if (!seq.undefined && !seq.v.is_null()) {
      return Error(n.offset, absl::StrCat("cannot iterate over a ", TypeName(seq)));
    }
    if (items.empty()) return Exec(n.else_body, out);
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      RETURN_IF_ERROR(Charge(n.offset, kTemplateLoopIterationWork));
      frames_.push_back(Frame{});
      Json& vars = frames_.back().vars;
      if (n.targets.size() == 1) {
        vars[n.targets[0]] = items[i];
      } else {
        if (!items[i].is_array() || items[i].size() != n.targets.size()) {
          frames_.pop_back();
          return Error(n.offset, absl::StrCat("cannot unpack item ", i, " into ", n.targets.size(), " names"));
        }
        for (size_t k = 0; k < n.targets.size(); ++k) vars[n.targets[k]] = items[i][k];
      }
      vars["loop"] = {{"index0", i},   {"index", i + 1},      {"first", i == 0},         {"last", i == len - 1},
                      {"length", len}, {"revindex", len - i}, {"revindex0", len - i - 1}};
      absl::Status st = Exec(n.body, out);
      frames_.pop_back();
      RETURN_IF_ERROR(st);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Value>> EvalArgs(const Expr& e, size_t from) {
    std::vector<Value> args;
    for (size_t i = from; i < e.args.size(); ++i) {
      ASSIGN_OR_RETURN(Value v, Eval(*e.args[i]));
      args.push_back(std::move(v));
    }
    return args;
  }

  // Every evaluation is charged to the work budget (more for copying large
  // values), and no value may outgrow the output limit.
  absl::StatusOr<Value> Eval(const Expr& e) {
    RETURN_IF_ERROR(Charge(e.offset, 1));
    ASSIGN_OR_RETURN(Value v, EvalValue(e));
    RETURN_IF_ERROR(CheckSize(e.offset, v.v));
    return v;
  }

  absl::Status Charge(size_t offset, int64_t units) {
    work_ += units;
    if (work_ > kMaxTemplateWork) {
      return Error(offset, absl::StrCat("the template does more than ", kMaxTemplateWork,
                                        " units of work (a loop that does not end?)"));
    }
    return absl::OkStatus();
  }

  absl::Status CheckSize(size_t offset, const Json& v) {
    if (v.is_string()) {
      const size_t n = v.get_ref<const std::string&>().size();
      if (n > kMaxTemplateOutputBytes) {
        return Error(offset, absl::StrCat("a string of ", n, " bytes; the limit is ", kMaxTemplateOutputBytes));
      }
      return Charge(offset, static_cast<int64_t>(n / 4096));
    }
    if (v.is_array() || v.is_object()) {
      if (v.size() > kMaxTemplateItems) {
        return Error(offset,
                     absl::StrCat("a list or mapping of ", v.size(), " items; the limit is ", kMaxTemplateItems));
      }
      return Charge(offset, static_cast<int64_t>(v.size()));
    }
    return absl::OkStatus();
  }

  absl::Status CheckOutput(size_t offset, const std::string& out) {
    if (out.size() > kMaxTemplateOutputBytes) {
      return Error(offset, absl::StrCat("the output passed ", kMaxTemplateOutputBytes, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> EvalValue(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value{e.value, false};
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList: {
        Json arr = Json::array();
        for (const ExprPtr& a : e.args) {
          ASSIGN_OR_RETURN(Value v, Eval(*a));
          arr.push_back(v.v);
        }
        return Value{arr, false};
      }
      case Expr::Kind::kDict: {
        Json obj = Json::object();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          ASSIGN_OR_RETURN(Value k, Eval(*e.args[i]));
          ASSIGN_OR_RETURN(Value v, Eval(*e.args[i + 1]));
          obj[Str(k)] = v.v;
        }
        return Value{obj, false};
      }
      case Expr::Kind::kAttr: {
        ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        if (obj.v.is_object()) {
          auto it = obj.v.find(e.name);
          if (it != obj.v.end()) return Value{*it, false};
        }
        return Value::Undefined();
      }
      case Expr::Kind::kIndex: {
        ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
        ASSIGN_OR_RETURN(Value key, Eval(*e.args[1]));
        return Index(e, obj, key);
      }
      case Expr::Kind::kSlice: return EvalSlice(e);
      case Expr::Kind::kCall: return EvalCall(e);
      case Expr::Kind::kFilter: return EvalFilter(e);
      case Expr::Kind::kTest: {
        ASSIGN_OR_RETURN(bool r, EvalTest(e));
        return Value{r != e.negate, false};
      }
      case Expr::Kind::kUnary: {
        ASSIGN_OR_RETURN(Value v, Eval(*e.args[0]));
        if (e.name == "not") return Value{!Truthy(v), false};
        if (v.v.is_number_integer()) {
          const int64_t i = v.v.get<int64_t>();
          if (i == INT64_MIN) return Error(e.offset, "integer overflow in -(-9223372036854775808)");
          return Value{-i, false};
        }
        if (v.v.is_number()) return Value{-v.v.get<double>(), false};
        return Error(e.offset, absl::StrCat("cannot negate a ", TypeName(v)));
      }
      case Expr::Kind::kBinary: return EvalBinary(e);
      case Expr::Kind::kTernary: {
        ASSIGN_OR_RETURN(Value c, Eval(*e.args[1]));
        if (Truthy(c)) return Eval(*e.args[0]);
        if (e.args.size() > 2) return Eval(*e.args[2]);
        return Value::Undefined();
      }
    }
    return Value::Undefined();
  }

  absl::StatusOr<Value> Index(const Expr& e, const Value& obj, const Value& key) {
    if (obj.v.is_object()) {
      auto it = obj.v.find(Str(key));
      return it == obj.v.end() ? Value::Undefined() : Value{*it, false};
    }
    if ((obj.v.is_array() || obj.v.is_string()) && key.v.is_number_integer()) {
      const int64_t n = obj.v.is_array() ? static_cast<int64_t>(obj.v.size())
                                         : static_cast<int64_t>(obj.v.get_ref<const std::string&>().size());
      int64_t i = key.v.get<int64_t>();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::Undefined();
      if (obj.v.is_array()) return Value{obj.v[static_cast<size_t>(i)], false};
      return Value{std::string(1, obj.v.get_ref<const std::string&>()[static_cast<size_t>(i)]), false};
    }
    if (obj.undefined) return Value::Undefined();
    return Error(e.offset, absl::StrCat("cannot index a ", TypeName(obj), " with a ", TypeName(key)));
  }

  absl::StatusOr<Value> EvalSlice(const Expr& e) {
    ASSIGN_OR_RETURN(Value obj, Eval(*e.args[0]));
    std::optional<int64_t> bound[3];
    for (int k = 0; k < 3; ++k) {
      ASSIGN_OR_RETURN(Value b, Eval(*e.args[k + 1]));
      if (b.v.is_number_integer()) bound[k] = b.v.get<int64_t>();
    }
    const bool is_str = obj.v.is_string();
    if (!is_str && !obj.v.is_array()) return Error(e.offset, absl::StrCat("cannot slice a ", TypeName(obj)));
    const int64_t n =
        is_str ? static_cast<int64_t>(obj.v.get_ref<const std::string&>().size()) : static_cast<int64_t>(obj.v.size());
    const int64_t step = bound[2].value_or(1);
    if (step == 0) return Error(e.offset, "slice step cannot be zero");
    auto clamp = [&](std::optional<int64_t> b, int64_t dflt) {
      if (!b) return dflt;
      int64_t x = *b < 0 ? *b + n : *b;
      return step > 0 ? std::max<int64_t>(0, std::min(x, n)) : std::max<int64_t>(-1, std::min(x, n - 1));
    };
    const int64_t start = clamp(bound[0], step > 0 ? 0 : n - 1);
    const int64_t stop = clamp(bound[1], step > 0 ? n : -1);
    Json arr = Json::array();
    std::string str;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (is_str) {
        str.push_back(obj.v.get_ref<const std::string&>()[static_cast<size_t>(i)]);
      } else {
        arr.push_back(obj.v[static_cast<size_t>(i)]);
      }
    }
    return is_str ? Value{str, false} : Value{arr, false};
  }

  absl::StatusOr<Value> EvalCall(const Expr& e) {
    const Expr& callee = *e.args[0];
    const size_t positional = e.args.size() - 1 - e.kwarg_names.size();
    if (callee.kind == Expr::Kind::kName) {
      if (callee.name == "namespace") {
        Json ns = Json::object();
        for (size_t k = 0; k < e.kwarg_names.size(); ++k) {
          ASSIGN_OR_RETURN(Value v, Eval(*e.args[1 + positional + k]));
          ns[e.kwarg_names[k]] = v.v;
        }
        return Value{ns, false};
      }
      ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1));
      if (callee.name == "raise_exception") {
        return Error(e.offset, absl::StrCat("raise_exception: ", args.empty() ? "" : Str(args[0])));
      }
      if (callee.name == "range" && !args.empty() && args.size() <= 2) {
        int64_t lo = 0, hi = 0;
        if (args.size() == 1) {
          hi = args[0].v.is_number_integer() ? args[0].v.get<int64_t>() : 0;
        } else {
          lo = args[0].v.is_number_integer() ? args[0].v.get<int64_t>() : 0;
          hi = args[1].v.is_number_integer() ? args[1].v.get<int64_t>() : 0;
        }
        if (hi > lo && hi - lo > static_cast<int64_t>(kMaxTemplateItems)) {
          return Error(e.offset, absl::StrCat("range of ", hi - lo, " items; the limit is ", kMaxTemplateItems));
        }
        Json arr = Json::array();
        for (int64_t i = lo; i < hi; ++i) arr.push_back(i);
        return Value{arr, false};
      }
      return Error(e.offset, absl::StrCat("unknown function \"", callee.name, "\""));
    }
    if (callee.kind != Expr::Kind::kAttr) return Error(e.offset, "only functions and methods can be called");
    ASSIGN_OR_RETURN(Value self, Eval(*callee.args[0]));
    ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1));
    return Method(e, callee.name, self, args);
  }

  absl::StatusOr<Value> Method(const Expr& e, const std::string& m, const Value& self, const std::vector<Value>& args) {
    auto arg_str = [&](size_t i, const std::string& dflt) {
      return i < args.size() && args[i].v.is_string() ? args[i].v.get<std::string>() : dflt;
    };
    if (self.v.is_string()) {
      const std::string& s = self.v.get_ref<const std::string&>();
      if (m == "startswith" || m == "endswith") {
        const std::string x = arg_str(0, "");
        const bool r = s.size() >= x.size() && (m == "startswith" ? s.compare(0, x.size(), x) == 0
                                                                  : s.compare(s.size() - x.size(), x.size(), x) == 0);
        return Value{r, false};
      }
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        const std::string chars = args.empty() || args[0].v.is_null() ? kPyWhitespace : arg_str(0, kPyWhitespace);
        return Value{StripChars(s, chars, m != "rstrip", m != "lstrip"), false};
      }
      if (m == "split") {
        Json parts = Json::array();
        if (args.empty() || args[0].v.is_null()) {
          size_t i = 0;
          while (i < s.size()) {
            while (i < s.size() && std::string(kPyWhitespace).find(s[i]) != std::string::npos) ++i;
            size_t j = i;
            while (j < s.size() && std::string(kPyWhitespace).find(s[j]) == std::string::npos) ++j;
            if (j > i) parts.push_back(s.substr(i, j - i));
            i = j;
          }
          return Value{parts, false};
        }
        const std::string sep = arg_str(0, " ");
        if (sep.empty()) return Error(e.offset, "split: empty separator");
        size_t start = 0, pos;
        while ((pos = s.find(sep, start)) != std::string::npos) {
          parts.push_back(s.substr(start, pos - start));
          start = pos + sep.size();
        }
        parts.push_back(s.substr(start));
        return Value{parts, false};
      }
      if (m == "replace") return Value{absl::StrReplaceAll(s, {{arg_str(0, ""), arg_str(1, "")}}), false};
      if (m == "upper" || m == "lower") {
        std::string r = s;
        for (char& c : r)
          c = static_cast<char>(m == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                             : std::tolower(static_cast<unsigned char>(c)));
        return Value{r, false};
      }
    }
    if (self.v.is_object()) {
      if (m == "items") {
        Json arr = Json::array();
        for (auto it = self.v.begin(); it != self.v.end(); ++it) arr.push_back(Json::array({it.key(), it.value()}));
        return Value{arr, false};
      }
      if (m == "keys" || m == "values") {
        Json arr = Json::array();
        for (auto it = self.v.begin(); it != self.v.end(); ++it)
          arr.push_back(m == "keys" ? Json(it.key()) : it.value());
        return Value{arr, false};
      }
      if (m == "get") {
        auto it = self.v.find(arg_str(0, ""));
        if (it != self.v.end()) return Value{*it, false};
        return args.size() > 1 ? args[1] : Value{Json(), false};
      }
    }
    return Error(e.offset, absl::StrCat("no method \"", m, "\" on a ", TypeName(self)));
  }

  absl::StatusOr<Value> EvalFilter(const Expr& e) {
    ASSIGN_OR_RETURN(Value x, Eval(*e.args[0]));
    ASSIGN_OR_RETURN(std::vector<Value> args, EvalArgs(e, 1));
    const std::string& f = e.name;
    if (f == "length" || f == "count") {
      if (x.v.is_string()) return Value{static_cast<int64_t>(x.v.get_ref<const std::string&>().size()), false};
      if (x.v.is_array() || x.v.is_object()) return Value{static_cast<int64_t>(x.v.size()), false};
      if (x.undefined) return Value{int64_t{0}, false};
      return Error(e.offset, absl::StrCat("length of a ", TypeName(x)));
    }
    if (f == "tojson") {
      int indent = 0;
      for (size_t k = 0; k < e.kwarg_names.size(); ++k) {
        if (e.kwarg_names[k] == "indent" && args[args.size() - e.kwarg_names.size() + k].v.is_number_integer()) {
          indent = static_cast<int>(args[args.size() - e.kwarg_names.size() + k].v.get<int64_t>());
        }
      }
      if (e.kwarg_names.empty() && !args.empty() && args[0].v.is_number_integer()) {
        indent = static_cast<int>(args[0].v.get<int64_t>());
      }
      std::string out;
      DumpPython(x.v, &out, indent, 0);
      return Value{out, false};
    }
    if (f == "trim") return Value{StripChars(Str(x), kPyWhitespace, true, true), false};
    if (f == "string") return Value{Str(x), false};
    if (f == "lower" || f == "upper") return Method(e, f, Value{Str(x), false}, {});
    if (f == "default" || f == "d") {
      if (!x.undefined) return x;
      return args.empty() ? Value{std::string(), false} : args[0];
    }
    if (f == "join") {
      if (!x.v.is_array()) return Error(e.offset, absl::StrCat("join of a ", TypeName(x)));
      std::vector<std::string> parts;
      for (const Json& item : x.v) parts.push_back(Str(Value{item, false}));
      return Value{absl::StrJoin(parts, args.empty() ? "" : Str(args[0])), false};
    }
    if ((f == "first" || f == "last") && x.v.is_array()) {
      if (x.v.empty()) return Value::Undefined();
      return Value{f == "first" ? x.v.front() : x.v.back(), false};
    }
    if (f == "list") {
      if (x.v.is_array()) return x;
      return Error(e.offset, absl::StrCat("list of a ", TypeName(x)));
    }
    if (f == "items" && x.v.is_object()) return Method(e, "items", x, {});
    return Error(e.offset, absl::StrCat("unknown filter \"", f, "\""));
  }

  absl::StatusOr<bool> EvalTest(const Expr& e) {
    ASSIGN_OR_RETURN(Value x, Eval(*e.args[0]));
    const std::string& t = e.name;
    if (t == "defined") return !x.undefined;
    if (t == "undefined") return x.undefined;
    if (t == "none") return !x.undefined && x.v.is_null();
    if (t == "string") return !x.undefined && x.v.is_string();
    if (t == "number") return !x.undefined && x.v.is_number();
    if (t == "integer") return !x.undefined && x.v.is_number_integer();
    if (t == "mapping") return !x.undefined && x.v.is_object();
    if (t == "sequence" || t == "iterable")
      return !x.undefined && (x.v.is_array() || x.v.is_string() || x.v.is_object());
    if (t == "boolean") return !x.undefined && x.v.is_boolean();
    if (t == "true") return !x.undefined && x.v.is_boolean() && x.v.get<bool>();
    if (t == "false") return !x.undefined && x.v.is_boolean() && !x.v.get<bool>();
    return Error(e.offset, absl::StrCat("unknown test \"", t, "\""));
  }

  absl::StatusOr<Value> EvalBinary(const Expr& e) {
    const std::string& op = e.name;
    ASSIGN_OR_RETURN(Value a, Eval(*e.args[0]));
    if (op == "and") return Truthy(a) ? Eval(*e.args[1]) : a;
    if (op == "or") return Truthy(a) ? a : Eval(*e.args[1]);
    ASSIGN_OR_RETURN(Value b, Eval(*e.args[1]));
    if (op == "~" || (op == "+" && a.v.is_string() && b.v.is_string())) {
      const std::string x = Str(a), y = Str(b);
      if (x.size() + y.size() > kMaxTemplateOutputBytes) {
        return Error(e.offset, absl::StrCat("a string of ", x.size() + y.size(), " bytes; the limit is ",
                                            kMaxTemplateOutputBytes));
      }
      return Value{x + y, false};
    }
    if (op == "==") return Value{a.undefined == b.undefined && a.v == b.v, false};
    if (op == "!=") return Value{!(a.undefined == b.undefined && a.v == b.v), false};
    if (op == "in") {
      if (b.v.is_string() && a.v.is_string()) {
        return Value{b.v.get_ref<const std::string&>().find(a.v.get_ref<const std::string&>()) != std::string::npos,
                     false};
      }
      if (b.v.is_array()) {
        for (const Json& item : b.v) {
          if (item == a.v) return Value{true, false};
        }
        return Value{false, false};
      }
      if (b.v.is_object()) return Value{a.v.is_string() && b.v.contains(a.v.get<std::string>()), false};
      if (b.undefined) return Value{false, false};
      return Error(e.offset, absl::StrCat("'in' needs a string, list or mapping on the right, got a ", TypeName(b)));
    }
    if (op == "+" && a.v.is_array() && b.v.is_array()) {
      if (a.v.size() + b.v.size() > kMaxTemplateItems) {
        return Error(e.offset,
                     absl::StrCat("a list of ", a.v.size() + b.v.size(), " items; the limit is ", kMaxTemplateItems));
      }
      Json r = a.v;
      for (const Json& item : b.v) r.push_back(item);
      return Value{r, false};
    }
    if (a.v.is_number() && b.v.is_number()) {
      const bool ints = a.v.is_number_integer() && b.v.is_number_integer();
      const double x = a.v.get<double>(), y = b.v.get<double>();
      if (op == "<") return Value{x < y, false};
      if (op == ">") return Value{x > y, false};
      if (op == "<=") return Value{x <= y, false};
      if (op == ">=") return Value{x >= y, false};
      if (ints) {
        const int64_t i = a.v.get<int64_t>(), j = b.v.get<int64_t>();
        int64_t r = 0;
        if (op == "+" || op == "-" || op == "*") {
          const bool overflow = op == "+"   ? __builtin_add_overflow(i, j, &r)
                                : op == "-" ? __builtin_sub_overflow(i, j, &r)
                                            : __builtin_mul_overflow(i, j, &r);
          if (overflow) return Error(e.offset, absl::StrCat("integer overflow in ", i, " ", op, " ", j));
          return Value{r, false};
        }
        if ((op == "//" || op == "%") && j == 0) return Error(e.offset, "division by zero");
        if ((op == "//" || op == "%") && j == -1) {
          if (op == "%") return Value{int64_t{0}, false};
          if (i == INT64_MIN) return Error(e.offset, absl::StrCat("integer overflow in ", i, " // -1"));
          return Value{-i, false};
        }
        if (op == "//") return Value{static_cast<int64_t>(std::floor(static_cast<double>(i) / j)), false};
        if (op == "%") return Value{((i % j) + j) % j, false};
      }
      if (op == "+") return Value{x + y, false};
      if (op == "-") return Value{x - y, false};
      if (op == "*") return Value{x * y, false};
      if (op == "/") {
        if (y == 0) return Error(e.offset, "division by zero");
        return Value{x / y, false};
      }
    }
    if (a.v.is_string() && b.v.is_string()) {
      const std::string& x = a.v.get_ref<const std::string&>();
      const std::string& y = b.v.get_ref<const std::string&>();
      if (op == "<") return Value{x < y, false};
      if (op == ">") return Value{x > y, false};
      if (op == "<=") return Value{x <= y, false};
      if (op == ">=") return Value{x >= y, false};
    }
    return Error(e.offset,
                 absl::StrCat("unsupported operand types for '", op, "': ", TypeName(a), " and ", TypeName(b)));
  }

  const std::string& src_;
  std::vector<Frame> frames_;
  int64_t work_ = 0;
};

}  // namespace

absl::StatusOr<std::string> Render(const Body& body, const nlohmann::ordered_json& context, const std::string& source) {
  Interpreter interp(source, context);
  std::string out;
  RETURN_IF_ERROR(interp.Exec(body, &out));
  return out;
}

}  // namespace jinja
}  // namespace ssd
