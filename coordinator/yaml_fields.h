// YamlFields: reads the fields of one YAML mapping strictly, for the job
// spec parser (job_spec.cc). Every problem is recorded as
// `path.key: what (line L, column C)`; an integer field refuses "1.5", a
// number refuses "inf", and Finish() reports keys given twice and keys no
// getter asked for, with the nearest known key ("did you mean top_p?").
#ifndef SSD_COORDINATOR_YAML_FIELDS_H_
#define SSD_COORDINATOR_YAML_FIELDS_H_

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ssd {

// " (line L, column C)" of a node, or "" when it has no position.
std::string YamlWhere(const YAML::Node& n);
// A node as an error message shows it: its text quoted, or its kind.
std::string YamlShown(const YAML::Node& n);

class YamlFields {
 public:
  YamlFields(const YAML::Node& node, std::string path, std::vector<std::string>* errors)
      : node_(node), path_(std::move(path)), errors_(errors) {}

  bool Has(const char* key);
  void Str(const char* key, std::string* out);
  template <typename T>
  void Int(const char* key, T* out) {
    if (!Has(key)) return;
    const YAML::Node n = node_[key];
    ParseInt(key, n, out);
  }
  void Double(const char* key, double* out);
  void Bool(const char* key, bool* out);
  template <typename List>
  void StrList(const char* key, List* out) {
    if (!Has(key)) return;
    const YAML::Node n = node_[key];
    if (!n.IsSequence()) return Error(key, absl::StrCat("must be a list of strings, got ", YamlShown(n)), n);
    out->Clear();
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        return Error(absl::StrCat(key, "[", i, "]"), absl::StrCat("must be a string, got ", YamlShown(n[i])), n[i]);
      }
      *out->Add() = n[i].Scalar();
    }
  }
  template <typename List>
  void DoubleList(const char* key, List* out) {
    if (!Has(key)) return;
    const YAML::Node n = node_[key];
    if (n.IsScalar()) {  // a single number is a list of one
      double v = 0;
      if (ParseDouble(key, n, &v)) {
        out->Clear();
        out->Add(v);
      }
      return;
    }
    if (!n.IsSequence()) return Error(key, absl::StrCat("must be a list of numbers, got ", YamlShown(n)), n);
    out->Clear();
    for (size_t i = 0; i < n.size(); ++i) {
      double v = 0;
      if (!ParseDouble(absl::StrCat(key, "[", i, "]"), n[i], &v)) return;
      out->Add(v);
    }
  }
  template <typename List>
  void IntList(const char* key, List* out) {
    if (!Has(key)) return;
    const YAML::Node n = node_[key];
    if (!n.IsSequence()) return Error(key, absl::StrCat("must be a list of integers, got ", YamlShown(n)), n);
    out->Clear();
    for (size_t i = 0; i < n.size(); ++i) {
      int32_t v = 0;
      if (!ParseInt(absl::StrCat(key, "[", i, "]"), n[i], &v)) return;
      out->Add(v);
    }
  }
  // The mappings of the list under `key` (none when absent); an item that
  // is not a mapping is an error naming its index.
  std::vector<YAML::Node> MapList(const char* key);
  // The mapping under `key`, or an undefined node when absent or not a map.
  YAML::Node Map(const char* key);
  std::string Path(const std::string& key) const { return path_.empty() ? key : absl::StrCat(path_, ".", key); }

  void Finish();

 private:
  void Error(const std::string& key, const std::string& what, const YAML::Node& n);
  template <typename T>
  bool ParseInt(const std::string& key, const YAML::Node& n, T* out) {
    if (!n.IsScalar()) {
      Error(key, absl::StrCat("must be an integer, got ", YamlShown(n)), n);
      return false;
    }
    // yaml-cpp's own conversion accepts "1.5" for ints on some versions;
    // parse strictly instead.
    const std::string& s = n.Scalar();
    errno = 0;
    char* end = nullptr;
    const bool neg = !s.empty() && s[0] == '-';
    if (std::is_unsigned<T>::value && neg) {
      Error(key, absl::StrCat("must be a non-negative integer, got \"", s, "\""), n);
      return false;
    }
    long long v = 0;
    unsigned long long u = 0;
    if (std::is_unsigned<T>::value) {
      u = std::strtoull(s.c_str(), &end, 10);
    } else {
      v = std::strtoll(s.c_str(), &end, 10);
    }
    if (s.empty() || end == nullptr || *end != '\0' || errno == ERANGE) {
      Error(key, absl::StrCat("must be an integer, got \"", s, "\""), n);
      return false;
    }
    if (std::is_unsigned<T>::value) {
      if (u > static_cast<unsigned long long>(std::numeric_limits<T>::max())) {
        Error(key, absl::StrCat("is too large: ", s), n);
        return false;
      }
      *out = static_cast<T>(u);
    } else {
      if (v > static_cast<long long>(std::numeric_limits<T>::max()) ||
          v < static_cast<long long>(std::numeric_limits<T>::min())) {
        Error(key, absl::StrCat("is out of range: ", s), n);
        return false;
      }
      *out = static_cast<T>(v);
    }
    return true;
  }
  bool ParseDouble(const std::string& key, const YAML::Node& n, double* out);

  const YAML::Node node_;
  const std::string path_;
  std::vector<std::string>* errors_;
  std::set<std::string> asked_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_YAML_FIELDS_H_
