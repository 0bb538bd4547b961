// ChatTemplate: renders the `chat_template` of a tokenizer_config.json (Jinja)
// for a list of messages, as transformers' apply_chat_template does.
//
// The context has `messages`, `add_generation_prompt`, the special tokens the
// config names (`bos_token`, `eos_token`, `pad_token`, `unk_token`), `tools`
// and `documents` (None unless given, as transformers passes them) and any
// extra variables the caller passes (Qwen3's `enable_thinking`, `tools`).
// Thread-safe after Load: rendering does not mutate the template.
#ifndef SSD_COMMON_TOKENIZER_CHAT_TEMPLATE_H_
#define SSD_COMMON_TOKENIZER_CHAT_TEMPLATE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/jinja/ast.h"
#include "nlohmann/json.hpp"

namespace ssd {

struct ChatOptions {
  bool add_generation_prompt = false;
  // Extra template variables, e.g. {"enable_thinking": false}.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // `path` is a model folder holding tokenizer_config.json, or the file.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> Load(const std::string& path);
  // From template source and special tokens; `where` names it in errors.
  static absl::StatusOr<std::unique_ptr<ChatTemplate>> FromSource(const std::string& source,
                                                                  nlohmann::ordered_json special_tokens,
                                                                  const std::string& where);

  // `messages` is a JSON array of {"role", "content", ...} objects.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& messages, const ChatOptions& options) const;

  const std::string& source() const { return source_; }

 private:
  ChatTemplate() = default;
  std::string source_;
  std::string where_;
  jinja::Body body_;
  nlohmann::ordered_json special_tokens_;  // bos_token, eos_token, ...
};

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_CHAT_TEMPLATE_H_
