#include "common/eval/benchmark.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/eval/base64.h"
#include "common/eval/inflate.h"
#include "common/eval/pickle_string.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/jsonl.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

using Json = nlohmann::json;

// A JSON field of the record, errors prefixed with what it is.
absl::StatusOr<Json> ParseField(absl::string_view text, absl::string_view what) {
  absl::StatusOr<Json> j = ParseJson<Json>(text);
  if (!j.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", j.status().message()));
  return j;
}

// The string field `key`, "" when absent or null.
absl::StatusOr<std::string> OptionalString(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return it->dump();  // some dumps write numeric ids
  return absl::InvalidArgumentError(absl::StrCat("field \"", key, "\" must be a string"));
}

absl::StatusOr<std::string> RequiredString(const Json& j, const char* key) {
  if (!j.contains(key)) return absl::InvalidArgumentError(absl::StrCat("missing field \"", key, "\""));
  ASSIGN_OR_RETURN(std::string s, OptionalString(j, key));
  if (s.empty()) return absl::InvalidArgumentError(absl::StrCat("field \"", key, "\" is empty"));
  return s;
}

bool IsIsoDate(absl::string_view d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(d[i]))) return false;
  }
  return true;
}

// Appends the tests of one field (a JSON list of {input, output, testtype})
// to `problem`, checking that every test has the problem's type.
absl::Status AppendTests(const Json& list, const char* field, bool* type_known, Problem* problem) {
  if (!list.is_array()) return absl::InvalidArgumentError(absl::StrCat(field, ": must be a JSON list"));
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& t = list[i];
    const std::string where = absl::StrCat(field, "[", i, "]");
    if (!t.is_object() || !t.contains("input") || !t.contains("output") || !t["input"].is_string() ||
        !t["output"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": needs string fields \"input\" and \"output\""));
    }
    const std::string type = t.value("testtype", std::string("stdin"));
    TestType tt;
    if (type == "stdin") {
      tt = TestType::kStdin;
    } else if (type == "functional") {
      tt = TestType::kFunctional;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown testtype \"", type, "\" (expected \"stdin\" or \"functional\")"));
    }
    if (!*type_known) {
      problem->test_type = tt;
      *type_known = true;
    } else if (tt != problem->test_type) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": testtype \"", type,
                                                     "\" differs from the earlier tests' \"",
                                                     TestTypeName(problem->test_type), "\""));
    }
    TestCase tc{t["input"].get<std::string>(), t["output"].get<std::string>()};
    if (tt == TestType::kFunctional) {
      // The harness feeds each line to json.loads; refuse data it would choke
      // on here, where the line number is known.
      int line_no = 0;
      for (absl::string_view line : absl::StrSplit(tc.input, '\n')) {
        ++line_no;
        auto arg = ParseField(line, absl::StrCat(where, ".input line ", line_no));
        if (!arg.ok()) return arg.status();
      }
      auto out = ParseField(tc.output, absl::StrCat(where, ".output"));
      if (!out.ok()) return out.status();
    }
    problem->tests.push_back(std::move(tc));
  }
  return absl::OkStatus();
}

absl::StatusOr<Problem> ParseHumanEval(const Json& j) {
  Problem p;
  ASSIGN_OR_RETURN(p.question_id, RequiredString(j, "task_id"));
  ASSIGN_OR_RETURN(p.starter_code, RequiredString(j, "prompt"));
  ASSIGN_OR_RETURN(p.humaneval_test, RequiredString(j, "test"));
  ASSIGN_OR_RETURN(p.entry_point, RequiredString(j, "entry_point"));
  p.title = p.entry_point;
  p.content =
      absl::StrCat("Complete the Python function `", p.entry_point, "` below so that it does what its docstring says.");
  p.test_type = TestType::kHumanEval;
  p.tests.push_back(TestCase{});  // the single check(entry_point) test
  return p;
}

absl::StatusOr<Problem> ParseLiveCodeBench(const Json& j, const BenchmarkOptions& options) {
  Problem p;
  ASSIGN_OR_RETURN(p.question_id, RequiredString(j, "question_id"));
  ASSIGN_OR_RETURN(p.title, OptionalString(j, "question_title"));
  ASSIGN_OR_RETURN(p.content, RequiredString(j, "question_content"));
  ASSIGN_OR_RETURN(p.starter_code, OptionalString(j, "starter_code"));
  ASSIGN_OR_RETURN(p.difficulty, OptionalString(j, "difficulty"));
  ASSIGN_OR_RETURN(p.platform, OptionalString(j, "platform"));
  ASSIGN_OR_RETURN(p.contest_date, OptionalString(j, "contest_date"));
  p.difficulty = absl::AsciiStrToLower(p.difficulty);

  bool type_known = false;
  {
    ASSIGN_OR_RETURN(std::string pub, RequiredString(j, "public_test_cases"));
    ASSIGN_OR_RETURN(Json list, ParseField(pub, "public_test_cases"));
    RETURN_IF_ERROR(AppendTests(list, "public_test_cases", &type_known, &p));
    p.num_public_tests = static_cast<int>(p.tests.size());
  }
  if (j.contains("private_test_cases") && !j["private_test_cases"].is_null()) {
    const Json& priv = j["private_test_cases"];
    if (priv.is_array()) {
      RETURN_IF_ERROR(AppendTests(priv, "private_test_cases", &type_known, &p));
    } else if (priv.is_string()) {
      ASSIGN_OR_RETURN(std::string text, DecodePrivateTests(priv.get<std::string>(), options.max_test_bytes));
      ASSIGN_OR_RETURN(Json list, ParseField(text, "private_test_cases (decoded)"));
      RETURN_IF_ERROR(AppendTests(list, "private_test_cases", &type_known, &p));
    } else {
      return absl::InvalidArgumentError("private_test_cases: must be a string or a JSON list");
    }
  }
  if (p.tests.empty()) return absl::InvalidArgumentError("the problem has no test cases");

  if (p.test_type == TestType::kFunctional) {
    Json meta;
    if (j.contains("metadata") && j["metadata"].is_string()) {
      ASSIGN_OR_RETURN(meta, ParseField(j["metadata"].get<std::string>(), "metadata"));
    } else if (j.contains("metadata")) {
      meta = j["metadata"];
    }
    if (!meta.is_object() || !meta.contains("func_name") || !meta["func_name"].is_string() ||
        meta["func_name"].get<std::string>().empty()) {
      return absl::InvalidArgumentError("functional tests need metadata.func_name, which is missing");
    }
    p.func_name = meta["func_name"].get<std::string>();
  }
  return p;
}

}  // namespace

absl::string_view TestTypeName(TestType t) {
  switch (t) {
    case TestType::kStdin: return "stdin";
    case TestType::kFunctional: return "functional";
    case TestType::kHumanEval: return "humaneval";
  }
  return "?";
}

absl::Status DateFilter::Validate() const {
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"start_date", &start_date},
                             std::pair<const char*, const std::string*>{"end_date", &end_date}}) {
    if (!value->empty() && !IsIsoDate(*value)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": \"", *value, "\" is not a YYYY-MM-DD date"));
    }
  }
  if (!start_date.empty() && !end_date.empty() && start_date > end_date) {
    return absl::InvalidArgumentError(absl::StrCat("start_date ", start_date, " is after end_date ", end_date));
  }
  return absl::OkStatus();
}

DateFilter LiveCodeBenchV6Window() { return DateFilter{"2025-02-01", "2025-05-31"}; }

absl::Status BenchmarkOptions::Validate() const {
  RETURN_IF_ERROR(dates.Validate());
  if (max_test_bytes == 0) return absl::InvalidArgumentError("max_test_bytes: must be positive");
  return absl::OkStatus();
}

const Problem* Benchmark::Find(absl::string_view question_id) const {
  auto it = index.find(question_id);
  return it == index.end() ? nullptr : &problems[it->second];
}

absl::StatusOr<std::string> DecodePrivateTests(absl::string_view text, size_t max_bytes) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  if (absl::StartsWith(s, "[")) return std::string(s);
  auto raw = Base64Decode(s);
  if (!raw.ok()) return absl::InvalidArgumentError(absl::StrCat("private_test_cases: ", raw.status().message()));
  auto pickled = Inflate(*raw, InflateFormat::kZlib, max_bytes);
  if (!pickled.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("private_test_cases: ", pickled.status().message()));
  }
  auto json = UnpickleString(*pickled, max_bytes);
  if (!json.ok()) return absl::InvalidArgumentError(absl::StrCat("private_test_cases: ", json.status().message()));
  return json;
}

absl::StatusOr<Problem> ParseProblem(absl::string_view json_line, const BenchmarkOptions& options) {
  ASSIGN_OR_RETURN(Json j, ParseField(json_line, "record"));
  if (!j.is_object()) return absl::InvalidArgumentError("record: must be a JSON object");
  if (j.contains("question_id")) return ParseLiveCodeBench(j, options);
  if (j.contains("task_id")) return ParseHumanEval(j);
  return absl::InvalidArgumentError("record has neither \"question_id\" (LiveCodeBench) nor \"task_id\" (HumanEval)");
}

absl::StatusOr<Benchmark> LoadBenchmark(const std::string& path, const BenchmarkOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, size_t{16} << 30));
  if (absl::EndsWith(path, ".gz")) {
    auto text = Inflate(bytes, InflateFormat::kGzip, size_t{16} << 30);
    if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", text.status().message()));
    bytes = std::move(*text);
  }
  Benchmark b;
  ASSIGN_OR_RETURN(JsonlStats stats,
                   ReadJsonlBytes(path, bytes, JsonlOptions(), [&](const JsonlLine& line) -> absl::Status {
                     ASSIGN_OR_RETURN(Problem p, ParseProblem(line.text, options));
                     if (options.dates.active()) {
                       const std::string day = p.contest_date.substr(0, 10);
                       if (!IsIsoDate(day) || (!options.dates.start_date.empty() && day < options.dates.start_date) ||
                           (!options.dates.end_date.empty() && day > options.dates.end_date)) {
                         ++b.filtered_by_date;
                         return absl::OkStatus();
                       }
                     }
                     if (b.index.contains(p.question_id)) {
                       return absl::InvalidArgumentError(absl::StrCat("duplicate question_id \"", p.question_id, "\""));
                     }
                     b.index[p.question_id] = b.problems.size();
                     b.problems.push_back(std::move(p));
                     return absl::OkStatus();
                   }));
  b.errors = std::move(stats.errors);
  return b;
}

}  // namespace ssd
