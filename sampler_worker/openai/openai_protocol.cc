#include "sampler_worker/openai/openai_protocol.h"

#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"

namespace ssd::openai {
namespace {

using Json = nlohmann::ordered_json;

// Fields read by name. Each getter refuses a wrong type or range naming the
// field; a JSON null counts as absent (OpenAI's clients send nulls).
class Fields {
 public:
  Fields(const Json& body, ApiError* error) : body_(body), error_(error) {}

  bool failed() const { return failed_; }
  const Json* Get(const std::string& name) {
    known_.insert(name);
    auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void Fail(const std::string& param, const std::string& message) {
    if (failed_) return;
    failed_ = true;
    *error_ = BadRequest(param, message);
  }

  void Bool(const std::string& name, bool* out) {
    const Json* v = Get(name);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail(name, absl::StrCat(name, " must be true or false, not ", v->dump()));
    *out = v->get<bool>();
  }
  // An integer in [lo, hi]; a float with an integral value counts.
  bool Int(const std::string& name, int64_t lo, int64_t hi, int64_t* out) {
    const Json* v = Get(name);
    if (v == nullptr) return false;
    int64_t x = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
        Fail(name, absl::StrCat(name, " = ", v->dump(), " is out of range: must be in [", lo, ", ", hi, "]"));
        return false;
      }
      x = v->get<int64_t>();
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 9e15) {
      x = static_cast<int64_t>(v->get<double>());
    } else {
      Fail(name, absl::StrCat(name, " must be an integer, not ", v->dump()));
      return false;
    }
    if (x < lo || x > hi) {
      Fail(name, absl::StrCat(name, " = ", x, " is out of range: must be in [", lo, ", ", hi, "]"));
      return false;
    }
    *out = x;
    return true;
  }
  void Number(const std::string& name, double lo, double hi, bool open_lo, double* out) {
    const Json* v = Get(name);
    if (v == nullptr) return;
    if (!v->is_number()) return Fail(name, absl::StrCat(name, " must be a number, not ", v->dump()));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi || (open_lo && x == lo)) {
      return Fail(name, absl::StrCat(name, " = ", v->dump(), " is out of range: must be in ", open_lo ? "(" : "[",
                                     lo, ", ", hi == std::numeric_limits<double>::max() ? "inf" : absl::StrCat(hi),
                                     hi == std::numeric_limits<double>::max() ? ")" : "]"));
    }
    *out = x;
  }
  // Present only to be refused unless it has its neutral value.
  void Unsupported(const std::string& name, const std::function<bool(const Json&)>& neutral, const std::string& why) {
    const Json* v = Get(name);
    if (v != nullptr && !neutral(*v)) Fail(name, absl::StrCat(name, " is not supported by ssd serve: ", why));
  }
  // Accepted and ignored (they change nothing about the result).
  void Ignore(const std::string& name) { known_.insert(name); }

  void RefuseUnknown() {
    for (auto it = body_.begin(); it != body_.end(); ++it) {
      if (known_.count(it.key()) == 0) {
        return Fail(it.key(), absl::StrCat("unknown field \"", it.key(), "\": not an OpenAI or vLLM request field"));
      }
    }
  }

 private:
  const Json& body_;
  ApiError* error_;
  std::set<std::string> known_;
  bool failed_ = false;
};

bool IsZero(const Json& v) { return v.is_number() && v.get<double>() == 0.0; }
bool IsFalse(const Json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsEmpty(const Json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

bool ParseIds(const Json& v, std::vector<int64_t>* out) {
  for (const Json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0) return false;
    out->push_back(x.get<int64_t>());
  }
  return true;
}

void ParsePrompts(Fields& f, CompletionRequest* r) {
  const Json* p = f.Get("prompt");
  if (p == nullptr) return f.Fail("prompt", "prompt is required");
  auto one = [&](const Json& v) -> bool {
    Prompt out;
    if (v.is_string()) {
      out.text = v.get<std::string>();
    } else if (v.is_array() && !v.empty() && v[0].is_number()) {
      out.is_ids = true;
      if (!ParseIds(v, &out.ids)) return false;
    } else {
      return false;
    }
    r->prompts.push_back(std::move(out));
    return true;
  };
  const char* kShape = "prompt must be a string, an array of token ids, or a non-empty array of either";
  if (p->is_string() || (p->is_array() && !p->empty() && p->front().is_number())) {
    if (!one(*p)) return f.Fail("prompt", kShape);
  } else if (p->is_array() && !p->empty()) {
    if (static_cast<int64_t>(p->size()) > kMaxPrompts) {
      return f.Fail("prompt", absl::StrCat("prompt lists ", p->size(), " prompts; at most ", kMaxPrompts));
    }
    for (const Json& v : *p) {
      if (!one(v)) return f.Fail("prompt", kShape);
    }
  } else {
    return f.Fail("prompt", kShape);
  }
}

void ParseMessages(Fields& f, CompletionRequest* r) {
  const Json* m = f.Get("messages");
  if (m == nullptr) return f.Fail("messages", "messages is required");
  if (!m->is_array() || m->empty()) return f.Fail("messages", "messages must be a non-empty array");
  for (size_t i = 0; i < m->size(); ++i) {
    const Json& msg = (*m)[i];
    const std::string where = absl::StrCat("messages[", i, "]");
    if (!msg.is_object()) return f.Fail(where, absl::StrCat(where, " must be an object"));
    if (!msg.contains("role") || !msg["role"].is_string()) {
      return f.Fail(where + ".role", absl::StrCat(where, ".role must be a string"));
    }
    Json out = Json::object();
    out["role"] = msg["role"];
    // Content: a string, or OpenAI's array of text parts (joined).
    if (msg.contains("content") && msg["content"].is_array()) {
      std::string text;
      for (const Json& part : msg["content"]) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          return f.Fail(where + ".content",
                        absl::StrCat(where, ".content: only text parts ({\"type\": \"text\", \"text\": ...}) are "
                                            "supported"));
        }
        text += part["text"].get<std::string>();
      }
      out["content"] = text;
    } else if (msg.contains("content") && (msg["content"].is_string() || msg["content"].is_null())) {
      out["content"] = msg["content"].is_null() ? Json("") : msg["content"];
    } else {
      return f.Fail(where + ".content", absl::StrCat(where, ".content must be a string or an array of text parts"));
    }
    for (auto it = msg.begin(); it != msg.end(); ++it) {
      if (it.key() != "role" && it.key() != "content") out[it.key()] = it.value();
    }
    r->messages.push_back(std::move(out));
  }
}

Json LogprobsJson(const ResponseHeader& h, const std::vector<ChoiceResult::TokenLogprob>& lps) {
  auto text = [&](int64_t id) { return h.token_text ? h.token_text(id) : std::to_string(id); };
  if (h.endpoint == Endpoint::kChatCompletions) {
    auto bytes = [](const std::string& s) {
      Json b = Json::array();
      for (unsigned char c : s) b.push_back(static_cast<int>(c));
      return b;
    };
    Json content = Json::array();
    for (const auto& lp : lps) {
      const std::string t = text(lp.id);
      Json top = Json::array();
      for (const auto& [id, v] : lp.top) {
        const std::string tt = text(id);
        top.push_back(Json{{"token", tt}, {"logprob", v}, {"bytes", bytes(tt)}});
      }
      content.push_back(Json{{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes(t)}, {"top_logprobs", top}});
    }
    return Json{{"content", content}};
  }
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(),
       offsets = Json::array();
  int64_t offset = 0;
  for (const auto& lp : lps) {
    const std::string t = text(lp.id);
    tokens.push_back(t);
    token_logprobs.push_back(lp.logprob);
    Json top = Json::object();
    for (const auto& [id, v] : lp.top) top[text(id)] = v;
    top_logprobs.push_back(top);
    offsets.push_back(offset);
    offset += static_cast<int64_t>(t.size());
  }
  return Json{{"tokens", tokens},
              {"token_logprobs", token_logprobs},
              {"top_logprobs", top_logprobs},
              {"text_offset", offsets}};
}

Json UsageJson(const Usage& u) {
  return Json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

Json FinishJson(const std::string& reason) { return reason.empty() ? Json(nullptr) : Json(reason); }

}  // namespace

ApiError BadRequest(const std::string& param, const std::string& message) {
  ApiError e;
  e.http_status = 400;
  e.type = "invalid_request_error";
  e.param = param;
  e.message = message;
  return e;
}

std::string DumpJson(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string ErrorJson(const ApiError& e) {
  Json err{{"message", e.message},
           {"type", e.type},
           {"param", e.param.empty() ? Json(nullptr) : Json(e.param)},
           {"code", e.code.empty() ? Json(nullptr) : Json(e.code)}};
  return DumpJson(Json{{"error", err}});
}

std::optional<CompletionRequest> ParseCompletionRequest(Endpoint endpoint, absl::string_view body, ApiError* error) {
  const Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = BadRequest("", "the request body is not valid JSON");
    return std::nullopt;
  }
  if (!j.is_object()) {
    *error = BadRequest("", "the request body must be a JSON object");
    return std::nullopt;
  }
  CompletionRequest r;
  r.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::kChatCompletions;
  Fields f(j, error);
  if (const Json* m = f.Get("model"); m == nullptr || !m->is_string() || m->get<std::string>().empty()) {
    f.Fail("model", "model is required: a served model name (GET /v1/models lists them)");
  } else {
    r.model = m->get<std::string>();
  }
  if (chat) {
    ParseMessages(f, &r);
  } else {
    ParsePrompts(f, &r);
  }
  constexpr int64_t kBig = int64_t{1} << 40;
  int64_t v = 0;
  if (f.Int("max_tokens", 1, kBig, &v)) r.max_tokens = v;
  if (chat && f.Int("max_completion_tokens", 1, kBig, &v)) r.max_tokens = v;
  f.Number("temperature", 0, std::numeric_limits<double>::max(), false, &r.temperature);
  f.Number("top_p", 0, 1, true, &r.top_p);
  f.Int("top_k", -1, kBig, &r.top_k);
  if (r.top_k < 0) r.top_k = 0;
  f.Number("min_p", 0, 1, false, &r.min_p);
  f.Number("repetition_penalty", 0, std::numeric_limits<double>::max(), true, &r.repetition_penalty);
  f.Int("min_tokens", 0, kBig, &r.min_tokens);
  f.Int("n", 1, kMaxChoices, &r.n);
  if (const Json* s = f.Get("seed"); s != nullptr) {
    // OpenAI's seed is any integer; it is the 64-bit stream seed's bits.
    if (s->is_number_unsigned()) {
      r.seed = s->get<uint64_t>();
    } else if (s->is_number_integer()) {
      r.seed = static_cast<uint64_t>(s->get<int64_t>());
    } else {
      f.Fail("seed", absl::StrCat("seed must be an integer, not ", s->dump()));
    }
  }
  if (const Json* s = f.Get("stop"); s != nullptr) {
    std::vector<std::string> stops;
    if (s->is_string()) {
      stops.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      for (const Json& x : *s) {
        if (!x.is_string()) {
          f.Fail("stop", "stop must be a string or an array of strings");
          break;
        }
        stops.push_back(x.get<std::string>());
      }
    } else {
      f.Fail("stop", "stop must be a string or an array of strings");
    }
    if (stops.size() > kMaxStopStrings) {
      f.Fail("stop", absl::StrCat("stop lists ", stops.size(), " strings; at most ", kMaxStopStrings));
    }
    for (const std::string& x : stops) {
      if (x.empty()) f.Fail("stop", "stop: an empty stop string would match everywhere");
    }
    r.stop = std::move(stops);
  }
  if (const Json* s = f.Get("stop_token_ids"); s != nullptr) {
    if (!s->is_array() || !ParseIds(*s, &r.stop_token_ids)) {
      f.Fail("stop_token_ids", "stop_token_ids must be an array of non-negative token ids");
    }
  }
  f.Bool("ignore_eos", &r.ignore_eos);
  f.Bool("stream", &r.stream);
  if (const Json* so = f.Get("stream_options"); so != nullptr) {
    if (!r.stream) f.Fail("stream_options", "stream_options is only allowed with stream: true");
    if (!so->is_object()) {
      f.Fail("stream_options", "stream_options must be an object");
    } else {
      for (auto it = so->begin(); it != so->end(); ++it) {
        if (it.key() == "include_usage" && it->is_boolean()) {
          r.include_usage = it->get<bool>();
        } else if (it.key() != "continuous_usage_stats") {
          f.Fail("stream_options." + it.key(), absl::StrCat("unknown or mistyped field stream_options.", it.key()));
        }
      }
    }
  }
  if (chat) {
    bool want = false;
    f.Bool("logprobs", &want);
    int64_t top = 0;
    const bool has_top = f.Int("top_logprobs", 0, 20, &top);
    if (has_top && !want) f.Fail("top_logprobs", "top_logprobs needs logprobs: true");
    if (want) r.logprobs = top;
    f.Bool("add_generation_prompt", &r.add_generation_prompt);
    if (const Json* k = f.Get("chat_template_kwargs"); k != nullptr) {
      if (!k->is_object()) {
        f.Fail("chat_template_kwargs", "chat_template_kwargs must be an object");
      } else {
        r.chat_template_kwargs = *k;
      }
    }
    f.Unsupported("tools", IsEmpty, "tool calls are not implemented");
    f.Unsupported("tool_choice", [](const Json& v) { return v.is_string() && v.get<std::string>() == "none"; },
                  "tool calls are not implemented");
    f.Unsupported("functions", IsEmpty, "function calls are not implemented");
    f.Unsupported("function_call", [](const Json& v) { return v.is_string() && v.get<std::string>() == "none"; },
                  "function calls are not implemented");
    f.Unsupported("response_format",
                  [](const Json& v) { return v.is_object() && v.value("type", "") == "text"; },
                  "structured output is not implemented");
    f.Unsupported("parallel_tool_calls", [](const Json&) { return true; }, "");
    f.Unsupported("reasoning_effort", [](const Json&) { return false; },
                  "use chat_template_kwargs: {\"enable_thinking\": ...}");
  } else {
    f.Int("logprobs", 0, 20, &r.logprobs);
    f.Unsupported("echo", IsFalse, "the prompt is not echoed");
    f.Unsupported("suffix", [](const Json& v) { return v.is_string() && v.get<std::string>().empty(); },
                  "insertion is not implemented");
    int64_t best_of = r.n;
    if (f.Int("best_of", 1, kMaxChoices, &best_of) && best_of != r.n) {
      f.Fail("best_of", "best_of must equal n (ssd serve returns every sample)");
    }
  }
  f.Bool("return_token_ids", &r.return_token_ids);
  f.Unsupported("presence_penalty", IsZero, "use repetition_penalty");
  f.Unsupported("frequency_penalty", IsZero, "use repetition_penalty");
  f.Unsupported("logit_bias", IsEmpty, "logit bias is not implemented");
  f.Unsupported("skip_special_tokens", [](const Json& v) { return v.is_boolean() && v.get<bool>(); },
                "special tokens are always left out of the text");
  f.Unsupported("include_stop_str_in_output", IsFalse, "stop strings are always cut from the text");
  for (const char* name : {"user", "store", "metadata", "service_tier", "spaces_between_special_tokens"}) f.Ignore(name);
  if (!f.failed()) f.RefuseUnknown();
  if (!f.failed() && r.max_tokens.has_value() && r.min_tokens > *r.max_tokens) {
    f.Fail("min_tokens", absl::StrCat("min_tokens = ", r.min_tokens, " is above max_tokens = ", *r.max_tokens));
  }
  if (f.failed()) return std::nullopt;
  return r;
}

std::string ResponseJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices, const Usage& usage) {
  const bool chat = h.endpoint == Endpoint::kChatCompletions;
  Json cs = Json::array();
  for (const ChoiceResult& c : choices) {
    Json o{{"index", c.index}};
    if (chat) {
      o["message"] = Json{{"role", "assistant"}, {"content", c.text}};
    } else {
      o["text"] = c.text;
    }
    o["logprobs"] = h.logprobs ? LogprobsJson(h, c.logprobs) : Json(nullptr);
    o["finish_reason"] = FinishJson(c.finish_reason);
    if (h.return_token_ids) o["token_ids"] = c.token_ids;
    cs.push_back(std::move(o));
  }
  return DumpJson(Json{{"id", h.id},
                       {"object", chat ? "chat.completion" : "text_completion"},
                       {"created", h.created},
                       {"model", h.model},
                       {"choices", cs},
                       {"usage", UsageJson(usage)}});
}

std::string ChunkJson(const ResponseHeader& h, const ChunkDelta& d) {
  const bool chat = h.endpoint == Endpoint::kChatCompletions;
  Json c{{"index", d.index}};
  if (chat) {
    Json delta = Json::object();
    if (d.role) delta["role"] = "assistant";
    if (!d.text.empty() || !d.role) delta["content"] = d.text;
    if (d.role && d.text.empty()) delta["content"] = "";
    c["delta"] = delta;
  } else {
    c["text"] = d.text;
  }
  c["logprobs"] = h.logprobs && !d.logprobs.empty() ? LogprobsJson(h, d.logprobs) : Json(nullptr);
  c["finish_reason"] = FinishJson(d.finish_reason);
  if (h.return_token_ids) c["token_ids"] = d.token_ids;
  return DumpJson(Json{{"id", h.id},
                       {"object", chat ? "chat.completion.chunk" : "text_completion"},
                       {"created", h.created},
                       {"model", h.model},
                       {"choices", Json::array({c})}});
}

std::string UsageChunkJson(const ResponseHeader& h, const Usage& usage) {
  const bool chat = h.endpoint == Endpoint::kChatCompletions;
  return DumpJson(Json{{"id", h.id},
                       {"object", chat ? "chat.completion.chunk" : "text_completion"},
                       {"created", h.created},
                       {"model", h.model},
                       {"choices", Json::array()},
                       {"usage", UsageJson(usage)}});
}

std::string SseEvent(const std::string& json) { return absl::StrCat("data: ", json, "\n\n"); }

}  // namespace ssd::openai
