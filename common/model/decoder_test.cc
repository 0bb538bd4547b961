#include "common/model/decoder.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/model/cpu_decode_step.h"
#include "common/model/generate.h"
#include "common/model/test_models.h"

namespace ssd {
namespace {

class DecoderTest : public ::testing::TestWithParam<ModelArch> {
 protected:
  void SetUp() override {
    at::manual_seed(0);
    auto m = Decoder::RandomInit(TinyConfig(GetParam()), /*seed=*/7, /*init_std=*/0.3);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
  }
  at::Tensor RandomIds(int64_t B, int64_t T) { return at::randint(model_->config().vocab_size, {B, T}, at::kLong); }
  std::unique_ptr<Decoder> model_;
  at::NoGradGuard no_grad_;
};

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Paths that only reorder float sums (sgemm vs the skinny kernel, batched vs
// single) agree to a few float32 ulps of the largest logit.
double Tol(const at::Tensor& ref) { return 1e-6 + 3e-6 * ref.abs().max().item<double>(); }

TEST_P(DecoderTest, LogitsAreLargeEnoughForToleranceChecksToMean) {
  at::Tensor logits = model_->Forward(RandomIds(1, 8));
  EXPECT_GT(logits.std().item<double>(), 0.1);
}

TEST_P(DecoderTest, KvCacheDecodeMatchesFullRecomputeAtEveryStep) {
  const int64_t T = 40;  // past llama3's original context of 16
  at::Tensor ids = RandomIds(1, T);
  at::Tensor full = model_->Forward(ids);  // [1, T, V]
  auto cache = model_->NewCache(1, 4);     // forces capacity growth
  at::Tensor prefill = model_->Extend(*cache, ids.narrow(1, 0, 5), {5});
  EXPECT_LT(MaxAbsDiff(prefill[0], full[0][4]), Tol(full[0][4]));
  for (int64_t t = 5; t < T; ++t) {
    at::Tensor step = model_->Extend(*cache, ids.narrow(1, t, 1), {1});
    ASSERT_LT(MaxAbsDiff(step[0], full[0][t]), Tol(full[0][t])) << "step " << t;
  }
  EXPECT_EQ(cache->length(0), T);
}

TEST_P(DecoderTest, BatchedCacheWithDifferentLengthsMatchesEachSequenceAlone) {
  std::vector<int64_t> lens = {3, 9, 1};
  const int64_t T = 9;
  at::Tensor ids = RandomIds(3, T + 4);
  auto cache = model_->NewCache(3, 8);
  at::Tensor first = model_->Extend(*cache, ids.narrow(1, 0, T), lens);
  for (int64_t b = 0; b < 3; ++b) {
    at::Tensor alone = model_->Forward(ids[b].narrow(0, 0, lens[b]).unsqueeze(0));
    EXPECT_LT(MaxAbsDiff(first[b], alone[0][lens[b] - 1]), Tol(alone[0][lens[b] - 1])) << "row " << b;
  }
  // Decode 4 more tokens in lockstep; row b continues from its own length.
  for (int64_t s = 0; s < 4; ++s) {
    at::Tensor next = at::stack({ids[0][lens[0] + s], ids[1][lens[1] + s], ids[2][lens[2] + s]}).view({3, 1});
    at::Tensor step = model_->Extend(*cache, next, {1, 1, 1});
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t n = lens[b] + s + 1;
      at::Tensor alone = model_->Forward(ids[b].narrow(0, 0, n).unsqueeze(0));
      ASSERT_LT(MaxAbsDiff(step[b], alone[0][n - 1]), Tol(alone[0][n - 1])) << "row " << b << " step " << s;
    }
  }
}

TEST_P(DecoderTest, IdleSlotsAreLeftUntouchedByOtherRowsSteps) {
  at::Tensor ids = RandomIds(2, 6);
  auto cache = model_->NewCache(2, 8);
  model_->Extend(*cache, ids, {6, 6});
  // Only row 1 advances; row 0's length and next result must not change.
  model_->Extend(*cache, ids.narrow(1, 0, 1), {0, 1});
  EXPECT_EQ(cache->length(0), 6);
  EXPECT_EQ(cache->length(1), 7);
  at::Tensor step = model_->Extend(*cache, ids.narrow(1, 0, 1), {1, 0});
  at::Tensor seq0 = at::cat({ids[0], ids[0].narrow(0, 0, 1)}).unsqueeze(0);
  EXPECT_LT(MaxAbsDiff(step[0], model_->Forward(seq0)[0][6]), Tol(model_->Forward(seq0)[0][6]));
}

TEST_P(DecoderTest, ChunkedPrefillEqualsOneShotPrefill) {
  at::Tensor ids = RandomIds(1, 20);
  auto a = model_->NewCache(1, 32);
  at::Tensor one = model_->Extend(*a, ids, {20});
  auto b = model_->NewCache(1, 32);
  model_->Extend(*b, ids.narrow(1, 0, 7), {7});
  at::Tensor two = model_->Extend(*b, ids.narrow(1, 7, 13), {13});
  EXPECT_LT(MaxAbsDiff(one, two), Tol(two));
}

TEST_P(DecoderTest, RightPaddingDoesNotChangeRealPositions) {
  const int64_t T = 12;
  std::vector<int64_t> lens = {12, 5};
  at::Tensor ids = RandomIds(2, T);
  at::Tensor padded = model_->Forward(ids, AttentionLayout::RightPadded(lens, T));
  for (int64_t b = 0; b < 2; ++b) {
    at::Tensor alone = model_->Forward(ids[b].narrow(0, 0, lens[b]).unsqueeze(0));
    EXPECT_LT(MaxAbsDiff(padded[b].narrow(0, 0, lens[b]), alone[0]), Tol(alone[0])) << "row " << b;
  }
  EXPECT_TRUE(padded.isfinite().all().item<bool>()) << "padding produced NaN/Inf";
}

TEST_P(DecoderTest, PackedDocumentsMatchSeparateForwards) {
  // One row holding documents of 7, 3 and 6 tokens, then 4 pads.
  const int64_t T = 20;
  std::vector<int64_t> docs = {7, 3, 6};
  at::Tensor ids = RandomIds(1, T);
  at::Tensor packed = model_->Forward(ids, AttentionLayout::Packed({docs}, T));
  int64_t off = 0;
  for (int64_t len : docs) {
    at::Tensor alone = model_->Forward(ids[0].narrow(0, off, len).unsqueeze(0));
    EXPECT_LT(MaxAbsDiff(packed[0].narrow(0, off, len), alone[0]), Tol(alone[0])) << "doc at " << off;
    off += len;
  }
  EXPECT_TRUE(packed.isfinite().all().item<bool>());
}

TEST_P(DecoderTest, PackedDocumentsWithGradientsMatchSeparateForwardsAndBackpropagate) {
  // With gradients on (training) attention runs document by document; each
  // document must still see exactly itself, and the loss must reach the
  // weights through every document.
  const int64_t T = 24;
  std::vector<std::vector<int64_t>> docs = {{7, 3, 6}, {11, 9}};
  at::Tensor ids = RandomIds(2, T);
  const NamedTensors params = model_->Parameters();
  for (const auto& [name, tensor] : params) tensor.requires_grad_(true);
  at::AutoGradMode grad(true);
  at::Tensor packed = model_->Forward(ids, AttentionLayout::Packed(docs, T));
  ASSERT_TRUE(packed.requires_grad());
  for (int64_t b = 0; b < 2; ++b) {
    int64_t off = 0;
    for (int64_t len : docs[static_cast<size_t>(b)]) {
      at::Tensor alone = model_->Forward(ids[b].narrow(0, off, len).unsqueeze(0)).detach();
      EXPECT_LT(MaxAbsDiff(packed[b].narrow(0, off, len).detach(), alone[0]), Tol(alone[0]))
          << "row " << b << ", doc at " << off;
      off += len;
    }
  }
  EXPECT_TRUE(packed.isfinite().all().item<bool>()) << "padding produced NaN/Inf";
  packed.narrow(1, 0, 16).sum().backward();
  int64_t with_grad = 0;
  for (const auto& [name, tensor] : params) {
    if (!tensor.grad().defined()) continue;
    EXPECT_TRUE(tensor.grad().isfinite().all().item<bool>()) << name;
    if (tensor.grad().abs().sum().item<double>() > 0) ++with_grad;
  }
  EXPECT_GT(with_grad, 0) << "no parameter received a gradient";
}

TEST_P(DecoderTest, ADocumentSplitAroundAnotherStillSeesItsFirstPart) {
  // Segment ids 0 0 0 0 | 1 1 1 | 0 0 0: document 0 comes back after
  // document 1, so no per-run shortcut applies and the full visibility mask
  // must be used, with and without gradients.
  const int64_t T = 10;
  at::Tensor ids = RandomIds(1, T);
  AttentionLayout layout;
  layout.segment_ids_BT = at::tensor(std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 0, 0, 0}, at::kLong).view({1, T});
  layout.position_ids_BT = at::tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 4, 5, 6}, at::kLong).view({1, T});
  at::Tensor doc0 = at::cat({ids[0].narrow(0, 0, 4), ids[0].narrow(0, 7, 3)}).unsqueeze(0);
  at::Tensor alone = model_->Forward(doc0);
  for (bool with_grad : {false, true}) {
    at::AutoGradMode grad(with_grad);
    at::Tensor split = model_->Forward(ids, layout).detach();
    EXPECT_LT(MaxAbsDiff(split[0].narrow(0, 7, 3), alone[0].narrow(0, 4, 3)), Tol(alone[0]))
        << (with_grad ? "with" : "without") << " gradients";
  }
}

TEST_P(DecoderTest, FusedCpuKernelsMatchTheAtenPath) {
  // Without gradients the CPU fp32 path runs the fused kernels; with
  // gradients enabled every op is ATen. Both must compute the same model.
  at::Tensor ids = RandomIds(3, 24);
  at::Tensor kernels = model_->Forward(ids, AttentionLayout::RightPadded({24, 10, 17}, 24));
  at::Tensor aten;
  {
    at::AutoGradMode grad(true);
    aten = model_->Forward(ids, AttentionLayout::RightPadded({24, 10, 17}, 24));
  }
  EXPECT_LT(MaxAbsDiff(kernels, aten), Tol(aten));

  auto fast = model_->NewCache(3, 32);
  auto slow = model_->NewCache(3, 32);
  model_->Extend(*fast, ids.narrow(1, 0, 8), {8, 3, 5});
  {
    at::AutoGradMode grad(true);
    model_->Extend(*slow, ids.narrow(1, 0, 8), {8, 3, 5});
  }
  for (int64_t s = 8; s < 16; ++s) {
    at::Tensor a = model_->Extend(*fast, ids.narrow(1, s, 1), {1, 1, 1});
    at::Tensor b;
    {
      at::AutoGradMode grad(true);
      b = model_->Extend(*slow, ids.narrow(1, s, 1), {1, 1, 1});
    }
    ASSERT_LT(MaxAbsDiff(a, b), Tol(b)) << "decode step " << s;
  }
}

TEST_P(DecoderTest, PagedSequencesInSmallBlocksMatchFullRecompute) {
  // Three sequences of different lengths interleaved over 4-position blocks,
  // in a different batch order at every step, on both the kernel and the
  // ATen path.
  for (bool grad : {false, true}) {
    at::AutoGradMode mode(grad);
    KVCacheOptions o;
    o.block_size = 4;
    o.num_blocks = 64;
    o.max_seqs = 5;
    auto cache = model_->NewCache(o);
    at::Tensor ids = RandomIds(3, 23);
    at::Tensor full = model_->Forward(ids);
    const std::vector<int64_t> seq_of = {4, 0, 2};  // row -> sequence id
    std::vector<int64_t> lens = {7, 3, 10};
    for (int64_t r = 0; r < 3; ++r) ASSERT_TRUE(cache->Reserve(seq_of[r], lens[r]));
    model_->Extend(*cache, seq_of, ids.narrow(1, 0, 10), lens);
    for (int64_t step = 0; step < 12; ++step) {
      std::vector<int64_t> order = {step % 3, (step + 1) % 3, (step + 2) % 3};
      std::vector<int64_t> seqs;
      at::Tensor next = at::empty({3, 1}, at::kLong);
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t r = order[i];
        seqs.push_back(seq_of[r]);
        next[i][0] = ids[r][lens[r]];
        ASSERT_TRUE(cache->Reserve(seq_of[r], lens[r] + 1));
      }
      at::Tensor logits = model_->Extend(*cache, seqs, next, {1, 1, 1});
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t r = order[i];
        at::Tensor want = full[r][lens[r]];
        ASSERT_LT(MaxAbsDiff(logits[i], want), Tol(want)) << "grad " << grad << " row " << r;
        ++lens[r];
      }
    }
  }
}

TEST_P(DecoderTest, ForkedSequenceContinuesLikeItsParent) {
  KVCacheOptions o;
  o.block_size = 4;
  o.num_blocks = 32;
  o.max_seqs = 3;
  auto cache = model_->NewCache(o);
  at::Tensor ids = RandomIds(1, 16);
  at::Tensor full = model_->Forward(ids);
  ASSERT_TRUE(cache->Reserve(0, 10));
  model_->Extend(*cache, {0}, ids.narrow(1, 0, 10), {10});
  const int64_t used = cache->used_blocks();
  ASSERT_TRUE(cache->Fork(0, 1));
  ASSERT_TRUE(cache->Fork(0, 2));
  // Two full blocks are shared, the partial third is copied per child.
  EXPECT_EQ(cache->used_blocks(), used + 2);
  for (int64_t child : {1, 2}) {
    ASSERT_TRUE(cache->Reserve(child, 11));
    at::Tensor step = model_->Extend(*cache, {child}, ids.narrow(1, 10, 1), {1});
    EXPECT_LT(MaxAbsDiff(step[0], full[0][10]), Tol(full[0][10])) << "child " << child;
  }
  // Writing into the children did not disturb the parent.
  ASSERT_TRUE(cache->Reserve(0, 11));
  at::Tensor parent = model_->Extend(*cache, {0}, ids.narrow(1, 10, 1), {1});
  EXPECT_LT(MaxAbsDiff(parent[0], full[0][10]), Tol(full[0][10]));
}

TEST_P(DecoderTest, BatchInvariantModeGivesBitwiseIdenticalLogitsInAnyBatch) {
  DecoderOptions opts;
  opts.batch_invariant = true;
  auto m = Decoder::RandomInit(TinyConfig(GetParam()), 7, 0.3, opts);
  ASSERT_TRUE(m.ok());
  const Decoder& model = **m;
  at::Tensor ids = RandomIds(40, 12);
  // Sequence 0 alone, then as one row among 7 and among 40, prefilled and
  // decoded; every result must be bitwise equal.
  auto run = [&](int64_t B) {
    auto cache = model.NewCache(B, 16);
    std::vector<int64_t> lens(static_cast<size_t>(B), 8);
    for (int64_t b = 1; b < B; ++b) lens[b] = 1 + b % 8;
    std::vector<at::Tensor> rows;
    rows.push_back(model.Extend(*cache, ids.narrow(0, 0, B).narrow(1, 0, 8), lens)[0].clone());
    for (int64_t t = 8; t < 12; ++t) {
      rows.push_back(
          model.Extend(*cache, ids.narrow(0, 0, B).narrow(1, t, 1), std::vector<int64_t>(static_cast<size_t>(B), 1))[0]
              .clone());
    }
    return rows;
  };
  std::vector<at::Tensor> alone = run(1);
  for (int64_t B : {7, 40}) {
    std::vector<at::Tensor> batched = run(B);
    for (size_t i = 0; i < alone.size(); ++i) {
      EXPECT_TRUE(at::equal(alone[i], batched[i])) << "batch " << B << " step " << i;
    }
  }
  // Without the mode, sgemm/sgemv round differently per batch size; the
  // invariant mode still computes the same model.
  EXPECT_LT(MaxAbsDiff(alone[0], model_->Extend(*model_->NewCache(1, 8), ids.narrow(0, 0, 1).narrow(1, 0, 8), {8})[0]),
            1e-3);
}

// Decode steps and packed prefills run in one parallel region
// (cpu_decode_step.h), a full Forward in the per-operation kernels; a
// preempted sequence is re-prefilled over tokens it had decoded. All must
// give the same bits, on any thread count.
TEST_P(DecoderTest, DecodeStepsEqualARePrefillOfTheSameTokensBitwiseOnAnyThreadCount) {
  cpu::DecodeProfile profile;
  DecoderOptions opts;
  opts.batch_invariant = true;
  opts.decode_profile = &profile;
  auto m = Decoder::RandomInit(TinyConfig(GetParam()), 7, 0.3, opts);
  ASSERT_TRUE(m.ok());
  const Decoder& model = **m;
  const int64_t B = 3, prompt = 5, steps = 7;
  at::Tensor ids = RandomIds(B, prompt + steps);
  const int threads_before = at::get_num_threads();
  std::vector<std::vector<at::Tensor>> by_threads;
  for (int threads : {1, 2, 3}) {
    at::set_num_threads(threads);
    auto cache = model.NewCache(B, prompt + steps);
    std::vector<at::Tensor> logits;
    model.Extend(*cache, ids.narrow(1, 0, prompt), std::vector<int64_t>(B, prompt));
    for (int64_t t = prompt; t < prompt + steps; ++t) {
      logits.push_back(model.Extend(*cache, ids.narrow(1, t, 1), std::vector<int64_t>(B, 1)).clone());
    }
    by_threads.push_back(logits);
  }
  at::set_num_threads(threads_before);
  EXPECT_EQ(profile.steps, 3 * (steps + 1)) << "prefill and decode did not take the one-region path";
  for (int64_t s = 0; s < steps; ++s) {
    // Row b re-prefilled over everything up to and including step s's token
    // (packed rows in one region), and the full forward (per-operation
    // kernels, keys straight from the projections).
    auto cache = model.NewCache(B, prompt + steps);
    at::Tensor again = model.Extend(*cache, ids.narrow(1, 0, prompt + s + 1), std::vector<int64_t>(B, prompt + s + 1));
    at::Tensor forward = model.Forward(ids.narrow(1, 0, prompt + s + 1)).select(1, prompt + s).contiguous();
    EXPECT_TRUE(at::equal(by_threads[0][s], again))
        << "step " << s << " max |d| " << MaxAbsDiff(by_threads[0][s], again);
    EXPECT_TRUE(at::equal(by_threads[0][s], forward))
        << "step " << s << " vs Forward, max |d| " << MaxAbsDiff(by_threads[0][s], forward);
    EXPECT_TRUE(at::equal(by_threads[0][s], by_threads[1][s])) << "1 vs 2 threads, step " << s;
    EXPECT_TRUE(at::equal(by_threads[0][s], by_threads[2][s])) << "1 vs 3 threads, step " << s;
    // And the step computes the model: the ATen path agrees to rounding.
    EXPECT_LT(MaxAbsDiff(again, model_->Extend(*model_->NewCache(B, prompt + steps), ids.narrow(1, 0, prompt + s + 1),
                                               std::vector<int64_t>(B, prompt + s + 1))),
              Tol(again));
  }
}

// --dtype bf16 on CPU: the matrices are stored in bf16 and widened in the
// kernels. That must be exactly the fp32 model with its matrices rounded to
// bf16 (so the only change is the rounding of the weights), batch-invariant,
// and close to the fp32 model's logits.
TEST_P(DecoderTest, Bf16CpuWeightsAreTheFp32ModelOnRoundedWeightsBitwiseAndBatchInvariant) {
  const ModelConfig& c = model_->config();
  std::map<std::string, at::Tensor> weights, rounded;
  for (const auto& [name, t] : model_->HfNamedTensors()) {
    weights[name] = t.clone();
    // Norm weights stay fp32 in the bf16 path; every matrix is rounded.
    rounded[name] = t.dim() == 2 ? t.to(at::kBFloat16).to(at::kFloat) : t.clone();
  }
  DecoderOptions inv;
  inv.batch_invariant = true;
  DecoderOptions bf16 = inv;
  bf16.cpu_bf16_weights = true;
  auto m16 = Decoder::FromHfWeights(c, weights, bf16);
  auto m32r = Decoder::FromHfWeights(c, rounded, inv);
  auto m32 = Decoder::FromHfWeights(c, weights, inv);
  ASSERT_TRUE(m16.ok() && m32r.ok() && m32.ok()) << m16.status();
  EXPECT_EQ((*m16)->HfNamedTensors()[0].second.scalar_type(), at::kBFloat16) << "weights were not stored in bf16";

  const int64_t B = 5, prompt = 6, steps = 5;
  at::Tensor ids = RandomIds(B, prompt + steps);
  auto run = [&](const Decoder& m, int64_t rows) {
    auto cache = m.NewCache(rows, prompt + steps);
    std::vector<at::Tensor> out = {
        m.Extend(*cache, ids.narrow(0, 0, rows).narrow(1, 0, prompt), std::vector<int64_t>(rows, prompt)).clone()};
    for (int64_t t = prompt; t < prompt + steps; ++t) {
      out.push_back(m.Extend(*cache, ids.narrow(0, 0, rows).narrow(1, t, 1), std::vector<int64_t>(rows, 1)).clone());
    }
    return out;
  };
  const auto got = run(**m16, B), want = run(**m32r, B), alone = run(**m16, 1), full = run(**m32, B);
  double worst = 0, scale = 0;
  for (size_t s = 0; s < got.size(); ++s) {
    EXPECT_TRUE(at::equal(got[s], want[s])) << "step " << s << " max |d| " << MaxAbsDiff(got[s], want[s]);
    EXPECT_TRUE(at::equal(got[s][0], alone[s][0])) << "row 0 alone vs in a batch of " << B << ", step " << s;
    worst = std::max(worst, MaxAbsDiff(got[s], full[s]));
    scale = std::max(scale, full[s].abs().max().item<double>());
  }
  // bf16 keeps 8 significant bits: each weight moves by at most 2^-9 of
  // itself, so logits move by a few tenths of a percent of their scale per
  // layer; 3% of the largest logit bounds it with room, while a wrong
  // widening (a shifted exponent, a swapped half) moves them by their scale.
  if (c.is_moe()) {
    // A router is discontinuous: rounding can flip a near-tied choice and
    // move that row's logits by their scale. Most logits still stay close.
    std::vector<at::Tensor> diffs;
    for (size_t s = 0; s < got.size(); ++s) diffs.push_back((got[s] - full[s]).abs().flatten());
    const double median = at::cat(diffs).median().item<double>();
    EXPECT_LT(median, 0.03 * scale) << "bf16 moved the median logit by " << median << " on a scale of " << scale;
  } else {
    EXPECT_LT(worst, 0.03 * scale) << "bf16 moved the logits by " << worst << " on a scale of " << scale;
  }
  EXPECT_GT(worst, 0.0) << "bf16 rounding changed nothing: were the weights rounded?";
}

TEST_P(DecoderTest, Bf16CpuWeightsAreRefusedOutsideTheCpuInferencePath) {
  DecoderOptions o;
  o.cpu_bf16_weights = true;  // without batch_invariant
  auto m = Decoder::RandomInit(TinyConfig(GetParam()), 7, 0.3, o);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("batch-invariant"), std::string::npos) << m.status();
}

TEST_P(DecoderTest, GreedyWithCacheEqualsGreedyByRecompute) {
  std::vector<int64_t> prompt = {5, 17, 3, 60, 2, 9, 11, 4, 1, 33, 20, 19, 8, 7, 6, 5, 4, 3};
  GreedyOptions opts;
  opts.max_new_tokens = 24;
  EXPECT_EQ(GreedyGenerate(*model_, prompt, opts), GreedyGenerateByRecompute(*model_, prompt, opts));
}

TEST_P(DecoderTest, HfNamedTensorsAreViewsOfTheParameters) {
  NamedTensors hf = model_->HfNamedTensors();
  auto it = std::find_if(hf.begin(), hf.end(),
                         [](const auto& p) { return p.first == "model.layers.0.self_attn.k_proj.weight"; });
  ASSERT_NE(it, hf.end());
  NamedTensors params = model_->Parameters();
  auto qkv = std::find_if(params.begin(), params.end(), [](const auto& p) { return p.first == "layers.0.qkv_weight"; });
  ASSERT_NE(qkv, params.end());
  EXPECT_TRUE(it->second.is_alias_of(qkv->second));
}

TEST_P(DecoderTest, SameSeedGivesTheSameModel) {
  auto again = Decoder::RandomInit(TinyConfig(GetParam()), 7, 0.3);
  ASSERT_TRUE(again.ok());
  at::Tensor ids = RandomIds(1, 6);
  EXPECT_TRUE(at::equal(model_->Forward(ids), (*again)->Forward(ids)));
  auto other = Decoder::RandomInit(TinyConfig(GetParam()), 8, 0.3);
  EXPECT_FALSE(at::equal(model_->Forward(ids), (*other)->Forward(ids)));
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, DecoderTest,
                         ::testing::Values(ModelArch::kQwen3, ModelArch::kQwen2, ModelArch::kLlama, ModelArch::kQwen3Moe),
                         [](const auto& info) { return std::string(ModelTypeName(info.param)); });

}  // namespace
}  // namespace ssd
