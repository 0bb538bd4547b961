// Trains a byte-level BPE tokenizer and writes it as a standard Hugging Face
// tokenizer.json + tokenizer_config.json, which transformers and
// @huggingface/tokenizers load with results identical to ours.
//
// The pre-tokenizer is Qwen2's: a Split regex (contractions, letters, single
// digits, punctuation runs, newlines, whitespace) then ByteLevel. Training
// counts the pre-tokenized words, starts from the 256-symbol byte alphabet
// (ids 0-255 in byte order) and repeatedly merges the most frequent adjacent
// pair, ties going to the smaller (left id, right id), until the vocabulary
// (plus special tokens) reaches vocab_size or no pair occurs min_frequency
// times. Pair counts are updated incrementally, only in words that contain
// the merged pair. Deterministic: the same corpus gives the same file.
#ifndef SSD_COMMON_TOKENIZER_BPE_TRAINER_H_
#define SSD_COMMON_TOKENIZER_BPE_TRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ssd {

struct BpeTrainerOptions {
  int64_t vocab_size = 4096;  // including the 256 bytes and the special tokens
  int64_t min_frequency = 2;
  // Added as special tokens after the learned vocabulary. The chat template
  // written to tokenizer_config.json is ChatML, so these default to its
  // markers; eos is <|im_end|>, pad <|endoftext|>.
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

  absl::Status Validate() const;
};

// Trains on `corpus` (valid UTF-8) and writes `out_dir`/tokenizer.json and
// tokenizer_config.json atomically, creating the folder.
absl::Status TrainBpeTokenizer(absl::string_view corpus, const BpeTrainerOptions& options, const std::string& out_dir);

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_BPE_TRAINER_H_
