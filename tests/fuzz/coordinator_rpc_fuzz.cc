// The coordinator's and replay store's request handlers fed a sequence of
// decoded messages of arbitrary bytes, against the in-memory store and a
// fake clock: what a hostile or broken client can send over gRPC, without
// the transport. Input: records of [kind:1][length:2, little-endian][message].
// A worker call's message starts with its credentials (what the call's
// metadata carries over gRPC): [length:2, little-endian][WorkerCredentials].
// A worker id, job id or lease job id of "@" (a page token of "after:@")
// stands for the newest one the coordinator handed out, so the fuzzer
// reaches leases and appends without guessing sessions.
// Properties: every request gets an answer (libFuzzer's -timeout catches a
// hang); a coordinator restarted on the same store starts, knows every job
// the first one accepted, and holds exactly the samples the first one said
// it stored (nothing acknowledged is lost, nothing appears).
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/storage/in_memory_kv_store.h"
#include "common/util/file_util.h"
#include "coordinator/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_schema.h"
#include "glog/logging.h"
#include "tests/fuzz/fuzz_check.h"

#ifndef SSD_FUZZ_SOURCE_DIR
#error "SSD_FUZZ_SOURCE_DIR: the checkout, for the example problem files"
#endif

namespace {

// Relative paths in submitted specs resolve here: a copy of the example
// problems (problems.jsonl) and the LiveCodeBench fixture (benchmark.jsonl).
std::string* base_dir = nullptr;

const std::string& BaseDir() {
  if (base_dir != nullptr) return *base_dir;
  base_dir = new std::string(MakeFuzzTempDir("ssd_fuzz_rpc"));
  const std::string src = SSD_FUZZ_SOURCE_DIR;
  for (auto [from, to] :
       {std::pair<const char*, const char*>{"/deploy/examples/tiny-problems.jsonl", "/problems.jsonl"},
        {"/tests/fixtures/eval/lcb_mini.jsonl", "/benchmark.jsonl"}}) {
    auto bytes = ssd::ReadFileToString(src + from);
    if (!bytes.ok() || !ssd::WriteFileAtomically(*base_dir + to, *bytes).ok()) std::abort();
  }
  return *base_dir;
}

template <typename T, typename F>
absl::StatusOr<T> Sync(F&& call) {
  absl::Notification n;
  absl::StatusOr<T> out = absl::UnknownError("no reply");
  call([&](absl::StatusOr<T> r) {
    out = std::move(r);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

// What "@" stands for.
struct Newest {
  ssd::v1::WorkerCredentials worker;
  std::string job_id;
  ssd::v1::LeaseRef lease;
};

void Substitute(const Newest& n, ssd::v1::WorkerCredentials* id) {
  if (id->worker_id() == "@") *id = n.worker;
}
void Substitute(const Newest& n, ssd::v1::LeaseRef* lease) {
  if (lease->job_id() == "@") *lease = n.lease;
}
void Substitute(const Newest& n, std::string* job_id) {
  if (*job_id == "@") *job_id = n.job_id;
}

// A worker call's record: [credentials length:2, little-endian][WorkerCredentials]
// [request], as a call's metadata and body. False when the bytes do not split.
bool SplitCredentials(absl::string_view msg, const Newest& n, ssd::v1::WorkerCredentials* who,
                      absl::string_view* body) {
  if (msg.size() < 2) return false;
  const size_t len = static_cast<uint8_t>(msg[0]) | static_cast<size_t>(static_cast<uint8_t>(msg[1])) << 8;
  if (msg.size() < 2 + len) return false;
  who->Clear();
  if (!who->ParseFromArray(msg.data() + 2, static_cast<int>(len))) return false;
  Substitute(n, who);
  *body = msg.substr(2 + len);
  return true;
}

void NoteWork(const ssd::v1::AcquireWorkResponse& r, Newest* n) {
  if (r.has_shard()) n->lease = r.shard().lease();
  if (r.has_training()) n->lease = r.training().lease();
  if (r.has_push()) n->lease = r.push().lease();
}

int64_t StoredSamples(ssd::Coordinator* c) {
  auto stats = Sync<ssd::v1::StatsResponse>([&](auto done) { c->Stats(ssd::v1::StatsRequest(), done); });
  SSD_FUZZ_CHECK(stats.ok());
  int64_t total = 0;
  for (const auto& r : stats->rounds()) total += r.samples();
  return total;
}

ssd::CoordinatorOptions Options() {
  ssd::CoordinatorOptions o;
  o.tick_ms = 10'000;  // the longest period: the input asks for ticks
  o.lease_ttl_ms = 1000;
  o.heartbeat_interval_ms = 100;
  o.worker_timeout_ms = 3000;
  o.recovery_grace_ms = 2000;
  return o;
}

template <typename M>
bool Parse(absl::string_view bytes, M* m) {
  return m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssd;  // NOLINT: a test harness over many v1 types
  // SSD_FUZZ_VERBOSE=1 prints each record's answer (to check that seeds
  // reach the states they were written for).
  static const bool verbose = std::getenv("SSD_FUZZ_VERBOSE") != nullptr;
  if (!verbose) FLAGS_minloglevel = google::GLOG_ERROR;  // a log line per request would dominate the run
  const std::string& dir = BaseDir();
  InMemoryKvStore store(CoordinatorTables());
  FakeClock clock;
  auto c = std::make_unique<Coordinator>(Options(), &store, &clock, nullptr);
  SSD_FUZZ_CHECK(c->Start().ok());

  Newest newest;
  std::vector<std::string> jobs;
  std::unique_ptr<AppendSession> append = std::make_unique<AppendSession>();
  size_t at = 0;
  int records = 0;
  while (at + 3 <= size && records++ < 64) {
    const uint8_t kind = data[at];
    const size_t len = std::min<size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    const absl::string_view msg(reinterpret_cast<const char*>(data) + at + 3, len);
    at += 3 + len;
    absl::Status st;
    v1::WorkerCredentials who;
    absl::string_view body;
    switch (kind % 16) {
      case 0: {
        v1::SubmitJobRequest r;
        if (!Parse(msg, &r)) break;
        r.set_base_dir(dir);
        auto out = Sync<v1::SubmitJobResponse>([&](auto done) { c->SubmitJob(r, "fuzz", done); });
        st = out.status();
        if (out.ok()) jobs.push_back(newest.job_id = out->job_id());
        break;
      }
      case 1: {
        std::string id(msg);
        Substitute(newest, &id);
        st = Sync<v1::Job>([&](auto done) { c->GetJob(id, done); }).status();
        break;
      }
      case 2: {
        v1::ListJobsRequest r;
        if (!Parse(msg, &r)) break;
        if (r.page_token() == "after:@") r.set_page_token("after:" + newest.job_id);
        st = Sync<v1::ListJobsResponse>([&](auto done) { c->ListJobs(r, done); }).status();
        break;
      }
      case 3: {
        v1::CancelJobRequest r;
        if (!Parse(msg, &r)) break;
        Substitute(newest, r.mutable_job_id());
        st = Sync<v1::Job>([&](auto done) { c->CancelJob(r, done); }).status();
        break;
      }
      case 4: {
        v1::ListWorkersRequest r;
        if (Parse(msg, &r)) st = Sync<v1::ListWorkersResponse>([&](auto done) { c->ListWorkers(r, done); }).status();
        break;
      }
      case 5: {
        v1::RegisterWorkerRequest r;
        v1::WorkerCredentials resume;
        if (!SplitCredentials(msg, newest, &resume, &body) || !Parse(body, &r)) break;
        const bool resuming = !resume.worker_id().empty() || !resume.session().empty();
        auto out = Sync<v1::RegisterWorkerResponse>(
            [&](auto done) { c->RegisterWorker(r, resuming ? &resume : nullptr, "fuzz", done); });
        st = out.status();
        if (out.ok()) newest.worker = out->credentials();
        break;
      }
      case 6: {
        v1::HeartbeatRequest r;
        if (!SplitCredentials(msg, newest, &who, &body) || !Parse(body, &r)) break;
        for (auto& l : *r.mutable_leases()) Substitute(newest, &l);
        st = Sync<v1::HeartbeatResponse>([&](auto done) { c->Heartbeat(who, r, done); }).status();
        break;
      }
      case 7: {
        v1::AcquireWorkRequest r;
        if (!SplitCredentials(msg, newest, &who, &body) || !Parse(body, &r)) break;
        auto out = Sync<v1::AcquireWorkResponse>([&](auto done) { c->AcquireWork(who, r, done); });
        st = out.status();
        if (out.ok()) NoteWork(*out, &newest);
        if (out.ok() && verbose) std::fprintf(stderr, "  work: %s\n", out->ShortDebugString().substr(0, 200).c_str());
        break;
      }
      case 8: {
        v1::ReportWorkRequest r;
        if (!SplitCredentials(msg, newest, &who, &body) || !Parse(body, &r)) break;
        Substitute(newest, r.mutable_lease());
        st = Sync<v1::ReportWorkResponse>([&](auto done) { c->ReportWork(who, r, done); }).status();
        break;
      }
      case 9: {
        if (!SplitCredentials(msg, newest, &who, &body)) break;
        st = Sync<v1::DeregisterResponse>([&](auto done) { c->Deregister(who, done); }).status();
        break;
      }
      case 10:
      case 11: {  // one message of an Append stream; kind 11 starts a new stream
        v1::AppendRequest r;
        if (!SplitCredentials(msg, newest, &who, &body) || !Parse(body, &r)) break;
        if (kind % 16 == 11) {
          append = std::make_unique<AppendSession>();
          append->credentials = who;  // a stream's metadata arrives once, with its first message
        }
        if (r.has_lease()) Substitute(newest, r.mutable_lease());
        uint64_t seq = 0;
        st = c->AppendMessage(r, append.get(), &seq);
        absl::Notification durable;
        c->log().WhenDurable(seq, [&](const absl::Status&) { durable.Notify(); });
        durable.WaitForNotification();
        break;
      }
      case 12: {
        v1::ScanRequest r;
        if (!Parse(msg, &r)) break;
        Substitute(newest, r.mutable_job_id());
        ScanCursor cursor;
        for (int page = 0; page < 8 && !cursor.done; ++page) {
          auto page_or = c->ScanPage(r, &cursor);
          st = page_or.status();
          if (!page_or.ok()) break;
        }
        break;
      }
      case 13: {
        v1::ExportRequest r;
        if (!Parse(msg, &r)) break;
        Substitute(newest, r.mutable_job_id());
        ScanCursor cursor;
        for (int page = 0; page < 8 && !cursor.done; ++page) {
          auto page_or = c->ExportPage(r, &cursor);
          st = page_or.status();
          if (!page_or.ok()) break;
        }
        break;
      }
      case 14: {  // Import: [header length:2][ImportHeader][jsonl]
        if (msg.size() < 2) break;
        const size_t hlen =
            std::min<size_t>(static_cast<uint8_t>(msg[0]) | (static_cast<uint8_t>(msg[1]) << 8), msg.size() - 2);
        v1::ImportHeader h;
        if (!Parse(msg.substr(2, hlen), &h)) break;
        h.set_base_dir(dir);
        auto out = Sync<v1::ImportResponse>([&](auto done) { c->Import(h, std::string(msg.substr(2 + hlen)), done); });
        st = out.status();
        if (out.ok()) jobs.push_back(newest.job_id = out->job_id());
        break;
      }
      case 15: {  // time passes: up to ~65 s, then a scheduler tick
        clock.AdvanceMs(static_cast<int64_t>(len) * 1000 + (msg.empty() ? 0 : static_cast<uint8_t>(msg[0])));
        c->TickForTest();
        break;
      }
    }
    if (verbose) std::fprintf(stderr, "record %d (kind %d): %s\n", records, kind % 16, st.ToString().c_str());
  }

  const int64_t stored = StoredSamples(c.get());
  c->Shutdown();
  c.reset();
  // The same store, a new process's worth of state.
  auto again = std::make_unique<Coordinator>(Options(), &store, &clock, nullptr);
  SSD_FUZZ_CHECK(again->Start().ok());
  for (const std::string& id : jobs) {
    auto job = Sync<v1::Job>([&](auto done) { again->GetJob(id, done); });
    SSD_FUZZ_CHECK(job.ok());
  }
  SSD_FUZZ_CHECK(StoredSamples(again.get()) == stored);
  again->Shutdown();
  return 0;
}
