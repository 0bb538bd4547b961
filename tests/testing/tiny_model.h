// A tiny random model folder with a real byte-level BPE tokenizer and a
// ChatML chat template, made with the `ssd` binary itself, for integration
// tests of the commands that generate.
#ifndef SSD_TESTS_TESTING_TINY_MODEL_H_
#define SSD_TESTS_TESTING_TINY_MODEL_H_

#include <string>

namespace ssd {

// Writes the model to `dir` (created). Returns "" on success, else what
// failed (the command's stderr).
std::string MakeTinyModel(const std::string& dir, int vocab_size = 320, int max_position_embeddings = 8192);

}  // namespace ssd

#endif  // SSD_TESTS_TESTING_TINY_MODEL_H_
