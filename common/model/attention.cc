#include "common/model/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "common/model/flash_attention.h"

namespace ssd {
namespace {

double LowestFinite(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default: return std::numeric_limits<float>::lowest();
  }
}

}  // namespace

at::Tensor Attend(const at::Tensor& q_BNTD, const at::Tensor& k_BKSD, const at::Tensor& v_BKSD,
                  const at::Tensor& allowed_BTS) {
  const int64_t B = q_BNTD.size(0), N = q_BNTD.size(1), T = q_BNTD.size(2), D = q_BNTD.size(3);
  const int64_t K = k_BKSD.size(1), S = k_BKSD.size(2);
  const int64_t rep = N / K;
  // Query heads n = kv * rep + r share kv head `kv`: fold r into the query
  // axis so one batched matmul per kv head serves all of its query heads.
  at::Tensor q = (q_BNTD * (1.0 / std::sqrt(static_cast<double>(D)))).reshape({B, K, rep * T, D});
  at::Tensor scores = at::matmul(q, k_BKSD.transpose(-1, -2)).view({B, K, rep, T, S});
  // A finite "minus infinity": a row with no visible key (a padded query)
  // becomes uniform instead of NaN; real rows always see themselves. It is
  // the scores' own lowest finite value: float's overflows bf16 and fp16.
  scores.masked_fill_(allowed_BTS.logical_not().view({B, 1, 1, T, S}), LowestFinite(scores.scalar_type()));
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(v_BKSD.scalar_type());
  at::Tensor out = at::matmul(probs.view({B, K, rep * T, S}), v_BKSD);  // [B, K, rep*T, D]
  return out.view({B, N, T, D}).transpose(1, 2).reshape({B, T, N * D});
}

bool KeyRangesFromSegments(const at::Tensor& seg_BT, std::vector<int64_t>* begin, std::vector<int64_t>* end) {
  at::Tensor seg = seg_BT.to(at::kCPU, at::kLong).contiguous();
  const int64_t B = seg.size(0), T = seg.size(1);
  const int64_t* s = seg.data_ptr<int64_t>();
  begin->resize(static_cast<size_t>(B * T));
  end->resize(static_cast<size_t>(B * T));
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> seen;
    int64_t run = 0;
    for (int64_t i = 0; i < T; ++i) {
      const int64_t id = s[b * T + i];
      if (i > 0 && id != s[b * T + i - 1]) {
        if (std::find(seen.begin(), seen.end(), id) != seen.end()) return false;
        run = i;
      }
      if (i == run) seen.push_back(id);
      (*begin)[b * T + i] = run;
      (*end)[b * T + i] = i + 1;
    }
  }
  return true;
}

std::vector<std::vector<std::pair<int64_t, int64_t>>> SegmentRuns(const at::Tensor& seg_BT) {
  std::vector<int64_t> begin, end;
  if (!KeyRangesFromSegments(seg_BT, &begin, &end)) return {};
  const int64_t B = seg_BT.size(0), T = seg_BT.size(1);
  std::vector<std::vector<std::pair<int64_t, int64_t>>> runs(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < T; ++i) {
      const int64_t start = begin[static_cast<size_t>(b * T + i)];
      if (start == i)
        runs[static_cast<size_t>(b)].push_back({i, 1});
      else
        ++runs[static_cast<size_t>(b)].back().second;
    }
  }
  return runs;
}

at::Tensor AttendRuns(const at::Tensor& q_BNTD, const at::Tensor& k_BKTD, const at::Tensor& v_BKTD,
                      const std::vector<std::vector<std::pair<int64_t, int64_t>>>& runs, bool blockwise) {
  std::map<int64_t, at::Tensor> causal;  // by run length
  std::vector<at::Tensor> rows;
  rows.reserve(runs.size());
  for (size_t b = 0; b < runs.size(); ++b) {
    const int64_t row = static_cast<int64_t>(b);
    std::vector<at::Tensor> parts;
    parts.reserve(runs[b].size());
    for (const auto& [start, len] : runs[b]) {
      const at::Tensor q = q_BNTD.narrow(0, row, 1).narrow(2, start, len);
      const at::Tensor k = k_BKTD.narrow(0, row, 1).narrow(2, start, len);
      const at::Tensor v = v_BKTD.narrow(0, row, 1).narrow(2, start, len);
      if (blockwise && len > kFlashBlock) {
        parts.push_back(FlashAttention(q, k, v));
        continue;
      }
      at::Tensor& mask = causal[len];
      if (!mask.defined()) {
        mask = at::ones({1, len, len}, at::TensorOptions().dtype(at::kBool).device(q_BNTD.device())).tril();
      }
      parts.push_back(Attend(q, k, v, mask));
    }
    rows.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 1));
  }
  return rows.size() == 1 ? rows[0] : at::cat(rows, 0);
}

}  // namespace ssd
