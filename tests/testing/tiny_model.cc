#include "tests/testing/tiny_model.h"

#include <fstream>

#include "tests/testing/subprocess.h"
#include "tests/testing/test_env.h"

namespace ssd {

std::string MakeTinyModel(const std::string& dir, int vocab_size, int max_position_embeddings) {
  std::string corpus;
  for (int i = 0; i < 80; ++i) {
    corpus += "def solve(n):\n    return sum(range(n)) + " + std::to_string(i) + "\nprint(solve(int(input())))\n";
  }
  const std::string corpus_path = dir + ".corpus.txt";
  std::ofstream(corpus_path) << corpus;
  ProcessResult r = RunProcess({SsdBinary(), "tokenizer", "train", "--corpus", corpus_path, "--vocab-size",
                                std::to_string(vocab_size), "--out", dir});
  std::remove(corpus_path.c_str());
  if (r.exit_code != 0) return "ssd tokenizer train: " + r.err;
  r = RunProcess({SsdBinary(), "model", "init", "--vocab", std::to_string(vocab_size), "--hidden", "64", "--layers",
                  "2", "--init-std", "0.2", "--max-position-embeddings", std::to_string(max_position_embeddings),
                  "--out", dir});
  if (r.exit_code != 0) return "ssd model init: " + r.err;
  return "";
}

}  // namespace ssd
