#include "common/model/cpu_kernels.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace ssd {
namespace {

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

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
  cpu::QkNormRope(ours.data_ptr<float>(), rows, N, K, D, qn.data_ptr<float>(), kn.data_ptr<float>(),
                  1e-6f, pos.data_ptr<int64_t>(), inv.data_ptr<float>());
  auto norm = [](const at::Tensor& x, const at::Tensor& w) {
    return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6));
  };
  at::Tensor angles = pos.to(at::kFloat).unsqueeze(-1) * inv;       // [rows, D/2]
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
      if (!cpu::SkinnyMatmul(x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(),
                             y.data_ptr<float>(), M, in, out)) {
        GTEST_SKIP() << "CPU without AVX2/FMA";
      }
      at::Tensor ref = at::linear(x, w, b);
      EXPECT_LT(MaxAbsDiff(y, ref), 1e-6 * (1 + ref.abs().max().item<double>()) * std::sqrt(in))
          << "M=" << M << " in=" << in << " out=" << out;
    }
  }
}

TEST_F(CpuKernelsTest, DecodeAttentionMatchesSoftmaxAttentionWithGqa) {
  const int64_t B = 3, N = 4, K = 2, D = 8, cap = 16;
  at::Tensor q = at::randn({B, N * D + 5});  // rows with padding: q_stride > N*D
  at::Tensor kc = at::randn({B, K, cap, D}), vc = at::randn({B, K, cap, D});
  std::vector<int64_t> len = {1, 9, 16};
  at::Tensor out = at::empty({B, N * D});
  cpu::DecodeAttention(q.data_ptr<float>(), N * D + 5, kc.data_ptr<float>(), vc.data_ptr<float>(),
                       len.data(), out.data_ptr<float>(), B, N, K, D, cap);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t n = 0; n < N; ++n) {
      at::Tensor qv = q[b].narrow(0, n * D, D);
      at::Tensor k = kc[b][n / (N / K)].narrow(0, 0, len[b]);
      at::Tensor v = vc[b][n / (N / K)].narrow(0, 0, len[b]);
      at::Tensor p = at::softmax(at::mv(k, qv) / std::sqrt(static_cast<double>(D)), 0);
      at::Tensor ref = at::mv(v.t(), p);
      EXPECT_LT(MaxAbsDiff(out[b].narrow(0, n * D, D), ref), 1e-5) << "b=" << b << " n=" << n;
    }
  }
}

}  // namespace
}  // namespace ssd
