// A trainer rank's share of a round: the rank holds only the examples its
// micro-batches use, and plans from every example's size.
//
// The trainer agent reads the sizes of all of a round's survivors from the
// replay store (the sampler counted them with the same chat template and
// truncation rule the trainer uses), builds the batch plan every rank
// builds, and fetches only the conversations of its own micro-batches. It
// hands `ssd train` two files: those conversations as chat JSONL, in round
// order, and a sizes file with one line per example of the round:
//
//   # ssd rank sizes v1
//   <tokens> <loss_tokens> <held>      held: 1 if the JSONL has it, else 0
//
// The trainer tokenizes the held conversations, checks that each has exactly
// the size the file says (a different tokenizer or template would make the
// ranks plan differently), and places them at their round positions.
#ifndef SSD_TRAINER_WORKER_RANK_SHARE_H_
#define SSD_TRAINER_WORKER_RANK_SHARE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer_worker/packing.h"
#include "trainer_worker/sft_dataset.h"

namespace ssd {

struct SharedExample {
  ExampleSize size;
  bool held = false;
};

absl::Status WriteRankSizes(const std::string& path, const std::vector<SharedExample>& examples);
absl::StatusOr<std::vector<SharedExample>> ReadRankSizes(const std::string& path);

// The batch plan's view of a round from the sizes alone.
std::vector<ExampleSize> SizesOf(const std::vector<SharedExample>& examples);

// Places the held examples (in round order, as loaded from the JSONL) at
// their positions; the others stay empty. Fails, naming the example and
// `sizes_path`, when the count of held examples or any size differs.
absl::StatusOr<SftDataset> SpreadRankShare(SftDataset held, const std::vector<SharedExample>& examples,
                                           const std::string& sizes_path);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_RANK_SHARE_H_
