#include "common/tokenizer/assistant_mask.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

// Unlikely in real text, and free of anything a template might act on.
constexpr char kSentinel[] =
    "\x1F"
    "SSD-ASSISTANT-CONTENT"
    "\x1F";

}  // namespace

absl::StatusOr<MaskedConversation> RenderWithAssistantMask(const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                           const nlohmann::ordered_json& messages,
                                                           const ChatOptions& options) {
  MaskedConversation out;
  ASSIGN_OR_RETURN(out.text, chat.Render(messages, options));
  const std::string& text = out.text;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", std::string()) != "assistant") continue;
    // Start: where the rendering with a sentinel as the content first
    // differs from the real one (the template may print content-derived text,
    // like Qwen3's reasoning block, before the content proper).
    nlohmann::ordered_json probe = messages;
    probe[i]["content"] = kSentinel;
    ASSIGN_OR_RETURN(std::string rendered, chat.Render(probe, options));
    size_t start = 0;
    while (start < text.size() && start < rendered.size() && text[start] == rendered[start]) ++start;
    // End: where a sentinel appended to the real content lands.
    const std::string content = messages[i].value("content", std::string());
    probe[i]["content"] = content + kSentinel;
    ASSIGN_OR_RETURN(std::string tail_probe, chat.Render(probe, options));
    const size_t at = tail_probe.find(kSentinel);
    if (rendered.find(kSentinel) == std::string::npos || at == std::string::npos ||
        tail_probe.find(kSentinel, at + 1) != std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat("messages[", i, "]: the chat template does not print the assistant content exactly once"));
    }
    if (at < start || at > text.size() || text.compare(0, at, tail_probe, 0, at) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("messages[", i,
                       "]: the chat template's output around the assistant content depends on the content, "
                       "so its span cannot be located"));
    }
    size_t end = at;
    // Take in the end-of-turn special token that directly follows.
    for (const AddedToken& t : tokenizer.added().tokens()) {
      if (t.special && text.compare(end, t.content.size(), t.content) == 0) {
        end += t.content.size();
        break;
      }
    }
    out.spans.emplace_back(start, end);
  }

  EncodeOptions enc;
  enc.allow_special = true;
  ASSIGN_OR_RETURN(out.ids, tokenizer.Encode(text, enc));
  out.assistant_mask.assign(out.ids.size(), 0);
  size_t pos = 0, span = 0;
  for (size_t k = 0; k < out.ids.size(); ++k) {
    ASSIGN_OR_RETURN(std::string bytes, tokenizer.TokenBytes(out.ids[k]));
    if (text.compare(pos, bytes.size(), bytes) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("token ", k, " does not reproduce the rendered text at byte ", pos,
                       " (a normalizer changed it?); cannot align the assistant mask"));
    }
    const size_t begin = pos, stop = pos + bytes.size();
    pos = stop;
    while (span < out.spans.size() && out.spans[span].second <= begin) ++span;
    // A token overlapping a span counts as the reply's.
    if (span < out.spans.size() && begin < out.spans[span].second && stop > out.spans[span].first) {
      out.assistant_mask[k] = 1;
    }
  }
  if (pos != text.size()) {
    return absl::FailedPreconditionError("the tokens do not cover the rendered text; cannot align the mask");
  }
  return out;
}

}  // namespace ssd
