#include "sampler_worker/openai/openai_protocol.h"

#include <gtest/gtest.h>

namespace ssd::openai {
namespace {

using Json = nlohmann::ordered_json;

std::optional<CompletionRequest> Parse(Endpoint e, const std::string& body, ApiError* err) {
  return ParseCompletionRequest(e, body, err);
}

// The refusal of `body`, which must name `param`.
void ExpectRefused(Endpoint e, const std::string& body, const std::string& param, const std::string& says) {
  ApiError err;
  EXPECT_FALSE(Parse(e, body, &err).has_value()) << body;
  EXPECT_EQ(err.http_status, 400) << body;
  EXPECT_EQ(err.param, param) << body << " -> " << err.message;
  EXPECT_NE(err.message.find(says), std::string::npos) << body << " -> " << err.message;
}

TEST(OpenAiProtocolTest, CompletionFieldsTakeOpenAiAndVllmMeaningsAndDefaults) {
  ApiError err;
  auto r = Parse(Endpoint::kCompletions,
                 R"({"model": "m", "prompt": "def f(", "temperature": 0.7, "top_p": 0.95, "top_k": -1, "n": 3,
                     "seed": -5, "stop": "\n\n", "max_tokens": 40, "logprobs": 2, "min_p": 0.05,
                     "repetition_penalty": 1.1, "min_tokens": 3, "stop_token_ids": [7], "stream": true,
                     "stream_options": {"include_usage": true}, "user": "x", "presence_penalty": 0,
                     "logit_bias": {}, "echo": false, "best_of": 3})",
                 &err);
  ASSERT_TRUE(r.has_value()) << err.message;
  EXPECT_EQ(r->model, "m");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text, "def f(");
  EXPECT_EQ(r->temperature, 0.7);
  EXPECT_EQ(r->top_k, 0) << "-1 is vLLM's off";
  EXPECT_EQ(r->n, 3);
  EXPECT_EQ(*r->seed, static_cast<uint64_t>(int64_t{-5}));
  EXPECT_EQ(r->stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(*r->max_tokens, 40);
  EXPECT_EQ(r->logprobs, 2);
  EXPECT_EQ(r->min_tokens, 3);
  EXPECT_EQ(r->stop_token_ids, std::vector<int64_t>{7});
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);

  auto ids = Parse(Endpoint::kCompletions, R"({"model": "m", "prompt": [[1, 2], "text", [3]]})", &err);
  ASSERT_TRUE(ids.has_value()) << err.message;
  ASSERT_EQ(ids->prompts.size(), 3u);
  EXPECT_TRUE(ids->prompts[0].is_ids);
  EXPECT_EQ(ids->prompts[2].ids, std::vector<int64_t>{3});
  EXPECT_FALSE(ids->max_tokens.has_value());
}

TEST(OpenAiProtocolTest, ChatJoinsTextPartsAndTakesTemplateKwargsAndTopLogprobs) {
  ApiError err;
  auto r = Parse(Endpoint::kChatCompletions,
                 R"({"model": "m", "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                     "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 4,
                     "chat_template_kwargs": {"enable_thinking": false}})",
                 &err);
  ASSERT_TRUE(r.has_value()) << err.message;
  EXPECT_EQ(r->messages[1]["content"], "ab");
  EXPECT_EQ(*r->max_tokens, 9);
  EXPECT_EQ(r->logprobs, 4);
  EXPECT_EQ(r->chat_template_kwargs["enable_thinking"], false);
}

TEST(OpenAiProtocolTest, EveryRefusalNamesItsField) {
  const Endpoint C = Endpoint::kCompletions, H = Endpoint::kChatCompletions;
  ExpectRefused(C, "{not json", "", "not valid JSON");
  ExpectRefused(C, "[1]", "", "JSON object");
  ExpectRefused(C, R"({"prompt": "x"})", "model", "model is required");
  ExpectRefused(C, R"({"model": "m"})", "prompt", "prompt is required");
  ExpectRefused(C, R"({"model": "m", "prompt": {"a": 1}})", "prompt", "prompt must be");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "temprature": 1})", "temprature", "unknown field");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "temperature": -1})", "temperature", "out of range");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "temperature": "hot"})", "temperature", "must be a number");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "top_p": 0})", "top_p", "out of range");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "n": 0})", "n", "out of range");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "n": 1.5})", "n", "must be an integer");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "max_tokens": 0})", "max_tokens", "out of range");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "logprobs": 21})", "logprobs", "out of range");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "stop": ""})", "stop", "empty stop string");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "stop": [1]})", "stop", "array of strings");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "presence_penalty": 0.5})", "presence_penalty",
                "not supported");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "logit_bias": {"5": 1}})", "logit_bias", "not supported");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "echo": true})", "echo", "not supported");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "stream_options": {"include_usage": true}})", "stream_options",
                "only allowed with stream");
  ExpectRefused(C, R"({"model": "m", "prompt": "x", "min_tokens": 5, "max_tokens": 4})", "min_tokens",
                "above max_tokens");
  ExpectRefused(H, R"({"model": "m", "messages": []})", "messages", "non-empty");
  ExpectRefused(H, R"({"model": "m", "messages": [{"content": "x"}]})", "messages[0].role", "role");
  ExpectRefused(H, R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                "messages[0].content", "only text parts");
  ExpectRefused(H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
                "top_logprobs", "needs logprobs");
  ExpectRefused(H, R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{}]})", "tools",
                "not supported");
}

TEST(OpenAiProtocolTest, ResponsesChunksAndErrorsHaveOpenAisShape) {
  ResponseHeader h;
  h.endpoint = Endpoint::kChatCompletions;
  h.id = "chatcmpl-1";
  h.created = 7;
  h.model = "m";
  h.logprobs = true;
  h.token_text = [](int64_t id) { return id == 1 ? std::string("\xe2\x80") : "t" + std::to_string(id); };
  ChoiceResult c;
  c.text = "hi";
  c.finish_reason = "stop";
  c.logprobs.push_back({1, -0.5f, {{1, -0.5f}, {2, -1.5f}}});
  const Json j = Json::parse(ResponseJson(h, {c}, Usage{5, 1}));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 6);
  const Json& lp = j["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(lp["bytes"], Json::array({0xe2, 0x80})) << "bytes keep what the replaced text cannot";
  EXPECT_EQ(lp["top_logprobs"][1]["token"], "t2");

  ChunkDelta d;
  d.index = 2;
  d.role = true;
  const Json first = Json::parse(ChunkJson(h, d));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(SseEvent("{}"), "data: {}\n\n");

  h.endpoint = Endpoint::kCompletions;
  const Json text = Json::parse(ResponseJson(h, {c}, Usage{5, 1}));
  EXPECT_EQ(text["choices"][0]["text"], "hi");
  EXPECT_EQ(text["choices"][0]["logprobs"]["token_logprobs"][0], -0.5);
  EXPECT_EQ(text["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);

  const Json e = Json::parse(ErrorJson(BadRequest("top_p", "top_p = 3 is out of range")));
  EXPECT_EQ(e["error"]["param"], "top_p");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(e["error"]["code"].is_null());
}

}  // namespace
}  // namespace ssd::openai
