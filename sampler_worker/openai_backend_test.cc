// OpenAiBackend against a scripted OpenAI-compatible server in this process
// (cpp-httplib on 127.0.0.1): what each request carries, retries, a 4xx, a
// server that stays down and comes back, a response from another model, and
// the reload and fixed-server ways of taking a new version.
#include "sampler_worker/openai_backend.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/model/model_config.h"
#include "common/model/test_models.h"
#include "common/sampling/philox.h"
#include "common/sampling/prompt_model.h"
#include "common/tokenizer/bpe_trainer.h"
#include "common/util/file_util.h"
#include "nlohmann/json.hpp"
#include "sampler_worker/problem_prompt.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

using Json = nlohmann::json;

// A server whose /v1/completions answer comes from `reply` (status, body);
// it records every request body.
class FakeServer {
 public:
  using Reply = std::function<std::pair<int, std::string>(const Json& body)>;
  explicit FakeServer(int port = 0) {
    server_.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) {
      const Json body = Json::parse(q.body);
      Reply reply;
      {
        absl::MutexLock lock(&mu_);
        bodies_.push_back(body);
        reply = reply_;
      }
      auto [status, text] = reply(body);
      r.status = status;
      r.set_content(text, "application/json");
    });
    server_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& r) {
      absl::MutexLock lock(&mu_);
      r.set_content(Json{{"object", "list"}, {"data", Json::array({{{"id", model_}, {"root", root_}}})}}.dump(),
                    "application/json");
    });
    server_.Post("/update_weights_from_disk", [this](const httplib::Request& q, httplib::Response& r) {
      absl::MutexLock lock(&mu_);
      reloads_.push_back(Json::parse(q.body)["model_path"]);
      if (follow_reload_) root_ = reloads_.back();
      r.set_content(R"({"success": true})", "application/json");
    });
    port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1") : (server_.bind_to_port("127.0.0.1", port) ? port : -1);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  void SetReply(Reply r) {
    absl::MutexLock lock(&mu_);
    reply_ = std::move(r);
  }
  void SetModel(const std::string& model, const std::string& root) {
    absl::MutexLock lock(&mu_);
    model_ = model;
    root_ = root;
  }
  void FollowReloads(bool on) {
    absl::MutexLock lock(&mu_);
    follow_reload_ = on;
  }
  std::vector<Json> bodies() {
    absl::MutexLock lock(&mu_);
    return bodies_;
  }
  std::vector<std::string> reloads() {
    absl::MutexLock lock(&mu_);
    return reloads_;
  }

  // A well-formed answer for `body`, as `model`.
  static std::pair<int, std::string> Ok(const Json& body, const std::string& model) {
    const Json r = {{"id", "cmpl-1"},
                    {"object", "text_completion"},
                    {"model", model},
                    {"choices", Json::array({{{"index", 0},
                                              {"text", absl::StrCat("answer ", body["seed"].dump())},
                                              {"finish_reason", "length"}}})},
                    {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 7}, {"total_tokens", 10}}}};
    return {200, r.dump()};
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  absl::Mutex mu_;
  Reply reply_ ABSL_GUARDED_BY(mu_);
  std::vector<Json> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> reloads_ ABSL_GUARDED_BY(mu_);
  std::string model_ ABSL_GUARDED_BY(mu_) = "served";
  std::string root_ ABSL_GUARDED_BY(mu_) = "";
  bool follow_reload_ ABSL_GUARDED_BY(mu_) = true;
};

class OpenAiBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<ScopedTempDir>("ssd_openai_backend_test");
    for (const char* v : {"v0", "v1"}) {
      const std::string dir = tmp_->Join(v);
      std::string corpus;
      for (int i = 0; i < 30; ++i) corpus += "def f(x):\n    return x + 1\nprint(f(2))\n";
      BpeTrainerOptions o;
      o.vocab_size = 300;
      ASSERT_TRUE(TrainBpeTokenizer(corpus, o, dir).ok());
      ModelConfig c = TinyConfig(ModelArch::kQwen3);
      c.vocab_size = 320;
      c.eos_token_ids = {5};
      ASSERT_TRUE(WriteFileAtomically(JoinPath(dir, "config.json"), ModelConfigToJson(c)).ok());
    }
    problem_.set_id("lcb/7");
    problem_.set_messages_json(R"([{"role": "user", "content": "print 3"}])");
    problem_.set_max_tokens(20);
  }

  OpenAiBackendOptions Options(int port) const {
    OpenAiBackendOptions o;
    o.url = absl::StrCat("http://127.0.0.1:", port, "/v1");
    o.retry_window_s = 1.5;
    o.max_concurrency = 3;
    return o;
  }

  static v1::WeightsRef Ref(int version) {
    v1::WeightsRef r;
    r.set_job_id("job-000001");
    r.set_version(version);
    return r;
  }

  BackendRequest Request(std::vector<int64_t> indices) const {
    BackendRequest r;
    r.problem = &problem_;
    r.sample_indices = std::move(indices);
    r.settings.temperature = 1.6;
    r.settings.top_k = 0;
    r.settings.top_p = 0.8;
    r.settings.max_tokens = 64;
    r.settings.seed = 42;
    r.settings.stop = {"```\n"};
    return r;
  }

  absl::Status Generate(GenerationBackend& b, std::vector<BackendSample>* out, std::vector<int64_t> indices = {0, 1, 2}) {
    std::atomic<bool> cancel{false};
    return b.Generate({Request(std::move(indices))}, /*enable_thinking=*/false,
                      [&](BackendSample s) { out->push_back(std::move(s)); }, &cancel);
  }

  std::unique_ptr<ScopedTempDir> tmp_;
  v1::Problem problem_;
};

TEST_F(OpenAiBackendTest, EachSampleIsOneRequestWithItsStreamSeedTheLocalPromptIdsAndStopIds) {
  FakeServer server;
  server.SetReply([](const Json& b) { return FakeServer::Ok(b, "served"); });
  auto backend = MakeOpenAiBackend(Options(server.port()));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  std::vector<BackendSample> got;
  ASSERT_TRUE(Generate(*backend, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  auto pm = LoadPromptModel(tmp_->Join("v0"));
  ASSERT_TRUE(pm.ok()) << pm.status();
  auto ids = ProblemPromptIds(problem_, pm->chat.get(), *pm->tokenizer, false);
  ASSERT_TRUE(ids.ok());
  std::set<int64_t> seeds;
  for (const Json& b : server.bodies()) {
    EXPECT_EQ(b["model"], "served");
    EXPECT_EQ(b["n"], 1);
    EXPECT_EQ(b["prompt"].get<std::vector<int64_t>>(), *ids);
    EXPECT_EQ(b["max_tokens"], 20) << "the problem's own max_tokens wins";
    EXPECT_EQ(b["top_k"], -1) << "off, as vLLM spells it";
    EXPECT_EQ(b["stop"], Json::array({"```\n"}));
    EXPECT_EQ(b["stop_token_ids"].get<std::vector<int64_t>>(), pm->default_stop_ids);
    seeds.insert(b["seed"].get<int64_t>());
  }
  std::set<int64_t> want;
  for (uint32_t i = 0; i < 3; ++i) want.insert(static_cast<int64_t>(SampleStreamSeed(42, PromptKey("lcb/7"), i)));
  EXPECT_EQ(seeds, want);
  for (const BackendSample& s : got) {
    EXPECT_EQ(s.problem_id, "lcb/7");
    EXPECT_EQ(s.num_tokens, 7);
    EXPECT_EQ(s.finish_reason, v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(s.weights_version, 0);
    EXPECT_EQ(s.text, absl::StrCat("answer ", static_cast<int64_t>(SampleStreamSeed(42, PromptKey("lcb/7"),
                                                                                    static_cast<uint32_t>(s.sample_index)))));
  }
  EXPECT_EQ(backend->stats().backend_requests, 3);
  auto size = backend->SizeTrainingConversation(problem_, "print(3)", 1024, false);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_GT(size->loss_tokens, 0);
}

TEST_F(OpenAiBackendTest, A5xxIsRetriedUntilTheServerAnswers) {
  FakeServer server;
  std::atomic<int> calls{0};
  server.SetReply([&](const Json& b) -> std::pair<int, std::string> {
    if (calls.fetch_add(1) < 2) return {503, R"({"error": {"message": "warming up"}})"};
    return FakeServer::Ok(b, "served");
  });
  auto backend = MakeOpenAiBackend(Options(server.port()));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  std::vector<BackendSample> got;
  ASSERT_TRUE(Generate(*backend, &got, {0}).ok());
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(backend->stats().backend_errors, 2);
  EXPECT_TRUE(backend->Health().ok());
}

TEST_F(OpenAiBackendTest, A4xxFailsTheShardAtOnceWithTheServersMessage) {
  FakeServer server;
  server.SetReply([](const Json&) -> std::pair<int, std::string> {
    return {400, R"({"error": {"message": "top_p = 0.8 is out of range", "param": "top_p"}})"};
  });
  auto backend = MakeOpenAiBackend(Options(server.port()));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  std::vector<BackendSample> got;
  const absl::Status s = Generate(*backend, &got, {0});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("top_p = 0.8 is out of range"), std::string::npos) << s;
  EXPECT_NE(s.message().find("lcb/7"), std::string::npos) << s;
  EXPECT_EQ(server.bodies().size(), 1u) << "a 4xx is not retried";
  EXPECT_TRUE(backend->Health().ok()) << "a bad request says nothing about the server";
}

TEST_F(OpenAiBackendTest, AServerThatStaysDownFailsTheShardAndIsUnhealthyUntilItAnswersAgain) {
  int port = 0;
  auto server = std::make_unique<FakeServer>();
  port = server->port();
  server->SetReply([](const Json& b) { return FakeServer::Ok(b, "served"); });
  auto backend = MakeOpenAiBackend(Options(port));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  server.reset();  // down
  std::vector<BackendSample> got;
  const absl::Status s = Generate(*backend, &got, {0, 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find(absl::StrCat("http://127.0.0.1:", port, "/v1 failed for")), std::string::npos) << s;
  const absl::Status h = backend->Health();
  EXPECT_FALSE(h.ok());
  EXPECT_NE(h.message().find("is down"), std::string::npos) << h;
  // Back on the same port: the next probe finds it.
  FakeServer again(port);
  ASSERT_EQ(again.port(), port);
  again.SetReply([](const Json& b) { return FakeServer::Ok(b, "served"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(backend->Health().ok());
  got.clear();
  EXPECT_TRUE(Generate(*backend, &got, {0, 1}).ok());
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(OpenAiBackendTest, AResponseFromAModelThatIsNoLoadedVersionFailsTheShard) {
  FakeServer server;
  server.SetReply([](const Json& b) { return FakeServer::Ok(b, "someone-else"); });
  auto backend = MakeOpenAiBackend(Options(server.port()));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  std::vector<BackendSample> got;
  const absl::Status s = Generate(*backend, &got, {0});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("\"someone-else\""), std::string::npos) << s;
  EXPECT_TRUE(got.empty());
}

TEST_F(OpenAiBackendTest, AFixedServerTakesOnlyVersionZero) {
  FakeServer server;
  auto backend = MakeOpenAiBackend(Options(server.port()));
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  const absl::Status s = backend->Use(Ref(1), tmp_->Join("v1"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("--backend-command"), std::string::npos) << s;
}

TEST_F(OpenAiBackendTest, ReloadModePostsEachVersionsFolderAndChecksTheServedRoot) {
  FakeServer server;
  server.SetModel("policy", tmp_->Join("v0"));
  server.SetReply([](const Json& b) { return FakeServer::Ok(b, "policy"); });
  OpenAiBackendOptions o = Options(server.port());
  o.reload_url = absl::StrCat("http://127.0.0.1:", server.port(), "/update_weights_from_disk");
  auto backend = MakeOpenAiBackend(o);
  ASSERT_TRUE(backend->Use(Ref(0), tmp_->Join("v0")).ok());
  ASSERT_TRUE(backend->Use(Ref(1), tmp_->Join("v1")).ok());
  EXPECT_EQ(server.reloads(), (std::vector<std::string>{tmp_->Join("v0"), tmp_->Join("v1")}));
  std::vector<BackendSample> got;
  ASSERT_TRUE(Generate(*backend, &got, {0}).ok());
  EXPECT_EQ(got.at(0).weights_version, 1) << "the version the server reported serving";
  // A server that acknowledges but keeps serving the old folder is caught.
  server.FollowReloads(false);
  v1::WeightsRef v2 = Ref(2);
  const absl::Status s = backend->Use(v2, tmp_->Join("v0") + "/../v0");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("after the reload"), std::string::npos) << s;
}

TEST_F(OpenAiBackendTest, OptionsNameTheBadFlag) {
  OpenAiBackendOptions o;
  EXPECT_NE(o.Validate().message().find("--backend-url"), std::string::npos);
  o.url = "ftp://x";
  EXPECT_NE(o.Validate().message().find("http://"), std::string::npos);
  o.url = "http://127.0.0.1:8000/v1";
  o.max_concurrency = 0;
  EXPECT_NE(o.Validate().message().find("--backend-max-concurrency"), std::string::npos);
  o.max_concurrency = 4;
  o.command = "vllm serve --port {port}";
  EXPECT_NE(o.Validate().message().find("{model}"), std::string::npos);
  o.command = "vllm serve {model} --port {port}";
  o.reload_url = "http://127.0.0.1:1/update_weights_from_disk";
  EXPECT_NE(o.Validate().message().find("give one"), std::string::npos);
  o.reload_url.clear();
  EXPECT_TRUE(o.Validate().ok());
}

}  // namespace
}  // namespace ssd
