// `ssd serve` end to end, over HTTPS with a token: the official OpenAI Node
// SDK (tests/reference/js/openai_client.mjs) runs completions and chat
// completions, streamed and not, n = 4, seeded repeats, greedy parity with
// `ssd model generate` and logprobs against `ssd model logits`; raw HTTP
// checks each kind of bad input with its status and error object, a client
// that drops mid-stream, and a full queue.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"
#include "tests/testing/tiny_model.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

// One `ssd serve` on an ephemeral port, killed with its group at the end.
struct Server {
  std::unique_ptr<BackgroundProcess> process;
  int port = 0;
};

Server StartServer(const std::string& dir, const std::string& name, std::vector<std::string> extra) {
  const std::string port_file = dir + "/" + name + ".port";
  std::vector<std::string> argv = {SsdBinary(), "serve",      "--model",  dir + "/model",     "--served-model-name",
                                   "tiny",      "--listen",   "127.0.0.1:0", "--port-file", port_file,
                                   "--certs",   dir + "/certs", "--threads", "1",           "--max-seqs",
                                   "8",         "--kv-cache-mb", "32"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Server s;
  s.process = std::make_unique<BackgroundProcess>(argv, dir + "/" + name + ".log");
  WaitUntil([&] { return PathExists(port_file); }, 60);
  auto text = ReadFileToString(port_file);
  if (text.ok()) absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &s.port);
  return s;
}

const std::vector<int64_t> kPromptIds = {12, 40, 71, 101, 9, 250, 33};

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("ssd_serve_test");
    dir_ = new std::string(tmp_->path());
    ASSERT_EQ(MakeTinyModel(*dir_ + "/model", 320, 4096), "");
    ProcessResult c = RunProcess({SsdBinary(), "certs", "init", "--out", *dir_ + "/certs"}, 60);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    token_ = new std::string(std::string(absl::StripAsciiWhitespace(*ReadFileToString(*dir_ + "/certs/token"))));
    server_ = new Server(StartServer(*dir_, "serve", {"--max-pending", "8", "--max-body-mb", "1"}));
    ASSERT_GT(server_->port, 0) << server_->process->Log();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete token_;
    delete dir_;
    delete tmp_;
  }

  static std::unique_ptr<httplib::SSLClient> Client(int port) {
    auto cli = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    cli->set_ca_cert_path((*dir_ + "/certs/ca.pem").c_str());
    cli->enable_server_certificate_verification(true);
    cli->set_read_timeout(60);
    return cli;
  }
  static httplib::Headers Auth(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }

  // POSTs `body`, expects `status` and an OpenAI error object; returns it.
  static Json ExpectError(const std::string& path, const std::string& body, int status,
                          const std::string& token = *token_) {
    auto cli = Client(server_->port);
    auto res = cli->Post(path.c_str(), Auth(token), body, "application/json");
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return Json();
    EXPECT_EQ(res->status, status) << res->body;
    const Json j = Json::parse(res->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << res->body;
    if (!j.is_object() || !j.contains("error")) return Json();
    const Json& e = j["error"];
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << res->body;
    EXPECT_TRUE(e["type"].is_string()) << res->body;
    EXPECT_TRUE(e.contains("param") && e.contains("code")) << res->body;
    return e;
  }

  // Runs calls through the OpenAI Node SDK; results by name.
  static std::map<std::string, Json> Sdk(const Json& calls) {
    const std::string js = SourceDir() + "/tests/reference/js";
    EXPECT_TRUE(PathExists(js + "/node_modules/openai/package.json")) << "run deploy/install-deps.sh (npm packages)";
    const std::string path = *dir_ + "/calls.json";
    std::ofstream(path) << calls.dump();
    ProcessResult r = RunProcess({"env", "NODE_EXTRA_CA_CERTS=" + *dir_ + "/certs/ca.pem", "node",
                                  js + "/openai_client.mjs", absl::StrCat("https://127.0.0.1:", server_->port, "/v1"),
                                  *token_, path},
                                 300);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, Json> out;
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      Json j = Json::parse(line);
      out[j["name"].get<std::string>()] = j;
    }
    EXPECT_EQ(out.size(), calls.size()) << r.out << r.err;
    return out;
  }

  // A streamed completion of 4,000 tokens (seconds on the tiny model):
  // long enough to drop or to hold a place while the test acts.
  static httplib::Request LongStream() {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.headers = Auth(*token_);
    req.set_header("Content-Type", "application/json");
    req.body = Json{{"model", "tiny"}, {"prompt", kPromptIds}, {"max_tokens", 4000}, {"ignore_eos", true},
                    {"stream", true}}
                   .dump();
    return req;
  }

  static std::vector<double> LogSoftmax(const std::vector<double>& x) {
    double mx = x[0];
    for (double v : x) mx = std::max(mx, v);
    double sum = 0;
    for (double v : x) sum += std::exp(v - mx);
    std::vector<double> out;
    for (double v : x) out.push_back(v - mx - std::log(sum));
    return out;
  }

  static std::string Metrics() {
    httplib::SSLClient cli("127.0.0.1", server_->port);
    cli.enable_server_certificate_verification(false);
    auto res = cli.Get("/metrics");
    return res ? res->body : "";
  }
  static double Metric(const std::string& text, const std::string& name) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, name + " ")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(name.size() + 1), &v)) return v;
      }
    }
    return -1;
  }

  static ScopedTempDir* tmp_;
  static std::string* dir_;
  static std::string* token_;
  static Server* server_;
};
ScopedTempDir* ServeTest::tmp_ = nullptr;
std::string* ServeTest::dir_ = nullptr;
std::string* ServeTest::token_ = nullptr;
Server* ServeTest::server_ = nullptr;


TEST_F(ServeTest, OpenAiSdkGetsTheSameSeededTextStreamedOrNotRepeatedAndAsChoiceZeroOfN4) {
  const Json sampling = {{"model", "tiny"}, {"max_tokens", 40}, {"temperature", 1.0}, {"top_k", 20}, {"seed", 11}};
  Json comp = sampling, chat = sampling, n4 = sampling;
  comp["prompt"] = "def solve(n):";
  chat["messages"] = Json::array({{{"role", "user"}, {"content", "print the sum"}}});
  chat["chat_template_kwargs"] = {{"enable_thinking", false}};
  n4["prompt"] = "def solve(n):";
  n4["n"] = 4;
  Json stream_usage = comp;
  stream_usage["stream_options"] = {{"include_usage", true}};
  const Json calls = Json::array({
      {{"name", "comp"}, {"endpoint", "completions"}, {"stream", false}, {"body", comp}},
      {{"name", "comp_stream"}, {"endpoint", "completions"}, {"stream", true}, {"body", stream_usage}},
      {{"name", "comp_again"}, {"endpoint", "completions"}, {"stream", false}, {"body", comp}},
      {{"name", "chat"}, {"endpoint", "chat"}, {"stream", false}, {"body", chat}},
      {{"name", "chat_stream"}, {"endpoint", "chat"}, {"stream", true}, {"body", chat}},
      {{"name", "n4"}, {"endpoint", "completions"}, {"stream", false}, {"body", n4}},
      {{"name", "n4_stream"}, {"endpoint", "completions"}, {"stream", true}, {"body", n4}},
  });
  std::map<std::string, Json> r = Sdk(calls);
  for (const auto& [name, res] : r) {
    ASSERT_TRUE(res["ok"].get<bool>()) << name << ": " << res.dump();
    EXPECT_EQ(res["model"], "tiny") << name;
  }
  const std::string text = r["comp"]["choices"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(r["comp_stream"]["choices"][0]["text"], text) << "streamed text differs from the response's";
  EXPECT_EQ(r["comp_again"]["choices"][0]["text"], text) << "a seeded request repeated gives other text";
  EXPECT_EQ(r["comp"]["usage"]["prompt_tokens"], r["comp_stream"]["usage"]["prompt_tokens"]);
  EXPECT_EQ(r["comp"]["usage"]["completion_tokens"], r["comp_stream"]["usage"]["completion_tokens"]);
  EXPECT_EQ(r["comp"]["choices"][0]["finish_reason"], r["comp_stream"]["choices"][0]["finish_reason"]);
  EXPECT_EQ(r["chat_stream"]["choices"][0]["text"], r["chat"]["choices"][0]["text"]);
  EXPECT_EQ(r["chat"]["object"], "chat.completion");

  for (const char* name : {"n4", "n4_stream"}) {
    const Json& choices = r[name]["choices"];
    ASSERT_EQ(choices.size(), 4u) << name;
    std::set<std::string> texts;
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(choices[i]["index"], i) << name;
      EXPECT_TRUE(choices[i]["finish_reason"] == "stop" || choices[i]["finish_reason"] == "length") << name;
      texts.insert(choices[i]["text"].get<std::string>());
    }
    EXPECT_GT(texts.size(), 1u) << name << ": the 4 choices should draw from different streams";
    EXPECT_EQ(choices[0]["text"], text) << name << ": choice 0 of a seeded request is the n = 1 request's sample";
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r["n4"]["choices"][i]["text"], r["n4_stream"]["choices"][i]["text"]) << "choice " << i;
    EXPECT_EQ(r["n4"]["choices"][i]["finish_reason"], r["n4_stream"]["choices"][i]["finish_reason"]);
  }
}

TEST_F(ServeTest, GreedyTokenIdsEqualSsdModelGenerate) {
  Json body = {{"model", "tiny"},       {"prompt", kPromptIds}, {"max_tokens", 24},
               {"temperature", 0},      {"ignore_eos", true},   {"return_token_ids", true}};
  const Json calls = Json::array({{{"name", "greedy"}, {"endpoint", "completions"}, {"stream", false}, {"body", body}},
                                  {{"name", "greedy_stream"}, {"endpoint", "completions"}, {"stream", true},
                                   {"body", body}}});
  std::map<std::string, Json> r = Sdk(calls);
  ProcessResult g = RunProcess({SsdBinary(), "model", "generate", "--model", *dir_ + "/model", "--ids",
                                absl::StrJoin(kPromptIds, ","), "--max-new-tokens", "24", "--ignore-eos"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const Json want = Json::parse(g.out);
  ASSERT_TRUE(r["greedy"]["ok"].get<bool>()) << r["greedy"].dump();
  EXPECT_EQ(r["greedy"]["choices"][0]["token_ids"], want);
  EXPECT_EQ(r["greedy_stream"]["choices"][0]["token_ids"], want);
  EXPECT_EQ(r["greedy"]["usage"]["completion_tokens"], 24);
}

TEST_F(ServeTest, LogprobsEqualTheSoftmaxOfSsdModelLogitsWithin1e4) {
  Json comp = {{"model", "tiny"},  {"prompt", kPromptIds}, {"max_tokens", 5},       {"temperature", 0.9},
               {"seed", 3},        {"logprobs", 3},        {"return_token_ids", true}};
  Json chat = {{"model", "tiny"},
               {"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})},
               {"max_tokens", 4},
               {"seed", 4},
               {"logprobs", true},
               {"top_logprobs", 2},
               {"return_token_ids", true}};
  const Json calls = Json::array({{{"name", "comp"}, {"endpoint", "completions"}, {"stream", false}, {"body", comp}},
                                  {{"name", "chat"}, {"endpoint", "chat"}, {"stream", false}, {"body", chat}}});
  std::map<std::string, Json> r = Sdk(calls);
  ASSERT_TRUE(r["comp"]["ok"].get<bool>()) << r["comp"].dump();
  const Json& c = r["comp"]["choices"][0];
  const std::vector<int64_t> ids = c["token_ids"];
  ASSERT_EQ(ids.size(), 5u);
  std::vector<int64_t> context = kPromptIds;
  for (size_t t = 0; t < ids.size(); ++t) {
    ProcessResult l = RunProcess(
        {SsdBinary(), "model", "logits", "--model", *dir_ + "/model", "--ids", absl::StrJoin(context, ",")});
    ASSERT_EQ(l.exit_code, 0) << l.err;
    const std::vector<double> lsm = LogSoftmax(Json::parse(l.out).get<std::vector<double>>());
    EXPECT_NEAR(c["logprobs"]["token_logprobs"][t].get<double>(), lsm[ids[t]], 1e-4) << "token " << t;
    // Each alternative is one of the 3 most likely tokens. (Completions key
    // them by token text, so two tokens that render alike share one key;
    // the engine's own test checks the list itself.)
    std::vector<double> sorted = lsm;
    std::sort(sorted.rbegin(), sorted.rend());
    ASSERT_FALSE(c["logprobs"]["top_logprobs"][t].empty());
    for (auto& [tok, v] : c["logprobs"]["top_logprobs"][t].items()) {
      const double x = v.get<double>();
      EXPECT_TRUE(std::fabs(x - sorted[0]) < 1e-4 || std::fabs(x - sorted[1]) < 1e-4 || std::fabs(x - sorted[2]) < 1e-4)
          << "token " << t << ": alternative " << x << " is not among the 3 most likely";
    }
    context.push_back(ids[t]);
  }
  ASSERT_TRUE(r["chat"]["ok"].get<bool>()) << r["chat"].dump();
  const Json& content = r["chat"]["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), r["chat"]["choices"][0]["token_ids"].size());
  for (const Json& tok : content) {
    EXPECT_LE(tok["logprob"].get<double>(), 0.0);
    EXPECT_EQ(tok["top_logprobs"].size(), 2u);
    EXPECT_GE(tok["top_logprobs"][0]["logprob"].get<double>(), tok["logprob"].get<double>() - 1e-6);
  }
}

TEST_F(ServeTest, MalformedJsonIs400WithAnErrorObject) {
  const Json e = ExpectError("/v1/completions", "{\"model\": \"tiny\", \"prompt\": ", 400);
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_NE(e["message"].get<std::string>().find("not valid JSON"), std::string::npos);
}

TEST_F(ServeTest, UnknownOrOutOfRangeFieldIs400NamingTheField) {
  EXPECT_EQ(ExpectError("/v1/completions", R"({"model": "tiny", "prompt": "x", "temprature": 0.5})", 400)["param"],
            "temprature");
  EXPECT_EQ(ExpectError("/v1/chat/completions",
                        R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_p": 1.5})", 400)["param"],
            "top_p");
  EXPECT_EQ(ExpectError("/v1/completions", R"({"model": "tiny", "prompt": [1, 2, 99999]})", 400)["param"], "prompt");
  EXPECT_EQ(
      ExpectError("/v1/completions", R"({"model": "tiny", "prompt": "x", "stop_token_ids": [99999]})", 400)["param"],
      "stop_token_ids");
}

TEST_F(ServeTest, MissingOrWrongTokenIs401) {
  EXPECT_EQ(ExpectError("/v1/completions", R"({"model": "tiny", "prompt": "x"})", 401, "")["code"], "invalid_api_key");
  EXPECT_EQ(ExpectError("/v1/completions", R"({"model": "tiny", "prompt": "x"})", 401, "wrong-token-0123456789")["code"],
            "invalid_api_key");
  auto cli = Client(server_->port);
  auto res = cli->Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  auto health = cli->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << "probes need no token";
}

TEST_F(ServeTest, UnknownModelOrRouteIs404) {
  const Json e = ExpectError("/v1/completions", R"({"model": "gpt-4", "prompt": "x"})", 404);
  EXPECT_EQ(e["param"], "model");
  EXPECT_EQ(e["code"], "model_not_found");
  ExpectError("/v1/embeddings", R"({"model": "tiny", "input": "x"})", 404);
}

TEST_F(ServeTest, PromptLongerThanTheContextIs400) {
  std::vector<int64_t> ids(4200, 17);
  const Json e = ExpectError("/v1/completions", Json{{"model", "tiny"}, {"prompt", ids}}.dump(), 400);
  EXPECT_EQ(e["param"], "prompt");
  EXPECT_NE(e["message"].get<std::string>().find("context is 4096"), std::string::npos) << e.dump();
}

TEST_F(ServeTest, BodyOverTheLimitIs413) {
  const std::string big = Json{{"model", "tiny"}, {"prompt", std::string(2 << 20, 'a')}}.dump();
  const Json e = ExpectError("/v1/completions", big, 413);
  EXPECT_EQ(e["code"], "request_too_large");
}

TEST_F(ServeTest, ClientDroppingMidStreamFreesItsSequenceAndTheServerGoesOn) {
  const double cancelled_before = Metric(Metrics(), "ssd_serve_requests_cancelled_total");
  auto cli = Client(server_->port);
  httplib::Request req = LongStream();
  std::string got;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    got.append(data, n);
    return got.find("data: ") == std::string::npos;  // stop reading after the first event
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  cli->send(req, res, err);
  cli->stop();
  ASSERT_NE(got.find("data: "), std::string::npos) << "no event before the drop";
  EXPECT_EQ(got.find("[DONE]"), std::string::npos) << "the stream finished before the drop; make it longer";
  cli.reset();
  std::string m;
  EXPECT_TRUE(WaitUntil(
      [&] {
        m = Metrics();
        return Metric(m, "ssd_serve_requests_cancelled_total") == cancelled_before + 1 &&
               Metric(m, "ssd_serve_running_requests") == 0 && Metric(m, "ssd_serve_running_sequences") == 0;
      },
      30))
      << m;
  // Still serving.
  auto again = Client(server_->port)->Post("/v1/completions", Auth(*token_),
                                            R"({"model": "tiny", "prompt": "def", "max_tokens": 3})", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
}

TEST_F(ServeTest, AFullQueueIs429AndFreesUpWhenTheRequestEnds) {
  Server small = StartServer(*dir_, "small", {"--max-pending", "1"});
  ASSERT_GT(small.port, 0) << small.process->Log();
  // A long stream holds the one place; a second request is refused.
  auto holder = Client(small.port);
  httplib::Request req = LongStream();
  int status = 0;
  std::string refusal;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
    if (status == 0) {
      auto other = Client(small.port)->Post("/v1/completions", Auth(*token_),
                                             R"({"model": "tiny", "prompt": "x", "max_tokens": 2})", "application/json");
      status = other ? other->status : -1;
      refusal = other ? other->body : "";
    }
    return false;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  holder->send(req, res, err);
  holder->stop();
  EXPECT_EQ(status, 429) << refusal;
  const Json e = Json::parse(refusal, nullptr, false);
  EXPECT_EQ(e["error"]["code"], "rate_limit_exceeded") << refusal;
  // Once the dropped stream is cancelled, the place is free again.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto r = Client(small.port)->Post("/v1/completions", Auth(*token_),
                                          R"({"model": "tiny", "prompt": "x", "max_tokens": 2})", "application/json");
        return r && r->status == 200;
      },
      30));
}

TEST_F(ServeTest, UpdateWeightsFromDiskServesTheNewFolderAsTheNextVersionAndRefusesAnotherArchitecture) {
  const std::string v1 = *dir_ + "/model-v1", other = *dir_ + "/model-3-layers";
  for (const auto& [out, layers, seed] : {std::tuple<std::string, std::string, std::string>{v1, "2", "9"},
                                          {other, "3", "0"}}) {
    ProcessResult init = RunProcess({SsdBinary(), "model", "init", "--tokenizer", *dir_ + "/model", "--vocab", "320", "--hidden", "64",
                                     "--layers", layers, "--init-std", "0.2", "--seed", seed,
                                     "--max-position-embeddings", "4096", "--out", out});
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  Server s = StartServer(*dir_, "reload", {});
  ASSERT_GT(s.port, 0) << s.process->Log();
  auto greedy = [&]() {
    auto r = Client(s.port)->Post("/v1/completions", Auth(*token_),
                                  Json{{"model", "tiny"}, {"prompt", kPromptIds}, {"max_tokens", 12},
                                       {"temperature", 0}, {"ignore_eos", true}, {"return_token_ids", true}}
                                      .dump(),
                                  "application/json");
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r ? Json::parse(r->body)["choices"][0]["token_ids"] : Json();
  };
  const Json before = greedy();
  auto reload = Client(s.port)->Post("/update_weights_from_disk", Auth(*token_), Json{{"model_path", v1}}.dump(),
                                     "application/json");
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 200) << reload->body;
  EXPECT_NE(reload->body.find("version 1"), std::string::npos) << reload->body;
  auto models = Client(s.port)->Get("/v1/models", Auth(*token_));
  ASSERT_TRUE(models);
  EXPECT_EQ(Json::parse(models->body)["data"][0]["root"], v1);
  const Json after = greedy();
  EXPECT_NE(after, before);
  ProcessResult g = RunProcess({SsdBinary(), "model", "generate", "--model", v1, "--ids",
                                absl::StrJoin(kPromptIds, ","), "--max-new-tokens", "12", "--ignore-eos"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(after, Json::parse(g.out)) << "the reloaded weights are the folder's";
  auto bad = Client(s.port)->Post("/update_weights_from_disk", Auth(*token_), Json{{"model_path", other}}.dump(),
                                  "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("another architecture"), std::string::npos) << bad->body;
  EXPECT_EQ(greedy(), after) << "a refused reload changes nothing";
  auto no_token = Client(s.port)->Post("/update_weights_from_disk", Json{{"model_path", v1}}.dump(),
                                       "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
}

}  // namespace
}  // namespace ssd
