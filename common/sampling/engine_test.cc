#include "common/sampling/engine.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/model/generate.h"
#include "common/model/test_models.h"
#include "common/sampling/philox.h"
#include "common/tokenizer/bpe_trainer.h"
#include "common/util/file_util.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

using Results = std::map<std::pair<std::string, int64_t>, SampleResult>;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Two threads, so kernels and the per-row draws really run in parallel.
    at::set_num_threads(2);
    // A small real byte-level BPE tokenizer, so text and stop strings work.
    std::string corpus;
    for (int i = 0; i < 50; ++i) {
      corpus += "def f(x):\n    return x * 2 + 1\nprint(f(3))\nfor i in range(10):\n    total += i\n";
    }
    tmp_ = new ScopedTempDir("ssd_engine_test_tok");
    dir_ = new std::string(tmp_->path());
    BpeTrainerOptions o;
    o.vocab_size = 300;
    ASSERT_TRUE(TrainBpeTokenizer(corpus, o, *dir_).ok());
    auto t = Tokenizer::Load(JoinPath(*dir_, "tokenizer.json"));
    ASSERT_TRUE(t.ok()) << t.status();
    tokenizer_ = t->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete dir_;
    delete tmp_;
  }

  static std::shared_ptr<const Decoder> Model(uint64_t seed = 7, bool invariant = true,
                                              ModelArch arch = ModelArch::kQwen3) {
    ModelConfig c = TinyConfig(arch);
    c.vocab_size = tokenizer_->vocab_size();
    DecoderOptions o;
    o.batch_invariant = invariant;
    auto m = Decoder::RandomInit(c, seed, 0.3, o);
    CHECK(m.ok());
    return std::shared_ptr<const Decoder>(std::move(*m));
  }

  static std::unique_ptr<Engine> MakeEngine(std::shared_ptr<const Decoder> model, EngineOptions o = {}) {
    if (o.kv_cache_mb == EngineOptions().kv_cache_mb) o.kv_cache_mb = 16;
    auto e = Engine::Create(std::move(model), tokenizer_, o);
    CHECK(e.ok()) << e.status();
    return std::move(*e);
  }

  static GenerationRequest Request(const std::string& id, int64_t n, int64_t max_tokens, int prompt_len = 9) {
    GenerationRequest r;
    r.id = id;
    std::mt19937 gen(static_cast<uint32_t>(std::hash<std::string>()(id)));
    for (int i = 0; i < prompt_len; ++i) r.prompt_ids.push_back(gen() % tokenizer_->vocab_size());
    r.params.n = n;
    r.params.temperature = 1.5;
    r.params.top_k = 20;
    r.params.top_p = 0.8;
    r.params.max_tokens = max_tokens;
    r.params.seed = 42;
    return r;
  }

  static Results Collect(Engine& e) {
    Results out;
    e.RunUntilDone([&](SampleResult r) { out[{r.prompt_id, r.sample_index}] = std::move(r); });
    return out;
  }

  static void ExpectSameSample(const SampleResult& a, const SampleResult& b, const std::string& what) {
    EXPECT_EQ(a.ids, b.ids) << what;
    EXPECT_EQ(a.text, b.text) << what;
    EXPECT_EQ(a.finish_reason, b.finish_reason) << what;
    EXPECT_EQ(a.cumulative_logprob, b.cumulative_logprob) << what;
  }

  static ScopedTempDir* tmp_;
  static std::string* dir_;
  static Tokenizer* tokenizer_;
  at::NoGradGuard no_grad_;
};
ScopedTempDir* EngineTest::tmp_ = nullptr;
std::string* EngineTest::dir_ = nullptr;
Tokenizer* EngineTest::tokenizer_ = nullptr;

TEST_F(EngineTest, GreedyOutputEqualsGreedyGenerate) {
  auto model = Model();
  auto e = MakeEngine(model);
  GenerationRequest r = Request("greedy", 2, 30);
  r.params.temperature = 0;
  ASSERT_TRUE(e->Submit(r).ok());
  Results got = Collect(*e);
  GreedyOptions g;
  g.max_new_tokens = 30;
  const std::vector<int64_t> want = GreedyGenerate(*model, r.prompt_ids, g);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [key, res] : got) {
    EXPECT_EQ(res.ids, want) << "sample " << key.second;
    EXPECT_EQ(res.finish_reason, "length");
    EXPECT_EQ(res.num_tokens, 30);
  }
}

TEST_F(EngineTest, RepetitionPenaltyCoversPromptAndOutputAsARecomputingReferenceDoes) {
  auto model = Model();
  GenerationRequest r = Request("rep", 1, 24);
  r.params.temperature = 0;
  r.params.repetition_penalty = 1.8;
  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(r).ok());
  const SampleResult got = Collect(*e).at({"rep", 0});
  // Reference: full forward over the whole sequence each step, the penalty
  // applied once to every distinct token seen so far, then argmax.
  std::vector<int64_t> seq = r.prompt_ids, want;
  for (int step = 0; step < 24; ++step) {
    at::Tensor logits = model->Forward(at::tensor(seq, at::kLong).view({1, -1}))[0][-1].contiguous();
    std::vector<float> l(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    std::set<int64_t> seen(seq.begin(), seq.end());
    for (int64_t id : seen) l[id] = l[id] > 0 ? l[id] / 1.8f : l[id] * 1.8f;
    const int64_t next = std::max_element(l.begin(), l.end()) - l.begin();
    want.push_back(next);
    seq.push_back(next);
  }
  EXPECT_EQ(got.ids, want);
  r.params.repetition_penalty = 1.0;
  auto plain = MakeEngine(model);
  ASSERT_TRUE(plain->Submit(r).ok());
  EXPECT_NE(Collect(*plain).at({"rep", 0}).ids, want) << "the penalty should change this output";
}

// The determinism contract, for a dense model and for a mixture of experts
// (whose tokens are grouped by expert across the batch).
class EngineArchTest : public EngineTest, public ::testing::WithParamInterface<ModelArch> {};

TEST_P(EngineArchTest, SampleIsIdenticalAloneInABatchOf32AndInterleaved) {
  auto model = Model(7, true, GetParam());
  const GenerationRequest target = Request("target", 4, 40);
  auto alone_engine = MakeEngine(model);
  ASSERT_TRUE(alone_engine->Submit(target).ok());
  Results alone = Collect(*alone_engine);
  ASSERT_EQ(alone.size(), 4u);

  // A batch of 32 sequences: the target among 28 other samples.
  EngineOptions wide;
  wide.max_seqs = 32;
  auto batch_engine = MakeEngine(model, wide);
  for (int i = 0; i < 7; ++i)
    ASSERT_TRUE(batch_engine->Submit(Request("other" + std::to_string(i), 4, 30 + i, 5 + i)).ok());
  ASSERT_TRUE(batch_engine->Submit(target).ok());
  int64_t max_running = 0;
  Results batched;
  while (batch_engine->Step([&](SampleResult r) { batched[{r.prompt_id, r.sample_index}] = std::move(r); })) {
    max_running = std::max(max_running, batch_engine->stats().running);
  }
  EXPECT_EQ(max_running, 32);

  // Interleaved: few slots, the target arrives mid-run among other prompts.
  EngineOptions narrow;
  narrow.max_seqs = 3;
  auto mixed_engine = MakeEngine(model, narrow);
  Results mixed;
  auto sink = [&](SampleResult r) { mixed[{r.prompt_id, r.sample_index}] = std::move(r); };
  ASSERT_TRUE(mixed_engine->Submit(Request("early", 2, 25, 14)).ok());
  for (int i = 0; i < 5; ++i) mixed_engine->Step(sink);
  ASSERT_TRUE(mixed_engine->Submit(target).ok());
  for (int i = 0; i < 3; ++i) mixed_engine->Step(sink);
  ASSERT_TRUE(mixed_engine->Submit(Request("late", 3, 20, 3)).ok());
  mixed_engine->RunUntilDone(sink);

  for (int64_t s = 0; s < 4; ++s) {
    const SampleResult& a = alone.at({"target", s});
    EXPECT_EQ(a.num_tokens, static_cast<int64_t>(a.ids.size()));
    ExpectSameSample(a, batched.at({"target", s}), "batch of 32, sample " + std::to_string(s));
    ExpectSameSample(a, mixed.at({"target", s}), "interleaved, sample " + std::to_string(s));
  }
  // Different samples of one prompt differ (they have their own streams).
  EXPECT_NE(alone.at({"target", 0}).ids, alone.at({"target", 1}).ids);
}

TEST_F(EngineTest, StatsSplitTheStepsTimeIntoPrefillForwardAndDrawWithoutCountingAnyTwice) {
  auto model = Model();
  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(Request("p", 4, 20, 30)).ok());
  const auto t0 = std::chrono::steady_clock::now();
  Collect(*e);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const EngineStats st = e->stats();
  EXPECT_GT(st.prefill_seconds, 0);
  EXPECT_GT(st.forward_seconds, 0);
  EXPECT_GT(st.draw_seconds, 0);
  EXPECT_LE(st.prefill_seconds + st.forward_seconds + st.draw_seconds, st.step_seconds);
  EXPECT_LE(st.step_seconds, wall);
}

TEST_F(EngineTest, SamplesOfOnePromptSharePrefillAndMatchSamplesRequestedSingly) {
  auto model = Model();
  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(Request("p", 8, 20, 40)).ok());
  Results all = Collect(*e);
  EXPECT_EQ(e->stats().prompts_prefilled, 1);
  EXPECT_EQ(e->stats().prefill_tokens, 40);
  auto single = MakeEngine(model);
  GenerationRequest r = Request("p", 8, 20, 40);
  r.sample_indices = {5};
  ASSERT_TRUE(single->Submit(r).ok());
  Results five = Collect(*single);
  ASSERT_EQ(five.size(), 1u);
  ExpectSameSample(all.at({"p", 5}), five.at({"p", 5}), "sample 5");
}

TEST_P(EngineArchTest, SmallKvBudgetCompletesMixedShortAndLongGenerationsWithinBudget) {
  auto model = Model(7, true, GetParam());
  auto workload = [&](Engine& e) {
    for (int i = 0; i < 3; ++i) {
      GenerationRequest r = Request("long" + std::to_string(i), 1, 4096, 20);
      // No stop ids (the engine has no defaults here): runs to 4096 tokens.
      ASSERT_TRUE(e.Submit(r).ok());
    }
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(e.Submit(Request("short" + std::to_string(i), 2, 8, 6)).ok());
  };
  EngineOptions roomy;
  roomy.kv_cache_mb = 64;
  auto big = MakeEngine(model, roomy);
  workload(*big);
  Results want = Collect(*big);
  EXPECT_EQ(big->stats().preemptions, 0);

  EngineOptions tight;
  tight.kv_cache_mb = 2;  // 512 blocks of 16: two 4k sequences at most
  tight.max_seqs = 8;
  auto small = MakeEngine(model, tight);
  workload(*small);
  Results got = Collect(*small);
  const EngineStats st = small->stats();
  EXPECT_LE(st.peak_kv_blocks, st.kv_blocks);
  EXPECT_GT(st.preemptions, 0) << "the budget was meant to force preemption";
  RecordProperty("peak_kv_bytes", std::to_string(st.peak_kv_blocks * st.kv_block_bytes));
  ASSERT_EQ(got.size(), want.size());
  int64_t long_tokens = 0;
  for (const auto& [key, res] : want) {
    ExpectSameSample(res, got.at(key), key.first + "/" + std::to_string(key.second));
    if (key.first.rfind("long", 0) == 0) long_tokens = std::max(long_tokens, res.num_tokens);
  }
  EXPECT_EQ(long_tokens, 4096) << "the long generations should really be long";
}

INSTANTIATE_TEST_SUITE_P(DenseAndMoe, EngineArchTest, ::testing::Values(ModelArch::kQwen3, ModelArch::kQwen3Moe),
                         [](const auto& info) { return std::string(ModelTypeName(info.param)); });

TEST_F(EngineTest, BadRequestsGetErrorsNamingTheParameterAndDoNotDisturbOthers) {
  auto e = MakeEngine(Model());
  ASSERT_TRUE(e->Submit(Request("good1", 1, 5)).ok());
  auto expect_error = [&](GenerationRequest r, const std::string& field) {
    absl::Status s = e->Submit(std::move(r));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  };
  GenerationRequest r = Request("bad", 1, 5);
  r.params.temperature = -0.5;
  expect_error(r, "temperature");
  r = Request("bad", 1, 5);
  r.params.top_p = 0;
  expect_error(r, "top_p");
  r.params.top_p = 1.5;
  expect_error(r, "top_p");
  r = Request("bad", 1, 5);
  r.params.stop_token_ids = {100000};
  expect_error(r, "stop_token_ids");
  r = Request("bad", 1, 5);
  r.params.max_tokens = 0;
  expect_error(r, "max_tokens");
  r = Request("bad", 1, 5, 33000);  // TinyConfig context is 32768
  expect_error(r, "max_position_embeddings");
  r = Request("bad", 1, 5);
  r.prompt_ids[2] = -3;
  expect_error(r, "prompt token 2");
  r = Request("bad", 1, 5);
  r.sample_indices = {1, 1};
  expect_error(r, "sample index 1");
  ASSERT_TRUE(e->Submit(Request("good2", 2, 5)).ok());
  Results got = Collect(*e);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_TRUE(got.count({"good1", 0}) && got.count({"good2", 1}));
}

TEST_F(EngineTest, StopTokenAndStopStringEndTheSampleWithReasonStop) {
  auto model = Model();
  auto e = MakeEngine(model);
  GenerationRequest r = Request("s", 1, 40);
  r.params.temperature = 0.8;
  r.params.top_k = 0;
  r.params.top_p = 1.0;
  ASSERT_TRUE(e->Submit(r).ok());
  const SampleResult free_run = Collect(*e).at({"s", 0});
  ASSERT_EQ(free_run.num_tokens, 40);
  ASSERT_GT(free_run.text.size(), 12u);

  // A stop id: the sample ends at its first occurrence, kept in the ids.
  const int64_t stop_id = free_run.ids[10];
  const size_t first = std::find(free_run.ids.begin(), free_run.ids.end(), stop_id) - free_run.ids.begin();
  GenerationRequest with_id = r;
  with_id.params.stop_token_ids = {stop_id};
  auto e2 = MakeEngine(model);
  ASSERT_TRUE(e2->Submit(with_id).ok());
  const SampleResult by_id = Collect(*e2).at({"s", 0});
  EXPECT_EQ(by_id.finish_reason, "stop");
  EXPECT_EQ(by_id.ids, std::vector<int64_t>(free_run.ids.begin(), free_run.ids.begin() + first + 1));

  // A stop string from the middle of the text: the text ends before it.
  const std::string stop = free_run.text.substr(free_run.text.size() / 2, 3);
  const size_t cut = free_run.text.find(stop);
  GenerationRequest with_str = r;
  with_str.params.stop = {stop};
  auto e3 = MakeEngine(model);
  ASSERT_TRUE(e3->Submit(with_str).ok());
  const SampleResult by_str = Collect(*e3).at({"s", 0});
  EXPECT_EQ(by_str.finish_reason, "stop");
  EXPECT_EQ(by_str.text, free_run.text.substr(0, cut));
  EXPECT_LT(by_str.num_tokens, 40);
}

TEST_F(EngineTest, MinTokensKeepsStopIdsAndStopStringsFromEndingASampleEarly) {
  auto model = Model();
  GenerationRequest r = Request("m", 1, 40);
  r.params.temperature = 0.8;
  r.params.top_k = 0;
  r.params.top_p = 1.0;
  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(r).ok());
  const SampleResult free_run = Collect(*e).at({"m", 0});
  ASSERT_EQ(free_run.num_tokens, 40);

  // A stop id the greedy run picks first at `first`: with min_tokens past
  // it, that pick cannot be the stop id, the tokens before it are the
  // greedy run's, and the sample runs to at least min_tokens.
  GenerationRequest greedy = r;
  greedy.params.temperature = 0;
  auto e1 = MakeEngine(model);
  ASSERT_TRUE(e1->Submit(greedy).ok());
  const SampleResult greedy_run = Collect(*e1).at({"m", 0});
  const int64_t stop_id = greedy_run.ids[10];
  const int64_t first = std::find(greedy_run.ids.begin(), greedy_run.ids.end(), stop_id) - greedy_run.ids.begin();
  GenerationRequest with_id = greedy;
  with_id.params.stop_token_ids = {stop_id};
  with_id.params.min_tokens = first + 5;
  auto e2 = MakeEngine(model);
  ASSERT_TRUE(e2->Submit(with_id).ok());
  const SampleResult held = Collect(*e2).at({"m", 0});
  ASSERT_GE(held.num_tokens, first + 5);
  EXPECT_EQ(std::vector<int64_t>(held.ids.begin(), held.ids.begin() + first),
            std::vector<int64_t>(greedy_run.ids.begin(), greedy_run.ids.begin() + first));
  for (int64_t i = 0; i < first + 5; ++i) EXPECT_NE(held.ids[i], stop_id) << "token " << i << " before min_tokens";
  if (held.finish_reason == "stop") EXPECT_EQ(held.ids.back(), stop_id);

  // A stop string from the start of the text: with min_tokens = max_tokens
  // it ends nothing, and the sample is the free run, text uncut.
  GenerationRequest with_str = r;
  with_str.params.stop = {free_run.text.substr(0, 2)};
  with_str.params.min_tokens = 40;
  auto e3 = MakeEngine(model);
  ASSERT_TRUE(e3->Submit(with_str).ok());
  const SampleResult uncut = Collect(*e3).at({"m", 0});
  EXPECT_EQ(uncut.finish_reason, "length");
  EXPECT_EQ(uncut.ids, free_run.ids);
  EXPECT_EQ(uncut.text, free_run.text);

  // Out of range: named.
  GenerationRequest bad = r;
  bad.params.min_tokens = 41;
  absl::Status s = e3->Submit(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("min_tokens = 41: must be in [0, max_tokens = 40]"), std::string::npos) << s.message();
  bad.params.min_tokens = -1;
  EXPECT_FALSE(e3->Submit(bad).ok());
}

TEST_F(EngineTest, RestartPolicySwapRegeneratesInFlightSamplesWithTheNewWeights) {
  auto old_model = Model(7), new_model = Model(8);
  auto reference = MakeEngine(new_model);
  ASSERT_TRUE(reference->Submit(Request("w", 3, 30)).ok());
  Results want = Collect(*reference);

  auto e = MakeEngine(old_model);
  ASSERT_TRUE(e->Submit(Request("w", 3, 30)).ok());
  Results got;
  auto sink = [&](SampleResult r) { got[{r.prompt_id, r.sample_index}] = std::move(r); };
  for (int i = 0; i < 10; ++i) e->Step(sink);
  ASSERT_TRUE(got.empty());
  ASSERT_TRUE(e->SwapWeights(new_model, 2).ok());
  e->RunUntilDone(sink);
  EXPECT_EQ(e->stats().restarts_after_swap, 3);
  for (const auto& [key, res] : want) {
    ExpectSameSample(res, got.at(key), "sample " + std::to_string(key.second));
    EXPECT_EQ(got.at(key).weights_version, 2);
  }
}

TEST_F(EngineTest, ContinuePolicySwapKeepsTokensDrawnBeforeTheSwap) {
  auto old_model = Model(7), new_model = Model(8);
  auto reference = MakeEngine(old_model);
  ASSERT_TRUE(reference->Submit(Request("w", 1, 30)).ok());
  const SampleResult old_run = Collect(*reference).at({"w", 0});

  EngineOptions o;
  o.swap_policy = SwapPolicy::kContinue;
  auto e = MakeEngine(old_model, o);
  ASSERT_TRUE(e->Submit(Request("w", 1, 30)).ok());
  Results got;
  auto sink = [&](SampleResult r) { got[{r.prompt_id, r.sample_index}] = std::move(r); };
  for (int i = 0; i < 10; ++i) e->Step(sink);  // 1 + 9 decode steps: 11 tokens drawn
  ASSERT_TRUE(e->SwapWeights(new_model, 5).ok());
  e->RunUntilDone(sink);
  const SampleResult& res = got.at({"w", 0});
  EXPECT_EQ(res.weights_version, 5);
  EXPECT_EQ(std::vector<int64_t>(res.ids.begin(), res.ids.begin() + 11),
            std::vector<int64_t>(old_run.ids.begin(), old_run.ids.begin() + 11));
  EXPECT_NE(res.ids, old_run.ids);
  EXPECT_EQ(e->stats().restarts_after_swap, 0);
}

TEST_F(EngineTest, RequestsSubmittedFromAnotherThreadWhileSteppingAllFinishUnchanged) {
  auto model = Model();
  auto sequential = MakeEngine(model);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(sequential->Submit(Request("t" + std::to_string(i), 2, 12)).ok());
  Results want = Collect(*sequential);

  auto e = MakeEngine(model);
  std::atomic<bool> submitted{false};
  std::thread producer([&] {
    for (int i = 0; i < 12; ++i) {
      EXPECT_TRUE(e->Submit(Request("t" + std::to_string(i), 2, 12)).ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(e->SwapWeights(model, 1).ok());  // same weights, new version: a restart
    submitted = true;
  });
  Results got;
  while (!submitted || e->HasWork()) {
    e->Step([&](SampleResult r) { got[{r.prompt_id, r.sample_index}] = std::move(r); });
  }
  producer.join();
  e->RunUntilDone([&](SampleResult r) { got[{r.prompt_id, r.sample_index}] = std::move(r); });
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, res] : want) ExpectSameSample(res, got.at(key), key.first);
}

TEST_F(EngineTest, StreamSeedsNameTheSampleStreamWhateverTheRequestId) {
  auto model = Model();
  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(Request("p", 3, 20)).ok());
  Results want = Collect(*e);
  // Each sample alone, under another id, n = 1, told its stream: the
  // OpenAI path (one request per sample, the stream seed as its seed).
  for (int64_t i = 0; i < 3; ++i) {
    GenerationRequest r = Request("p", 1, 20);
    r.id = "openai-" + std::to_string(i);
    r.params.seed = 999;  // ignored: the stream seed decides
    r.stream_seeds = {SampleStreamSeed(42, PromptKey("p"), static_cast<uint32_t>(i))};
    ASSERT_TRUE(e->Submit(r).ok());
    const SampleResult got = Collect(*e).at({r.id, 0});
    ExpectSameSample(want.at({"p", i}), got, "sample " + std::to_string(i));
  }
  GenerationRequest bad = Request("p", 2, 20);
  bad.stream_seeds = {1};
  const absl::Status s = e->Submit(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("stream seeds"), std::string::npos) << s;
}

TEST_F(EngineTest, LogprobsAreTheRawLogSoftmaxOfAFullForwardWithTheTopAlternativesDescending) {
  auto model = Model();
  auto e = MakeEngine(model);
  GenerationRequest r = Request("lp", 2, 12);
  r.params.logprobs = 5;
  r.params.temperature = 1.7;  // logprobs ignore temperature and truncation
  ASSERT_TRUE(e->Submit(r).ok());
  for (const auto& [key, res] : Collect(*e)) {
    ASSERT_EQ(res.logprobs.size(), res.ids.size());
    std::vector<int64_t> all = r.prompt_ids;
    all.insert(all.end(), res.ids.begin(), res.ids.end());
    at::Tensor ids = at::tensor(all, at::kLong).unsqueeze(0);
    at::Tensor ref = at::log_softmax(model->Forward(ids).to(at::kDouble), -1)[0];  // [T, V]
    const int64_t P = static_cast<int64_t>(r.prompt_ids.size());
    for (size_t t = 0; t < res.ids.size(); ++t) {
      const TokenLogprobs& lp = res.logprobs[t];
      at::Tensor row = ref[P - 1 + static_cast<int64_t>(t)];
      EXPECT_EQ(lp.id, res.ids[t]);
      EXPECT_NEAR(lp.logprob, row[lp.id].item<double>(), 1e-5) << "token " << t;
      ASSERT_EQ(lp.top.size(), 5u);
      at::Tensor top = std::get<1>(row.topk(5));
      for (int k = 0; k < 5; ++k) {
        EXPECT_EQ(lp.top[k].first, top[k].item<int64_t>()) << "token " << t << " rank " << k;
        EXPECT_NEAR(lp.top[k].second, row[lp.top[k].first].item<double>(), 1e-5);
        if (k > 0) {
          EXPECT_GE(lp.top[k - 1].second, lp.top[k].second);
        }
      }
    }
  }
  r.params.logprobs = 21;
  EXPECT_NE(e->Submit(r).message().find("logprobs"), std::string::npos);
}

TEST_F(EngineTest, OnTokenSeesEveryTokenAndAGrowingTextThatEndsAsTheFinalText) {
  auto model = Model();
  auto e = MakeEngine(model);
  GenerationRequest r = Request("stream", 2, 25);
  r.params.logprobs = 0;
  std::map<int64_t, std::vector<int64_t>> ids;
  std::map<int64_t, std::string> last_text;
  r.on_token = [&](const TokenEvent& ev) {
    ids[ev.sample_index].push_back(ev.token_id);
    ASSERT_NE(ev.logprobs, nullptr);
    EXPECT_EQ(ev.logprobs->id, ev.token_id);
    EXPECT_EQ(ev.text->compare(0, last_text[ev.sample_index].size(), last_text[ev.sample_index]), 0)
        << "the streamed text only grows";
    last_text[ev.sample_index] = *ev.text;
  };
  ASSERT_TRUE(e->Submit(r).ok());
  Results got = Collect(*e);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& [key, res] : got) {
    EXPECT_EQ(ids[key.second], res.ids);
    EXPECT_EQ(res.text.compare(0, last_text[key.second].size(), last_text[key.second]), 0);
  }
}

TEST_F(EngineTest, CancelFreesARequestsSequencesAndLeavesOthersBitwiseUnchanged) {
  auto model = Model();
  auto reference = MakeEngine(model);
  ASSERT_TRUE(reference->Submit(Request("keep", 3, 40)).ok());
  Results want = Collect(*reference);

  auto e = MakeEngine(model);
  ASSERT_TRUE(e->Submit(Request("drop", 4, 40)).ok());
  ASSERT_TRUE(e->Submit(Request("keep", 3, 40)).ok());
  ASSERT_TRUE(e->Submit(Request("queued", 2, 40)).ok());
  Results got;
  auto sink = [&](SampleResult r) { got[{r.prompt_id, r.sample_index}] = std::move(r); };
  for (int i = 0; i < 5; ++i) e->Step(sink);
  ASSERT_GT(e->stats().running, 4);
  e->Cancel("drop");
  e->Cancel("queued");
  e->Cancel("never-submitted");
  e->RunUntilDone(sink);
  EXPECT_EQ(e->stats().samples_cancelled, 6);
  ASSERT_EQ(got.size(), 3u) << "no callback comes for a cancelled sample";
  for (const auto& [key, res] : want) ExpectSameSample(res, got.at(key), "kept sample " + std::to_string(key.second));
  // Everything was freed: the whole pool is available to a new request.
  ASSERT_TRUE(e->Submit(Request("after", 2, 10)).ok());
  EXPECT_EQ(Collect(*e).size(), 2u);
  EXPECT_FALSE(e->HasWork());
}

TEST_F(EngineTest, SwapToAnotherArchitectureIsRefused) {
  auto e = MakeEngine(Model());
  ModelConfig c = TinyConfig(ModelArch::kQwen3);
  c.vocab_size = tokenizer_->vocab_size();
  c.num_hidden_layers = 3;
  auto other = Decoder::RandomInit(c, 1);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(e->SwapWeights(std::shared_ptr<const Decoder>(std::move(*other)), 2).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, OptionsValidationNamesTheField) {
  EngineOptions o;
  o.max_seqs = 0;
  EXPECT_NE(Engine::Create(Model(), tokenizer_, o).status().message().find("max_seqs"), std::string::npos);
  o = EngineOptions();
  o.kv_cache_mb = 0;
  EXPECT_NE(Engine::Create(Model(), tokenizer_, o).status().message().find("kv_cache_mb"), std::string::npos);
}

}  // namespace
}  // namespace ssd
