#include "trainer_worker/memory_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ssd {
namespace {

constexpr int64_t kBucketBytes = int64_t{25} << 20;  // GlooOptions / NcclOptions bucket_bytes
constexpr int64_t kFlashBlock = 512;                 // common/model/flash_attention.h
constexpr int64_t kCpuRuntimeBytes = int64_t{400} << 20;
constexpr int64_t kCudaRuntimeBytes = int64_t{1} << 30;

int64_t Padded(int64_t n, int d) { return (n + d - 1) / d * d; }

double Gib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

}  // namespace

int64_t LossChunkRows(int64_t n, int64_t hidden, int64_t vocab) {
  constexpr int64_t kMinBytes = int64_t{16} << 20;
  constexpr int64_t kMinRows = 64;
  const int64_t by_floor = kMinBytes / (4 * std::max<int64_t>(vocab, 1));
  const int64_t by_hidden = (n * hidden + vocab - 1) / std::max<int64_t>(vocab, 1);
  return std::max<int64_t>({kMinRows, by_floor, by_hidden});
}

absl::Status MemoryPlanOptions::Validate() const {
  if (world_size < 1) return absl::InvalidArgumentError(absl::StrCat("--world-size: must be >= 1, got ", world_size));
  if (max_seq_len < 2)
    return absl::InvalidArgumentError(absl::StrCat("--max-seq-len: must be >= 2, got ", max_seq_len));
  if (micro_batch_tokens < max_seq_len || micro_batch_tokens % max_seq_len != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--micro-batch-tokens: ", micro_batch_tokens,
                                                   " must be a positive multiple of --max-seq-len (", max_seq_len,
                                                   ")"));
  }
  if (device != "cpu" && device != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--device: must be cpu or cuda, got \"", device, "\""));
  }
  if (param_dtype != "fp32" && param_dtype != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat("--param-dtype: must be fp32 or bf16, got \"", param_dtype, "\""));
  }
  if (param_dtype == "bf16" && sharding == ShardingMode::kNone) {
    return absl::InvalidArgumentError("--param-dtype: bf16 needs --sharding optimizer, gradients or full");
  }
  if (dtype != "fp32" && dtype != "bf16") {
    return absl::InvalidArgumentError(absl::StrCat("--dtype: must be fp32 or bf16, got \"", dtype, "\""));
  }
  if (!(device_memory_gib >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat("--device-memory-gib: must be >= 0, got ", device_memory_gib));
  }
  return absl::OkStatus();
}

ActivationTerms ActivationTermsOf(const ModelConfig& c) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double D = static_cast<double>(c.head_dim), N = static_cast<double>(c.num_attention_heads);
  const double K = static_cast<double>(c.num_key_value_heads);
  const double qkv = (N + 2 * K) * D;
  ActivationTerms t;
  // decoder.cc's AtenLayer with gradients on: the two RMS norms keep their
  // normalised input and their output (4H), the residual sum after
  // attention and the layer's output (2H); the fused q/k/v projection and
  // its transposed copies for attention (2 qkv), the q/k norms' normalised
  // q and k (qwen3); attention's output with a logsumexp a row, and that
  // output laid out for o_proj (2ND + N); the MLP's gate|up, SiLU(gate) and
  // their product (4I).
  t.layer = 6 * H + 2 * qkv + (c.qk_norm() ? (N + K) * D : 0) + 2 * N * D + N + 4 * I;
  t.checkpoint = H;
  // A layer's backward holds the gate|up gradient beside what it kept.
  t.backward = 2 * I;
  // Around the layers: the residual stream's gradient in and out (2H), the
  // final norm's normalised input and output (2H), the loss's copy of the
  // target rows and their gradient (2H), RoPE's cos and sin (2D).
  t.outside = 6 * H + 2 * D;
  // A MoE layer (decoder.cc's MoeMlp, grouped_experts.h): the router's
  // softmax (E) and its logits' gradient hook (E); for each of the token's
  // k experts its gathered input and gate|up (H + 2I_e, kept by the grouped
  // node), its output and its weighted output (2H: the weighting keeps the
  // one, libtorch 1.13's index_add_ the other), and the int64 indices of
  // the choice, its order and its row (about 10 elements). Its backward
  // frees what the layer kept as it goes; one expert's gate|up gradient
  // for the rows routed to it comes on top (2I_e for each of k).
  const double E = static_cast<double>(c.moe.num_experts), k = static_cast<double>(c.moe.num_experts_per_tok);
  const double Ie = static_cast<double>(c.moe.moe_intermediate_size);
  t.moe_layer = t.layer - 4 * I + 2 * E + k * (3 * H + 2 * Ie + 10);
  t.moe_backward = 2 * k * Ie;
  return t;
}

ParameterCounts CountParameters(const ModelConfig& c) {
  ParameterCounts p;
  p.root = c.RootParameters();
  p.total = p.active = p.root;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const int64_t layer = c.LayerParameters(l);
    p.layers.push_back(layer);
    p.per_layer = std::max(p.per_layer, layer);
    p.total += layer;
    p.active += c.LayerParameters(l, /*active=*/true);
  }
  return p;
}

absl::StatusOr<MemoryPlan> PlanMemory(const ModelConfig& c, const MemoryPlanOptions& o) {
  RETURN_IF_ERROR(o.Validate());
  MemoryPlan m;
  m.params = CountParameters(c);
  const int d = o.world_size;
  const int64_t L = c.num_hidden_layers, P = m.params.total;
  // Units (sharded_model.h): each layer and the root, each padded to d.
  const int64_t pad_layer = Padded(m.params.per_layer, d), pad_root = Padded(m.params.root, d);
  int64_t padded_layers = 0;
  for (int64_t n : m.params.layers) padded_layers += Padded(n, d);
  const int64_t padded = padded_layers + pad_root;
  const int64_t shards = padded / d, layer_shards = padded_layers / d;
  // Parameters kept whole or gathered: 4 bytes, or 2 when gathered in bf16,
  // whose fp32 masters and gradient shards are then tensors of their own.
  const int64_t pb = o.param_dtype == "bf16" ? 2 : 4;
  const int64_t own = pb == 2 ? 4 * shards : 0;
  const int64_t root_shard = pad_root / d;
  switch (o.sharding) {
    case ShardingMode::kNone:
      m.parameters = 4 * P;
      m.gradients = 4 * P;
      m.optimizer = 12 * P;
      m.communication = std::min(kBucketBytes, 4 * P);
      m.reference_model_state = 16 * P;
      break;
    case ShardingMode::kOptimizer:
      m.parameters = pb * padded + own;
      m.gradients = pb * padded + own;
      m.optimizer = 12 * shards;
      m.reference_model_state = 4 * P + 12 * P / d;
      break;
    case ShardingMode::kGradients:
      m.parameters = pb * padded + own;
      m.gradients = 4 * layer_shards + pb * pad_root + (pb == 2 ? 4 * root_shard : 0);
      m.optimizer = 12 * shards;
      m.communication = 2 * 4 * pad_layer;  // one reduce-scatter in flight, the next being filled
      m.reference_model_state = 2 * P + 14 * P / d;
      break;
    case ShardingMode::kFull:
      m.parameters = 4 * shards;
      m.gradients = 4 * layer_shards + pb * pad_root + (pb == 2 ? 4 * root_shard : 0);
      m.optimizer = 12 * shards;
      m.gathered = pb * pad_root + 2 * pb * pad_layer;
      m.communication = 2 * 4 * pad_layer;
      m.reference_model_state = 16 * P / d;
      break;
  }
  // Activations of one micro-batch, in elements a token (ActivationTerms).
  const double a = o.dtype == "bf16" ? 3 : 4;
  const ActivationTerms t = ActivationTermsOf(c);
  const double tokens = static_cast<double>(o.micro_batch_tokens);
  double kept = t.outside, largest_layer = 0, largest_backward = 0;
  for (int64_t l = 0; l < L; ++l) {
    const bool moe = c.IsMoeLayer(l);
    const double layer = moe ? t.moe_layer : t.layer;
    kept += o.activation_checkpointing.Checkpoints(l) ? t.checkpoint : layer;
    largest_layer = std::max(largest_layer, layer);
    largest_backward = std::max(largest_backward, moe ? t.moe_backward : t.backward);
  }
  // A layer's backward: the layer recomputed (checkpointing) and its gradients.
  const double layer_backward = (o.activation_checkpointing.every > 0 ? largest_layer : 0) + largest_backward;
  m.activations = static_cast<int64_t>(tokens * (kept + layer_backward) * a);
  // The chunked loss: one chunk of logits and its gradient, or all of them
  // when they are small enough to keep their graphs (chunked_loss.h).
  const int64_t all_logits = o.micro_batch_tokens * c.vocab_size * 4;
  const int64_t rows = std::min(o.micro_batch_tokens, LossChunkRows(o.micro_batch_tokens, c.hidden_size, c.vocab_size));
  m.logits = 2 * (all_logits <= (int64_t{256} << 20) ? all_logits : rows * c.vocab_size * 4);
  // Attention scores of one layer: blocks above kFlashBlock, whole below.
  const int64_t rows_per_mb = o.micro_batch_tokens / o.max_seq_len;
  m.attention = o.max_seq_len > kFlashBlock ? 3 * c.num_attention_heads * kFlashBlock * kFlashBlock * 4
                                            : 3 * rows_per_mb * c.num_attention_heads * o.max_seq_len * o.max_seq_len * 4;
  m.runtime = o.device == "cpu" ? kCpuRuntimeBytes : kCudaRuntimeBytes;
  // The loss's backward ends before the last layer's begins, and attention's
  // tiles live inside a layer: the peak holds the larger of the two phases.
  m.not_at_once = std::min(m.logits, static_cast<int64_t>(tokens * layer_backward * a) + m.attention);
  m.total = m.parameters + m.gradients + m.optimizer + m.gathered + m.activations + m.logits + m.attention -
            m.not_at_once + m.communication + m.runtime;
  if (o.device_memory_gib > 0) {
    m.judged = true;
    const int64_t limit = static_cast<int64_t>(o.device_memory_gib * (1 << 30));
    m.fits = m.total <= limit;
    if (!m.fits) {
      auto fits_with = [&](MemoryPlanOptions changed) {
        changed.device_memory_gib = 0;
        auto p = PlanMemory(c, changed);
        return p.ok() && p->total <= limit;
      };
      if (o.sharding != ShardingMode::kFull) {
        MemoryPlanOptions x = o;
        x.sharding = ShardingMode::kFull;
        if (fits_with(x)) m.advice.push_back("train.sharding: full (--sharding full)");
      }
      if (o.activation_checkpointing.every != 1) {
        MemoryPlanOptions x = o;
        x.activation_checkpointing.every = 1;
        if (fits_with(x)) m.advice.push_back("train.activation_checkpointing: full");
      }
      if (o.micro_batch_tokens > o.max_seq_len) {
        MemoryPlanOptions x = o;
        x.micro_batch_tokens = o.max_seq_len;
        if (fits_with(x)) m.advice.push_back(absl::StrCat("train.micro_batch_tokens: ", o.max_seq_len));
      }
      if (o.sharding != ShardingMode::kNone) {
        for (int more = 2 * d; more <= 64 * d; more *= 2) {
          MemoryPlanOptions x = o;
          x.world_size = more;
          if (fits_with(x)) {
            m.advice.push_back(absl::StrCat("train.trainers: ", more, " (more ranks to shard over)"));
            break;
          }
        }
      }
      if (m.advice.empty()) m.advice.push_back("no single change above fits; combine them or use larger devices");
    }
  }
  return m;
}

std::string MemoryPlanText(const ModelConfig& c, const MemoryPlanOptions& o, const MemoryPlan& m) {
  const std::string active =
      c.is_moe() ? absl::StrFormat(", %.2f B active a token (%d of %d layers with %d experts, top-%d)",
                                   m.params.active / 1e9, c.num_moe_layers(), c.num_hidden_layers, c.moe.num_experts,
                                   c.moe.num_experts_per_tok)
                 : std::string();
  std::string out = absl::StrFormat(
      "%s: %.2f B parameters%s (%d layers of up to %.1f M, root %.1f M)\n"
      "%d rank(s), sharding %s (%s parameters), max_seq_len %d, micro_batch_tokens %d, activation checkpointing %s, "
      "%s activations on %s\n\n",
      ModelTypeName(c.arch), m.params.total / 1e9, active, c.num_hidden_layers, m.params.per_layer / 1e6,
      m.params.root / 1e6,
      o.world_size, ShardingModeName(o.sharding), o.param_dtype, o.max_seq_len, o.micro_batch_tokens,
      o.activation_checkpointing.Name(), o.dtype, o.device);
  absl::StrAppend(&out, "per rank                    GiB\n");
  const std::pair<const char*, int64_t> rows[] = {{"parameters", m.parameters},
                                                  {"gradients", m.gradients},
                                                  {"optimizer", m.optimizer},
                                                  {"gathered layers", m.gathered},
                                                  {"activations", m.activations},
                                                  {"logits and loss", m.logits},
                                                  {"attention workspace", m.attention},
                                                  {"not at once", -m.not_at_once},
                                                  {"communication", m.communication},
                                                  {"runtime", m.runtime},
                                                  {"total", m.total}};
  for (const auto& [name, bytes] : rows) absl::StrAppend(&out, absl::StrFormat("  %-24s %8.2f\n", name, Gib(bytes)));
  absl::StrAppend(&out, absl::StrFormat("  (ZeRO paper's bf16 model state for this mode: %.2f GiB)\n",
                                        Gib(m.reference_model_state)));
  if (m.judged) {
    absl::StrAppend(
        &out, absl::StrFormat("\n%s on a %.0f GiB device\n", m.fits ? "fits" : "does NOT fit", o.device_memory_gib));
    for (const std::string& a : m.advice) absl::StrAppend(&out, "  would fit with ", a, "\n");
  }
  return out;
}

std::string MemoryPlanJson(const ModelConfig& c, const MemoryPlanOptions& o, const MemoryPlan& m) {
  nlohmann::ordered_json j;
  j["model_type"] = ModelTypeName(c.arch);
  j["parameters"] = {{"total", m.params.total},
                     {"active", m.params.active},
                     {"per_layer", m.params.per_layer},
                     {"root", m.params.root}};
  if (c.is_moe()) {
    j["experts"] = {{"num_experts", c.moe.num_experts},
                    {"num_experts_per_tok", c.moe.num_experts_per_tok},
                    {"moe_layers", c.num_moe_layers()}};
  }
  j["world_size"] = o.world_size;
  j["sharding"] = ShardingModeName(o.sharding);
  j["max_seq_len"] = o.max_seq_len;
  j["micro_batch_tokens"] = o.micro_batch_tokens;
  j["activation_checkpointing"] = o.activation_checkpointing.Name();
  j["dtype"] = o.dtype;
  j["param_dtype"] = o.param_dtype;
  j["device"] = o.device;
  j["per_rank_bytes"] = {{"parameters", m.parameters},   {"gradients", m.gradients},
                         {"optimizer", m.optimizer},     {"gathered", m.gathered},
                         {"activations", m.activations}, {"logits", m.logits},
                         {"attention", m.attention},     {"not_at_once", -m.not_at_once},
                         {"communication", m.communication},
                         {"runtime", m.runtime},         {"total", m.total}};
  j["reference_model_state_bytes"] = m.reference_model_state;
  if (m.judged) {
    j["device_memory_gib"] = o.device_memory_gib;
    j["fits"] = m.fits;
    j["advice"] = m.advice;
  } else {
    j["fits"] = nullptr;
  }
  return j.dump(2) + "\n";
}

}  // namespace ssd
