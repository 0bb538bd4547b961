#include "coordinator/yaml_fields.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ssd {
namespace {

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string YamlWhere(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return "";
  return absl::StrCat(" (line ", m.line + 1, ", column ", m.column + 1, ")");
}

std::string YamlShown(const YAML::Node& n) {
  if (n.IsScalar()) return absl::StrCat("\"", n.Scalar(), "\"");
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

bool YamlFields::Has(const char* key) {
  asked_.insert(key);
  return node_[key] && !node_[key].IsNull();
}

void YamlFields::Str(const char* key, std::string* out) {
  if (!Has(key)) return;
  const YAML::Node n = node_[key];
  if (!n.IsScalar()) return Error(key, absl::StrCat("must be a string, got ", YamlShown(n)), n);
  *out = n.Scalar();
}

void YamlFields::Double(const char* key, double* out) {
  if (!Has(key)) return;
  ParseDouble(key, node_[key], out);
}

void YamlFields::Bool(const char* key, bool* out) {
  if (!Has(key)) return;
  const YAML::Node n = node_[key];
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    return Error(key, absl::StrCat("must be true or false, got ", YamlShown(n)), n);
  }
  *out = v;
}

std::vector<YAML::Node> YamlFields::MapList(const char* key) {
  std::vector<YAML::Node> items;
  if (!Has(key)) return items;
  const YAML::Node n = node_[key];
  if (!n.IsSequence()) {
    Error(key, absl::StrCat("must be a list of mappings, got ", YamlShown(n)), n);
    return items;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsMap()) {
      Error(absl::StrCat(key, "[", i, "]"), absl::StrCat("must be a mapping of fields, got ", YamlShown(n[i])), n[i]);
      return {};
    }
    items.push_back(n[i]);
  }
  return items;
}

YAML::Node YamlFields::Map(const char* key) {
  if (!Has(key)) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node n = node_[key];
  if (!n.IsMap()) {
    Error(key, absl::StrCat("must be a mapping of fields, got ", YamlShown(n)), n);
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return n;
}

void YamlFields::Finish() {
  std::set<std::string> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (!seen.insert(key).second) {
      // yaml-cpp would silently use the first; a repeated key is a mistake.
      errors_->push_back(absl::StrCat(Path(key), ": given twice", YamlWhere(it->first)));
      continue;
    }
    if (asked_.count(key) > 0) continue;
    std::string best;
    size_t best_d = 3;
    for (const std::string& k : asked_) {
      const size_t d = EditDistance(key, k);
      if (d < best_d) {
        best_d = d;
        best = k;
      }
    }
    errors_->push_back(absl::StrCat(Path(key), ": unknown field",
                                    best.empty() ? "" : absl::StrCat(" (did you mean ", best, "?)"),
                                    YamlWhere(it->first)));
  }
}

void YamlFields::Error(const std::string& key, const std::string& what, const YAML::Node& n) {
  errors_->push_back(absl::StrCat(Path(key), ": ", what, YamlWhere(n)));
}

bool YamlFields::ParseDouble(const std::string& key, const YAML::Node& n, double* out) {
  if (!n.IsScalar()) {
    Error(key, absl::StrCat("must be a number, got ", YamlShown(n)), n);
    return false;
  }
  const std::string& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == nullptr || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    Error(key, absl::StrCat("must be a number, got \"", s, "\""), n);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace ssd
