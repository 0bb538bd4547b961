// The OpenAI HTTP API's JSON, as `ssd serve` speaks it and the openai
// generation backend calls it: parsing /v1/completions and
// /v1/chat/completions request bodies into a checked CompletionRequest,
// and writing responses, streamed chunks and error objects.
//
// Fields are OpenAI's plus the vLLM extras clients already send (top_k,
// min_p, repetition_penalty, min_tokens, stop_token_ids, ignore_eos,
// skip_special_tokens, chat_template_kwargs, add_generation_prompt,
// return_token_ids), with vLLM's meanings and defaults. Every refusal is an
// ApiError naming the field (`param`): a wrong type, a value out of range,
// a field ssd does not implement (presence_penalty != 0, logit_bias, tools,
// echo, ...) and a field no one defines. Torch-free.
#ifndef SSD_SAMPLER_WORKER_OPENAI_OPENAI_PROTOCOL_H_
#define SSD_SAMPLER_WORKER_OPENAI_OPENAI_PROTOCOL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace ssd::openai {

// {"error": {"message", "type", "param", "code"}} with its HTTP status.
struct ApiError {
  int http_status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // "" is JSON null
  std::string code;   // "" is JSON null
};

ApiError BadRequest(const std::string& param, const std::string& message);
std::string ErrorJson(const ApiError& e);

enum class Endpoint { kCompletions, kChatCompletions };

// One prompt of /v1/completions: text, or token ids (OpenAI allows both).
struct Prompt {
  std::string text;
  std::vector<int64_t> ids;
  bool is_ids = false;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::vector<Prompt> prompts;                                                        // completions
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();                  // chat
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();     // chat
  bool add_generation_prompt = true;                                                  // chat
  // Unset: 16 for completions (OpenAI's default), the rest of the context
  // for chat (vLLM's). Either way capped at what the context leaves.
  std::optional<int64_t> max_tokens;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0 or -1: off
  double min_p = 0.0;
  double repetition_penalty = 1.0;
  int64_t min_tokens = 0;
  int64_t n = 1;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int64_t> stop_token_ids;  // besides the model's own stop ids
  bool ignore_eos = false;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  int64_t logprobs = -1;          // -1 none; else top alternatives per token (chat: top_logprobs)
  bool return_token_ids = false;  // vLLM: choices carry token_ids
};

// Limits a request may not pass (the n and stop limits guard the server).
inline constexpr int64_t kMaxChoices = 128;
inline constexpr int64_t kMaxPrompts = 64;
inline constexpr size_t kMaxStopStrings = 16;

// Parses and checks `body`. Returns nullopt and fills `error` on refusal.
std::optional<CompletionRequest> ParseCompletionRequest(Endpoint endpoint, absl::string_view body, ApiError* error);

// A finished choice, for the non-streamed response.
struct ChoiceResult {
  int64_t index = 0;
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  std::vector<int64_t> token_ids;
  struct TokenLogprob {
    int64_t id = -1;
    float logprob = 0;
    std::vector<std::pair<int64_t, float>> top;
  };
  std::vector<TokenLogprob> logprobs;  // empty unless asked for
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// What the response JSON needs besides the choices.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;  // cmpl-... or chatcmpl-...
  int64_t created = 0;
  std::string model;
  bool logprobs = false;
  bool return_token_ids = false;
  // A token's text as logprobs show it (its bytes, invalid UTF-8 replaced
  // when the JSON is written).
  std::function<std::string(int64_t)> token_text;
};

std::string ResponseJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices, const Usage& usage);

// One server-sent event's JSON: the text (or chat delta) added to choice
// `index`, the logprobs of the tokens it covers, and the finish reason on
// the last chunk of the choice. `role` starts a chat choice's deltas.
struct ChunkDelta {
  int64_t index = 0;
  std::string text;
  bool role = false;
  std::vector<ChoiceResult::TokenLogprob> logprobs;
  std::vector<int64_t> token_ids;
  std::string finish_reason;  // "" while the choice goes on
};
std::string ChunkJson(const ResponseHeader& h, const ChunkDelta& d);
// The last chunk of a stream with stream_options.include_usage: no choices.
std::string UsageChunkJson(const ResponseHeader& h, const Usage& usage);

// `data: <json>\n\n`, and the stream's end.
std::string SseEvent(const std::string& json);
inline constexpr absl::string_view kSseDone = "data: [DONE]\n\n";

// JSON text of any value, invalid UTF-8 replaced (never throws).
std::string DumpJson(const nlohmann::ordered_json& j);

}  // namespace ssd::openai

#endif  // SSD_SAMPLER_WORKER_OPENAI_OPENAI_PROTOCOL_H_
