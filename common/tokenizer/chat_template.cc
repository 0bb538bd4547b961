#include "common/tokenizer/chat_template.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/tokenizer/jinja/interpreter.h"
#include "common/tokenizer/jinja/parser.h"
#include "common/util/file_util.h"
#include "common/util/json.h"
#include "common/util/status_macros.h"

namespace ssd {

using Json = nlohmann::ordered_json;

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::Load(const std::string& path) {
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) file = JoinPath(path, "tokenizer_config.json");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(file, size_t{64} << 20));
  Json config;
  {
    absl::StatusOr<Json> parsed = ParseJson<Json>(text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", parsed.status().message()));
    config = std::move(*parsed);
  }
  if (!config.is_object()) return absl::InvalidArgumentError(absl::StrCat(file, ": expected a JSON object"));
  auto ct = config.find("chat_template");
  if (ct == config.end() || ct->is_null()) {
    return absl::NotFoundError(absl::StrCat(file, ": has no chat_template"));
  }
  std::string source;
  if (ct->is_string()) {
    source = ct->get<std::string>();
  } else if (ct->is_array()) {
    // A list of named templates: use "default".
    for (const auto& t : *ct) {
      if (t.is_object() && t.value("name", std::string()) == "default" && t.contains("template") &&
          t["template"].is_string()) {
        source = t["template"].get<std::string>();
      }
    }
    if (source.empty()) return absl::NotFoundError(absl::StrCat(file, ": chat_template list has no \"default\""));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(file, ": chat_template must be a string or a list"));
  }
  Json special = Json::object();
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
    auto it = config.find(key);
    if (it == config.end()) continue;
    if (it->is_string()) {
      special[key] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      special[key] = (*it)["content"];  // AddedToken form
    } else if (it->is_null()) {
      special[key] = nullptr;
    }
  }
  return FromSource(source, special, file);
}

absl::StatusOr<std::unique_ptr<ChatTemplate>> ChatTemplate::FromSource(const std::string& source, Json special_tokens,
                                                                       const std::string& where) {
  std::unique_ptr<ChatTemplate> t(new ChatTemplate());
  t->source_ = source;
  t->where_ = where;
  t->special_tokens_ = std::move(special_tokens);
  auto body = jinja::Parse(t->source_);
  if (!body.ok()) return absl::Status(body.status().code(), absl::StrCat(where, ": ", body.status().message()));
  t->body_ = std::move(*body);
  return t;
}

absl::StatusOr<std::string> ChatTemplate::Render(const Json& messages, const ChatOptions& options) const {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages must be a JSON array");
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "] needs a string \"role\""));
    }
  }
  Json context = special_tokens_;
  // transformers passes these even when absent, as None.
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  for (auto it = options.extra.begin(); it != options.extra.end(); ++it) context[it.key()] = it.value();
  context["messages"] = messages;
  context["add_generation_prompt"] = options.add_generation_prompt;
  auto out = jinja::Render(body_, context, source_);
  if (!out.ok()) return absl::Status(out.status().code(), absl::StrCat(where_, ": ", out.status().message()));
  return out;
}

}  // namespace ssd
