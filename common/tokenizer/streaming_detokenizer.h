// StreamingDetokenizer: turns token ids into text one id at a time, emitting
// text only once its UTF-8 is complete, for stop strings and streaming
// output. Byte-level tokens often end in the middle of a character; those
// bytes are held back until the next token completes them.
//
// Invariant (tested): the concatenation of everything Add() returned plus
// Finish() equals Tokenizer::Decode() of the same ids, including the U+FFFD
// replacement of ill-formed bytes.
//
// Not thread-safe; one per generated sequence. The Tokenizer must outlive it.
#ifndef SSD_COMMON_TOKENIZER_STREAMING_DETOKENIZER_H_
#define SSD_COMMON_TOKENIZER_STREAMING_DETOKENIZER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/tokenizer/tokenizer.h"

namespace ssd {

class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // Appends one token and returns the text it completed (possibly empty).
  // Fails on an id outside the vocabulary, leaving the state unchanged.
  absl::StatusOr<std::string> Add(int32_t id);

  // Returns the held-back bytes (an incomplete character becomes U+FFFD).
  std::string Finish();

  // Everything emitted so far.
  const std::string& text() const { return text_; }

 private:
  const Tokenizer& tokenizer_;
  const bool skip_special_;
  std::string pending_;  // bytes not yet emitted: an incomplete character
  std::string text_;
};

}  // namespace ssd

#endif  // SSD_COMMON_TOKENIZER_STREAMING_DETOKENIZER_H_
