// The simulated workers' fake model (tests/cluster/sim_worker.cc): sample
// texts as a pure function of (job, round, problem, index), so that a re-run
// shard produces bitwise the same samples and a test can check every stored
// sample against what it must be.
#ifndef SSD_TESTS_CLUSTER_FAKE_MODEL_H_
#define SSD_TESTS_CLUSTER_FAKE_MODEL_H_

#include <cstdint>
#include <string>

namespace ssd {

// ~10% empty, ~10% one-line stubs, the rest multi-line code of varying
// length, padded to at least `text_bytes`.
std::string FakeText(const std::string& job, int round, const std::string& problem, int64_t index, int text_bytes);

}  // namespace ssd

#endif  // SSD_TESTS_CLUSTER_FAKE_MODEL_H_
