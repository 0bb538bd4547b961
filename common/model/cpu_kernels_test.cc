#include "common/model/cpu_kernels.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/model/cpu_packed_matmul.h"

namespace ssd {
namespace {

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

class CpuKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override { at::manual_seed(1); }
  at::NoGradGuard no_grad_;
};

TEST_F(CpuKernelsTest, RmsNormMatchesFormula) {
  at::Tensor x = at::randn({7, 37}), w = at::randn({37});
  at::Tensor out = at::empty_like(x);
  cpu::RmsNorm(x.data_ptr<float>(), w.data_ptr<float>(), out.data_ptr<float>(), 7, 37, 1e-5f);
  at::Tensor ref = w * (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5));
  EXPECT_LT(MaxAbsDiff(out, ref), 1e-5);
}

TEST_F(CpuKernelsTest, QkNormRopeMatchesRotateHalfFormula) {
  const int64_t rows = 5, N = 4, K = 2, D = 8;
  at::Tensor qkv = at::randn({rows, (N + 2 * K) * D});
  at::Tensor qn = at::randn({D}), kn = at::randn({D});
  at::Tensor pos = at::tensor(std::vector<int64_t>{0, 3, 17, 100, 4000}, at::kLong);
  at::Tensor inv = at::pow(10000.0, -at::arange(0, D, 2, at::kFloat) / D);
  at::Tensor ours = qkv.clone();
  cpu::QkNormRope(ours.data_ptr<float>(), rows, N, K, D, qn.data_ptr<float>(), kn.data_ptr<float>(), 1e-6f,
                  pos.data_ptr<int64_t>(), inv.data_ptr<float>());
  auto norm = [](const at::Tensor& x, const at::Tensor& w) {
    return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6));
  };
  at::Tensor angles = pos.to(at::kFloat).unsqueeze(-1) * inv;         // [rows, D/2]
  at::Tensor cos = at::cat({angles, angles}, -1).cos().unsqueeze(1);  // [rows, 1, D]
  at::Tensor sin = at::cat({angles, angles}, -1).sin().unsqueeze(1);
  auto rope = [&](const at::Tensor& x) {
    at::Tensor rot = at::cat({-x.narrow(-1, D / 2, D / 2), x.narrow(-1, 0, D / 2)}, -1);
    return x * cos + rot * sin;
  };
  at::Tensor q = rope(norm(qkv.narrow(1, 0, N * D).view({rows, N, D}), qn));
  at::Tensor k = rope(norm(qkv.narrow(1, N * D, K * D).view({rows, K, D}), kn));
  EXPECT_LT(MaxAbsDiff(ours.narrow(1, 0, N * D).view({rows, N, D}), q), 1e-4);
  EXPECT_LT(MaxAbsDiff(ours.narrow(1, N * D, K * D).view({rows, K, D}), k), 1e-4);
  EXPECT_TRUE(at::equal(ours.narrow(1, (N + K) * D, K * D), qkv.narrow(1, (N + K) * D, K * D)))
      << "v must be left untouched";
}

TEST_F(CpuKernelsTest, SiluGateMatchesFormula) {
  at::Tensor gu = at::randn({3, 2 * 11});
  at::Tensor out = at::empty({3, 11});
  cpu::SiluGate(gu.data_ptr<float>(), out.data_ptr<float>(), 3, 11);
  EXPECT_LT(MaxAbsDiff(out, at::silu(gu.narrow(1, 0, 11)) * gu.narrow(1, 11, 11)), 1e-6);
}

TEST_F(CpuKernelsTest, SkinnyMatmulMatchesLinearForOddShapes) {
  for (int64_t M : {1, 2, 3, 5, 16, 33}) {
    for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{256, 1000}, {37, 7}, {8, 2}, {300, 31}}) {
      at::Tensor x = at::randn({M, in}), w = at::randn({out, in}), b = at::randn({out});
      at::Tensor y = at::full({M, out}, NAN);
      if (!cpu::SkinnyMatmul(x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(), M, in,
                             out)) {
        GTEST_SKIP() << "CPU without AVX2/FMA";
      }
      at::Tensor ref = at::linear(x, w, b);
      EXPECT_LT(MaxAbsDiff(y, ref), 1e-6 * (1 + ref.abs().max().item<double>()) * std::sqrt(in))
          << "M=" << M << " in=" << in << " out=" << out;
    }
  }
}

// The AVX-512 tiles put two outputs in a register but keep each output's
// eight-lane order, so they must agree with the AVX2 kernel bit for bit:
// otherwise samples would depend on the machine.
TEST_F(CpuKernelsTest, Avx512TilesGiveTheAvx2KernelsBitsForEveryShapeAndSlice) {
  for (int64_t M : {1, 2, 5, 6, 7, 13, 32}) {
    for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{256, 200}, {37, 19}, {8, 9}, {300, 31}}) {
      at::Tensor x = at::randn({M, in}), w = at::randn({out, in}), b = at::randn({out});
      at::Tensor y2 = at::full({M, out}, NAN), y512 = at::full({M, out}, NAN);
      ASSERT_TRUE(cpu::SkinnyRangeWith(cpu::SkinnyIsa::kAvx2, x.data_ptr<float>(), w.data_ptr<float>(),
                                       b.data_ptr<float>(), y2.data_ptr<float>(), M, in, out, 0, out))
          << "CPU without AVX2/FMA";
      // The AVX-512 result in two slices split at an odd output, as threads split it.
      const int64_t cut = out / 2 | 1;
      for (auto [o0, o1] : std::vector<std::pair<int64_t, int64_t>>{{0, cut}, {cut, out}}) {
        if (!cpu::SkinnyRangeWith(cpu::SkinnyIsa::kAvx512, x.data_ptr<float>(), w.data_ptr<float>(),
                                  b.data_ptr<float>(), y512.data_ptr<float>(), M, in, out, o0, o1)) {
          GTEST_SKIP() << "CPU without AVX-512";
        }
      }
      EXPECT_TRUE(at::equal(y2, y512)) << "M=" << M << " in=" << in << " out=" << out << " max |d| "
                                       << MaxAbsDiff(y2, y512);
    }
  }
}

cpu::PackedMatrix PackedOf(const at::Tensor& w, at::Tensor* storage) {
  *storage = at::empty({cpu::PackedElements(w.size(0), w.size(1))}, w.options());
  cpu::PackedMatrix m;
  m.out = w.size(0), m.in = w.size(1);
  if (w.scalar_type() == at::kBFloat16) {
    auto* dst = reinterpret_cast<uint16_t*>(storage->data_ptr<at::BFloat16>());
    cpu::PackMatrix(reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>()), m.out, m.in, dst);
    m.bf16 = dst;
  } else {
    cpu::PackMatrix(w.data_ptr<float>(), m.out, m.in, storage->data_ptr<float>());
    m.f32 = storage->data_ptr<float>();
  }
  return m;
}

// The packed matmul fixes each output's arithmetic (fused multiply-adds in
// input order), so the AVX-512, AVX2 and scalar kernels, any split of the
// outputs and any number of rows give the same bits; and it is x W^T + b.
TEST_F(CpuKernelsTest, PackedMatmulGivesTheSameBitsOnEveryKernelSliceAndBatchAndIsLinear) {
  for (int64_t M : {1, 2, 5, 6, 7, 8, 9, 13, 14, 15, 32, 70}) {
    for (auto [in, out] : std::vector<std::pair<int64_t, int64_t>>{{256, 200}, {37, 19}, {8, 9}, {300, 70}}) {
      at::Tensor x = at::randn({M, in}), w = at::randn({out, in}), b = at::randn({out}), storage;
      const cpu::PackedMatrix W = PackedOf(w, &storage);
      at::Tensor scalar = at::full({M, out}, NAN);
      ASSERT_TRUE(cpu::PackedMatmulWith(cpu::PackedIsa::kScalar, x.data_ptr<float>(), M, W, b.data_ptr<float>(),
                                        scalar.data_ptr<float>(), out, 0, out));
      at::Tensor ref = at::linear(x, w, b);
      EXPECT_LT(MaxAbsDiff(scalar, ref), 1e-6 * (1 + ref.abs().max().item<double>()) * std::sqrt(in))
          << "M=" << M << " in=" << in << " out=" << out;
      for (cpu::PackedIsa isa : {cpu::PackedIsa::kAvx2, cpu::PackedIsa::kAvx512}) {
        at::Tensor y = at::full({M, out}, NAN);
        const int64_t cut = std::min<int64_t>(out, 16);  // two slices, as threads split them
        bool ran = true;
        for (auto [o0, o1] : std::vector<std::pair<int64_t, int64_t>>{{0, cut}, {cut, out}}) {
          ran = ran && cpu::PackedMatmulWith(isa, x.data_ptr<float>(), M, W, b.data_ptr<float>(), y.data_ptr<float>(),
                                             out, o0, o1);
        }
        if (!ran) continue;  // this CPU lacks the kernel
        EXPECT_TRUE(at::equal(y, scalar)) << "isa " << static_cast<int>(isa) << " M=" << M << " in=" << in
                                          << " out=" << out << " max |d| " << MaxAbsDiff(y, scalar);
        // Row 0 alone equals row 0 of the batch.
        at::Tensor alone = at::full({1, out}, NAN);
        cpu::PackedMatmulWith(isa, x.data_ptr<float>(), 1, W, b.data_ptr<float>(), alone.data_ptr<float>(), out, 0,
                              out);
        EXPECT_TRUE(at::equal(alone[0], y[0])) << "isa " << static_cast<int>(isa) << " M=" << M;
      }
    }
  }
}

// zmm16-31 as 256 floats (AVX-512 CPUs only).
__attribute__((target("avx512f"))) void ReadHighZmm(float* out) {
  asm volatile(
      "vmovups %%zmm16, 0(%0)\n\tvmovups %%zmm17, 64(%0)\n\tvmovups %%zmm18, 128(%0)\n\t"
      "vmovups %%zmm19, 192(%0)\n\tvmovups %%zmm20, 256(%0)\n\tvmovups %%zmm21, 320(%0)\n\t"
      "vmovups %%zmm22, 384(%0)\n\tvmovups %%zmm23, 448(%0)\n\tvmovups %%zmm24, 512(%0)\n\t"
      "vmovups %%zmm25, 576(%0)\n\tvmovups %%zmm26, 640(%0)\n\tvmovups %%zmm27, 704(%0)\n\t"
      "vmovups %%zmm28, 768(%0)\n\tvmovups %%zmm29, 832(%0)\n\tvmovups %%zmm30, 896(%0)\n\t"
      "vmovups %%zmm31, 960(%0)" ::"r"(out)
      : "memory");
}

TEST_F(CpuKernelsTest, Avx512MatmulsLeaveZmm16To31ZeroSoTheSseCodeAfterThemDoesNotWaitOnThem) {
  if (!cpu::HaveAvx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int64_t M = 32, in = 64, out = 128;
  at::Tensor x = at::randn({M, in}), w = at::randn({out, in}), y = at::empty({M, out}), storage;
  const cpu::PackedMatrix W = PackedOf(w, &storage);
  std::vector<float> regs(256, 1.0f);
  ASSERT_TRUE(cpu::PackedMatmulWith(cpu::PackedIsa::kAvx512, x.data_ptr<float>(), M, W, nullptr, y.data_ptr<float>(),
                                    out, 0, out));
  ReadHighZmm(regs.data());
  EXPECT_EQ(std::count(regs.begin(), regs.end(), 0.0f), 256) << "packed kernel";
  std::fill(regs.begin(), regs.end(), 1.0f);
  ASSERT_TRUE(cpu::SkinnyRangeWith(cpu::SkinnyIsa::kAvx512, x.data_ptr<float>(), w.data_ptr<float>(), nullptr,
                                   y.data_ptr<float>(), M, in, out, 0, out));
  ReadHighZmm(regs.data());
  EXPECT_EQ(std::count(regs.begin(), regs.end(), 0.0f), 256) << "row-major kernel";
}

TEST_F(CpuKernelsTest, PackedBf16WeightsGiveTheFp32BitsOfTheirWidenedValues) {
  const int64_t M = 7, in = 96, out = 40;
  at::Tensor x = at::randn({M, in}), w16 = at::randn({out, in}).to(at::kBFloat16), s16, s32;
  const cpu::PackedMatrix W16 = PackedOf(w16, &s16), W32 = PackedOf(w16.to(at::kFloat), &s32);
  for (cpu::PackedIsa isa : {cpu::PackedIsa::kScalar, cpu::PackedIsa::kAvx2, cpu::PackedIsa::kAvx512}) {
    at::Tensor a = at::full({M, out}, NAN), b = at::full({M, out}, NAN);
    if (!cpu::PackedMatmulWith(isa, x.data_ptr<float>(), M, W16, nullptr, a.data_ptr<float>(), out, 0, out)) continue;
    ASSERT_TRUE(cpu::PackedMatmulWith(isa, x.data_ptr<float>(), M, W32, nullptr, b.data_ptr<float>(), out, 0, out));
    EXPECT_TRUE(at::equal(a, b)) << "isa " << static_cast<int>(isa);
  }
}

class RangeAttentionTest : public ::testing::TestWithParam<int64_t> {
 protected:
  at::NoGradGuard no_grad_;
};

// D = 32 takes the AVX2 path (where the CPU has it), D = 12 the portable one.
TEST_P(RangeAttentionTest, MatchesSoftmaxAttentionWithGqa) {
  at::manual_seed(2);
  const int64_t B = 2, T = 3, N = 4, K = 2, D = GetParam(), cap = 40;
  // Queries with padding between rows (a stride larger than N * D), keys and
  // values in a cache layout [B, K, cap, D].
  at::Tensor q = at::randn({B, T, N * D + 5});
  at::Tensor kc = at::randn({B, K, cap, D}), vc = at::randn({B, K, cap, D});
  std::vector<int64_t> begin = {0, 0, 4, 0, 0, 7};
  std::vector<int64_t> end = {1, 9, 37, 0, 3, 8};  // row (1, 0) sees nothing
  at::Tensor out = at::full({B, T, N * D}, NAN);
  const int64_t qs = N * D + 5;
  cpu::RangeAttention({q.data_ptr<float>(), T * qs, D, qs}, {kc.data_ptr<float>(), K * cap * D, cap * D, D},
                      {vc.data_ptr<float>(), K * cap * D, cap * D, D}, begin.data(), end.data(), out.data_ptr<float>(),
                      B, T, N, K, D);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t n = 0; n < N; ++n) {
        at::Tensor got = out[b][t].narrow(0, n * D, D);
        const int64_t lo = begin[b * T + t], hi = end[b * T + t];
        if (hi == lo) {
          EXPECT_TRUE(at::equal(got, at::zeros({D}))) << "empty range must give zeros";
          continue;
        }
        at::Tensor qv = q[b][t].narrow(0, n * D, D);
        at::Tensor k = kc[b][n / (N / K)].narrow(0, lo, hi - lo);
        at::Tensor v = vc[b][n / (N / K)].narrow(0, lo, hi - lo);
        at::Tensor p = at::softmax(at::mv(k, qv) / std::sqrt(static_cast<double>(D)), 0);
        EXPECT_LT(MaxAbsDiff(got, at::mv(v.t(), p)), 1e-5) << "b=" << b << " t=" << t << " n=" << n;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDims, RangeAttentionTest, ::testing::Values(32, 12));

}  // namespace
}  // namespace ssd
