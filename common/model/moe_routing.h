// Mixture-of-experts routing on the CPU kernel path, torch-free: a token's
// router logits to its k experts and weights, and the grouping of a batch's
// (token, choice) assignments by expert, so that each active expert runs one
// matmul over the rows routed to it.
//
// The arithmetic is transformers' Qwen3-MoE router: softmax over all E
// experts in fp32, the k largest probabilities (ties to the lower expert
// index), divided by their sum when norm_topk_prob. A row's result depends
// on that row's logits only.
#ifndef SSD_COMMON_MODEL_MOE_ROUTING_H_
#define SSD_COMMON_MODEL_MOE_ROUTING_H_

#include <cstdint>
#include <vector>

namespace ssd {
namespace cpu {

// logits[E] -> experts[k] (descending probability) and weights[k].
// `probs` is scratch of E floats.
void RouteRow(const float* logits, int64_t num_experts, int64_t top_k, bool norm_topk_prob, float* probs,
              int32_t* experts, float* weights);

// The assignments a = row * k + j of `rows` rows, grouped by expert:
// order[offsets[e] .. offsets[e + 1]) lists expert e's assignments in
// ascending a (so ascending row), and slot[a] is a's position in order.
// offsets has E + 1 entries.
void GroupByExpert(const int32_t* experts, int64_t rows, int64_t top_k, int64_t num_experts,
                   std::vector<int64_t>* offsets, std::vector<int64_t>* order, std::vector<int64_t>* slot);

// One row's mixture over `width` columns: out[width] = the sum, from zero
// and in ascending expert index (as transformers' index_add_ per expert),
// of weights[j] * y[slot[j] * ldy + c] over the row's k choices. experts,
// weights and slot point at the row's k entries; y at the first column.
// Each column's arithmetic is the same whatever the width.
void CombineExpertRow(const int32_t* experts, const float* weights, const int64_t* slot, int64_t top_k,
                      const float* y, int64_t ldy, int64_t width, float* out);

}  // namespace cpu
}  // namespace ssd

#endif  // SSD_COMMON_MODEL_MOE_ROUTING_H_
