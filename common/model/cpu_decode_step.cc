#include "common/model/cpu_decode_step.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>

#include "common/model/cpu_packed_matmul.h"
#include "common/model/cpu_rows.h"
#include "common/model/moe_routing.h"

namespace ssd {
namespace cpu {
namespace {

constexpr int64_t kRowsPerPass = 64;
// Up to this many rows every thread norms all of them into its own buffer
// (cheaper than a barrier); more (a prefill) share one buffer, split by rows.
constexpr int64_t kOwnNormRows = 32;
// The shared buffers stay allocated between steps up to this size (16 MB).
constexpr size_t kKeptBufferFloats = size_t{4} << 20;

// Thread t's share [begin, end) of `total` items, in blocks of `block`.
std::pair<int64_t, int64_t> Slice(int64_t total, int64_t block, int t, int nt) {
  const int64_t blocks = (total + block - 1) / block;
  return {std::min(blocks * t / nt * block, total), std::min(blocks * (t + 1) / nt * block, total)};
}

// The outputs of a matrix are handed out in chunks from a shared counter, so
// a thread that the machine slows down (these cores are shared) takes fewer
// of them instead of keeping the others waiting at the next barrier. Chunks
// are whole groups of 4 panels (64 outputs, the AVX-512 tile), about eight
// per thread.
class Chunks {
 public:
  Chunks(int64_t total, int nt) : total_(total) {
    constexpr int64_t kTile = 4 * kPanel;
    const int64_t target = (total + 8 * nt - 1) / (8 * nt);
    width_ = std::max(kTile, (target + kTile - 1) / kTile * kTile);
  }
  // The next chunk [begin, end) from `counter`; false when none is left.
  bool Next(std::atomic<int64_t>& counter, int64_t* begin, int64_t* end) const {
    const int64_t c = counter.fetch_add(1, std::memory_order_relaxed);
    *begin = c * width_;
    if (*begin >= total_) return false;
    *end = std::min(*begin + width_, total_);
    return true;
  }
  int64_t width() const { return width_; }

 private:
  const int64_t total_;
  int64_t width_ = 0;
};

// y[:, o0:o1] = x W^T (+ b), up to 64 rows per pass (their inputs stay in
// L2 while W streams by).
void Range(const float* x, const PackedMatrix& W, const float* b, float* y, int64_t M, int64_t ldy, int64_t o0,
           int64_t o1) {
  for (int64_t m = 0; m < M; m += kRowsPerPass) {
    PackedMatmul(x + m * W.in, std::min(kRowsPerPass, M - m), W, b, y + m * ldy, ldy, o0, o1);
  }
}

// y = x W^T (+ b) chunk by chunk from `counter`, then x_res += y there
// (x_res == nullptr: no residual). x_res + y rounds as ATen's `x + y` does.
void Matmul(const float* x, const PackedMatrix& W, const float* b, float* y, int64_t M, float* x_res, int nt,
            std::atomic<int64_t>& counter) {
  const int64_t out = W.out;
  const Chunks chunks(out, nt);
  int64_t o0, o1;
  while (chunks.Next(counter, &o0, &o1)) {
    Range(x, W, b, y, M, out, o0, o1);
    if (x_res == nullptr) continue;
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t o = o0; o < o1; ++o) x_res[m * out + o] = x_res[m * out + o] + y[m * out + o];
    }
  }
}

struct MoeBuffers {
  float* router_BE;
  float* weights_A;
  int32_t* experts_A;
  float* xg_AH;
  float* gu_A2I;
  float* act_AI;
  float* yg_AH;
};

// The mixture-of-experts MLP of one layer over the normed rows h_BH, added
// to the residual x_BH; called by every thread of the team (t of nt), with
// barriers between its phases. Uses counters[0..2].
//
// Up to kOwnNormRows rows (decode), every thread routes every row itself
// and copies an expert's rows together for each item it takes (a row's
// arithmetic does not depend on the others): no barrier for the routing or
// the copy. More rows (a prefill) route in slices and
// copy each expert's rows together first. The down projection goes by
// chunks of output columns, each over every active expert, and ends in the
// rows' weighted sums for those columns, so no phase of its own combines.
template <typename Mark>
void MixtureOfExperts(const DecodeLayer& w, int64_t B, int64_t H, const float* h_BH, float* x_BH, int t, int nt,
                      std::atomic<int64_t>* counters, const MoeBuffers& buf, Mark&& mark) {
  const int64_t E = w.experts, k = w.top_k, Ie = w.expert_intermediate, A = B * k;
  const bool own = B <= kOwnNormRows;
  Matmul(h_BH, w.router, nullptr, buf.router_BE, B, nullptr, nt, counters[0]);
#pragma omp barrier
  thread_local std::vector<float> probs, own_weights, rows;
  thread_local std::vector<int32_t> own_experts;
  probs.resize(static_cast<size_t>(std::max(E, H)));
  int32_t* experts = buf.experts_A;
  float* weights = buf.weights_A;
  if (own) {
    own_experts.resize(static_cast<size_t>(A));
    own_weights.resize(static_cast<size_t>(A));
    experts = own_experts.data(), weights = own_weights.data();
    for (int64_t r = 0; r < B; ++r) {
      RouteRow(buf.router_BE + r * E, E, k, w.norm_topk_prob, probs.data(), experts + r * k, weights + r * k);
    }
  } else {
    const auto [r0, r1] = Slice(B, 1, t, nt);
    for (int64_t r = r0; r < r1; ++r) {
      RouteRow(buf.router_BE + r * E, E, k, w.norm_topk_prob, probs.data(), experts + r * k, weights + r * k);
    }
#pragma omp barrier
  }
  // Every thread derives the same grouping from the same choices.
  thread_local std::vector<int64_t> offsets, order, slot, active;
  GroupByExpert(experts, B, k, E, &offsets, &order, &slot);
  active.clear();
  for (int64_t e = 0; e < E; ++e) {
    if (offsets[e + 1] > offsets[e]) active.push_back(e);
  }
  if (!own) {
    const auto [p0, p1] = Slice(A, 1, t, nt);
    for (int64_t p = p0; p < p1; ++p) {
      std::memcpy(buf.xg_AH + p * H, h_BH + order[static_cast<size_t>(p)] / k * H, sizeof(float) * H);
    }
#pragma omp barrier
  }
  mark(DecodeProfile::kRouter);
  const int64_t num_active = static_cast<int64_t>(active.size());
  {
    // Items (active expert, chunk of units); gate and up of the same units.
    const int64_t width = Chunks(Ie, nt).width(), per = (Ie + width - 1) / width;
    for (int64_t item = counters[1].fetch_add(1, std::memory_order_relaxed); item < num_active * per;
         item = counters[1].fetch_add(1, std::memory_order_relaxed)) {
      const size_t e = static_cast<size_t>(active[static_cast<size_t>(item / per)]);
      const int64_t i0 = item % per * width, i1 = std::min(i0 + width, Ie);
      const int64_t off = offsets[e], n = offsets[e + 1] - off;
      float* gu = buf.gu_A2I + off * 2 * Ie;
      if (own) {
        // The expert's rows copied together here, for this item alone.
        const float* x = h_BH + order[static_cast<size_t>(off)] / k * H;
        if (n > 1) {
          rows.resize(static_cast<size_t>(n * H));
          for (int64_t m = 0; m < n; ++m) {
            std::memcpy(rows.data() + m * H, h_BH + order[static_cast<size_t>(off + m)] / k * H, sizeof(float) * H);
          }
          x = rows.data();
        }
        Range(x, w.expert_gate[e], nullptr, gu, n, 2 * Ie, i0, i1);
        Range(x, w.expert_up[e], nullptr, gu + Ie, n, 2 * Ie, i0, i1);
      } else {
        Range(buf.xg_AH + off * H, w.expert_gate[e], nullptr, gu, n, 2 * Ie, i0, i1);
        Range(buf.xg_AH + off * H, w.expert_up[e], nullptr, gu + Ie, n, 2 * Ie, i0, i1);
      }
      for (int64_t m = 0; m < n; ++m) {
        SiluGateRow(gu + m * 2 * Ie + i0, gu + m * 2 * Ie + Ie + i0, buf.act_AI + (off + m) * Ie + i0, i1 - i0);
      }
    }
  }
#pragma omp barrier
  mark(DecodeProfile::kGateUp);
  {
    // Chunks of output columns: every active expert's down for them, then
    // each row's weighted sum of its experts there, added to the residual.
    const Chunks chunks(H, nt);
    float* acc = probs.data();
    int64_t o0, o1;
    while (chunks.Next(counters[2], &o0, &o1)) {
      for (int64_t e : active) {
        const int64_t off = offsets[static_cast<size_t>(e)], n = offsets[static_cast<size_t>(e) + 1] - off;
        Range(buf.act_AI + off * Ie, w.expert_down[static_cast<size_t>(e)], nullptr, buf.yg_AH + off * H, n, H, o0,
              o1);
      }
      for (int64_t r = 0; r < B; ++r) {
        CombineExpertRow(experts + r * k, weights + r * k, slot.data() + r * k, k, buf.yg_AH + o0, H, o1 - o0, acc);
        for (int64_t h = o0; h < o1; ++h) x_BH[r * H + h] = x_BH[r * H + h] + acc[h - o0];
      }
    }
  }
#pragma omp barrier
  mark(DecodeProfile::kDown);
}

}  // namespace

const char* DecodeProfile::Name(int phase) {
  switch (phase) {
    case kQkv: return "norm + qkv";
    case kRope: return "qk-norm + rope + kv write";
    case kAttention: return "attention";
    case kOProj: return "o_proj + residual";
    case kRouter: return "norm + router + top-k";
    case kGateUp: return "norm + gate_up + silu";
    case kDown: return "down + residual";
    case kLmHead: return "final norm + lm_head";
    default: return "?";
  }
}

void DecodeStep(const DecodeModel& model, const DecodeBatch& batch, float* x_BH, float* logits_BV, int threads,
                DecodeProfile* profile) {
  const int64_t B = batch.rows, H = model.hidden, N = model.heads, K = model.kv_heads;
  const int64_t D = model.head_dim, I = model.intermediate;
  const int64_t W = (N + 2 * K) * D, rep = N / K;
  const int64_t L = batch.logit_rows != nullptr ? batch.num_logits : B;
  const float eps = model.eps, scale = 1.0f / std::sqrt(static_cast<float>(D));
  int64_t max_keys = 1;
  for (int64_t b = 0; b < B; ++b) max_keys = std::max(max_keys, batch.positions[b] + 1);
  const bool own_norm = B <= kOwnNormRows;

  // Buffers shared by the team, kept by the calling thread between steps.
  thread_local std::vector<float> shared;
  shared.resize(static_cast<size_t>(B * (W + N * D + H + 3 * I) + (own_norm ? 0 : B * H)));
  float* qkv_BW = shared.data();
  float* attn_BND = qkv_BW + B * W;
  float* y_BH = attn_BND + B * N * D;
  float* gu_B2I = y_BH + B * H;
  float* act_BI = gu_B2I + B * 2 * I;
  float* h_shared_BH = act_BI + B * I;  // when !own_norm
  // Mixture-of-experts buffers: router logits [B, E], each row's k experts
  // and weights, and per assignment (B * k, grouped by expert) its input,
  // gate|up, activation and output rows.
  int64_t max_e = 0, max_k = 0, max_ie = 0;
  for (const DecodeLayer& w : model.layers) {
    max_e = std::max(max_e, w.experts), max_k = std::max(max_k, w.top_k);
    max_ie = std::max(max_ie, w.expert_intermediate);
  }
  const int64_t max_a = B * max_k;
  thread_local std::vector<float> moe_shared;
  thread_local std::vector<int32_t> moe_ids;
  moe_shared.resize(static_cast<size_t>(B * max_e + max_a * (1 + 2 * H + 3 * max_ie)));
  moe_ids.resize(static_cast<size_t>(max_a));
  float* router_BE = moe_shared.data();
  float* weights_A = router_BE + B * max_e;
  float* xg_AH = weights_A + max_a;
  float* gu_A2I = xg_AH + max_a * H;
  float* act_AI = gu_A2I + max_a * 2 * max_ie;
  float* yg_AH = act_AI + max_a * max_ie;
  int32_t* experts_A = moe_ids.data();
  const HeadsView cache_view{nullptr,          K * batch.block_size * D, batch.block_size * D, D, batch.block_tables,
                             batch.max_blocks, batch.block_size};

  // One work counter per matrix of the step (up to 5 per layer, the lm_head).
  const size_t num_counters = 5 * model.layers.size() + 1;
  std::unique_ptr<std::atomic<int64_t>[]> counters(new std::atomic<int64_t>[num_counters]);
  for (size_t i = 0; i < num_counters; ++i) counters[i].store(0, std::memory_order_relaxed);

  using Clock = std::chrono::steady_clock;
  Clock::time_point last = Clock::now();
  const int team = omp_in_parallel() ? 1 : std::max(1, threads);
#pragma omp parallel num_threads(team)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    auto mark = [&](int phase) {
      if (profile == nullptr || t != 0) return;
      const Clock::time_point now = Clock::now();
      profile->seconds[static_cast<size_t>(phase)] += std::chrono::duration<double>(now - last).count();
      last = now;
    };
    thread_local std::vector<float> h_own, scratch_own;
    h_own.resize(static_cast<size_t>(own_norm ? B * H : 0));
    scratch_own.resize(static_cast<size_t>(max_keys + 2 * D));
    float* h_BH = own_norm ? h_own.data() : h_shared_BH;
    float* table = scratch_own.data();
    float* scratch = table + D;
    // h = RmsNorm(x) with weight w, by whichever threads the row count asks for.
    auto norm_rows = [&](const float* w) {
      if (own_norm) {
        for (int64_t m = 0; m < B; ++m) RmsNormRow(x_BH + m * H, w, h_BH + m * H, H, eps);
        return;
      }
      const auto [r0, r1] = Slice(B, 1, t, nt);
      for (int64_t m = r0; m < r1; ++m) RmsNormRow(x_BH + m * H, w, h_BH + m * H, H, eps);
#pragma omp barrier
    };
    std::atomic<int64_t>* counter = counters.get();
    for (const DecodeLayer& w : model.layers) {
      norm_rows(w.input_norm);
      Matmul(h_BH, w.qkv_weight, w.qkv_bias, qkv_BW, B, nullptr, nt, *counter++);
#pragma omp barrier
      mark(DecodeProfile::kQkv);

      HeadsView k_view = cache_view, v_view = cache_view;
      k_view.data = w.k_cache;
      v_view.data = w.v_cache;
      const auto [g0, g1] = Slice(B * K, 1, t, nt);
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t b = g / K, kv = g % K, pos = batch.positions[b];
        float* row = qkv_BW + b * W;
        RopeTable(pos, model.inv_freq, D, table);
        NormRopeHead(row + (N + kv) * D, w.k_norm, D, eps, table);
        std::memcpy(const_cast<float*>(k_view.Row(b, kv, pos)), row + (N + kv) * D, sizeof(float) * D);
        std::memcpy(const_cast<float*>(v_view.Row(b, kv, pos)), row + (N + K + kv) * D, sizeof(float) * D);
        for (int64_t n = kv * rep; n < (kv + 1) * rep; ++n) NormRopeHead(row + n * D, w.q_norm, D, eps, table);
      }
      // A packed prompt's rows attend to keys its other rows just wrote.
#pragma omp barrier
      mark(DecodeProfile::kRope);

      for (int64_t g = g0; g < g1; ++g) {
        const int64_t b = g / K, kv = g % K, pos = batch.positions[b];
        const float* row = qkv_BW + b * W;
        for (int64_t n = kv * rep; n < (kv + 1) * rep; ++n) {
          AttendRow(row + n * D, k_view, v_view, b, kv, 0, pos + 1, D, scale, scratch, attn_BND + (b * N + n) * D);
        }
      }
#pragma omp barrier
      mark(DecodeProfile::kAttention);

      Matmul(attn_BND, w.o_weight, w.o_bias, y_BH, B, x_BH, nt, *counter++);
#pragma omp barrier
      mark(DecodeProfile::kOProj);

      norm_rows(w.post_norm);
      if (w.experts > 0) {
        const MoeBuffers buffers{router_BE, weights_A, experts_A, xg_AH, gu_A2I, act_AI, yg_AH};
        MixtureOfExperts(w, B, H, h_BH, x_BH, t, nt, counter, buffers, mark);
        counter += 3;
        continue;
      }
      // Gate and up outputs of the same units, so each chunk ends in SiLU.
      const Chunks units(I, nt);
      int64_t i0, i1;
      std::atomic<int64_t>& unit_counter = *counter++;
      while (units.Next(unit_counter, &i0, &i1)) {
        Range(h_BH, w.gate_weight, nullptr, gu_B2I, B, 2 * I, i0, i1);
        Range(h_BH, w.up_weight, nullptr, gu_B2I + I, B, 2 * I, i0, i1);
        for (int64_t m = 0; m < B; ++m) {
          SiluGateRow(gu_B2I + m * 2 * I + i0, gu_B2I + m * 2 * I + I + i0, act_BI + m * I + i0, i1 - i0);
        }
      }
#pragma omp barrier
      mark(DecodeProfile::kGateUp);

      Matmul(act_BI, w.down_weight, nullptr, y_BH, B, x_BH, nt, *counter++);
#pragma omp barrier
      mark(DecodeProfile::kDown);
    }
    // The final norm of the wanted rows, each thread all of them (few).
    thread_local std::vector<float> final_own;
    final_own.resize(static_cast<size_t>(L * H));
    for (int64_t l = 0; l < L; ++l) {
      const int64_t r = batch.logit_rows != nullptr ? batch.logit_rows[l] : l;
      RmsNormRow(x_BH + r * H, model.final_norm, final_own.data() + l * H, H, eps);
    }
    Matmul(final_own.data(), model.lm_head, nullptr, logits_BV, L, nullptr, nt, *counter);
  }
  if (profile != nullptr) {
    profile->seconds[DecodeProfile::kLmHead] += std::chrono::duration<double>(Clock::now() - last).count();
    ++profile->steps;
  }
  // A long prefill's buffers (tens of MB at thousands of rows) are not kept
  // for the decode steps that follow.
  if (shared.capacity() > kKeptBufferFloats) std::vector<float>().swap(shared);
}

}  // namespace cpu
}  // namespace ssd
