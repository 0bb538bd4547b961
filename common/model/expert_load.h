// How a mixture-of-experts layer spread its tokens over its experts: the
// step metric users watch for expert collapse during fine-tuning.
// Torch-free.
#ifndef SSD_COMMON_MODEL_EXPERT_LOAD_H_
#define SSD_COMMON_MODEL_EXPERT_LOAD_H_

#include <cstdint>
#include <vector>

namespace ssd {

// Tokens routed to each expert of one MoE layer over some real tokens.
struct ExpertLoad {
  int64_t layer = 0;
  int64_t tokens = 0;           // real tokens routed (each makes k choices)
  std::vector<int64_t> counts;  // [E], choices of each expert
  // counts / (k * tokens): each expert's share; 1/E each at perfect balance.
  std::vector<double> Fractions(int64_t top_k) const;
  // The busiest expert's count over the mean count: 1 at perfect balance,
  // E / k when every token picks the same k experts; 0 without tokens.
  double MaxOverMean() const;
  int64_t DeadExperts() const;  // experts no token chose
  // Adds another set of tokens' counts of the same layer.
  void Add(const ExpertLoad& other);
};

}  // namespace ssd

#endif  // SSD_COMMON_MODEL_EXPERT_LOAD_H_
