#include "coordinator/sample_store.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/storage/in_memory_kv_store.h"
#include "coordinator/store_schema.h"

namespace ssd {
namespace {

class SampleStoreTest : public testing::Test {
 protected:
  SampleStoreTest() {
    job_.job.set_id("job-1");
    job_.job.mutable_spec()->mutable_sampling()->set_n(2);
    job_.job.mutable_spec()->mutable_sampling()->set_max_tokens(100);
    job_.job.mutable_spec()->mutable_train()->set_max_seq_len(1000);
    for (int p = 0; p < 4; ++p) {
      v1::Problem pr;
      pr.set_id(absl::StrCat("p", p));
      pr.set_raw_prompt(absl::StrCat("prompt ", p));
      job_.problem_index[pr.id()] = static_cast<uint32_t>(job_.problems.size());
      job_.problems.push_back(pr);
    }
    job_.leases.AddRange("job-1", 1, v1::LEASE_KIND_SAMPLE, 4, 2);
    shard_ = job_.leases.NextQueued(1, v1::LEASE_KIND_SAMPLE);
    job_.leases.Grant(*shard_, "sampler-1", 0, 1000);
  }

  static v1::Sample Sample(const std::string& problem, int index, const std::string& text) {
    v1::Sample s;
    s.set_problem_id(problem);
    s.set_sample_index(index);
    s.set_text(text);
    s.set_num_tokens(3);
    s.set_finish_reason(v1::FINISH_REASON_STOP);
    s.set_weights_version(0);
    return s;
  }
  absl::Status Append(std::vector<v1::Sample> samples) {
    v1::AppendRequest m;
    for (v1::Sample& s : samples) *m.add_samples() = std::move(s);
    ++session_.messages;
    WriteBatch batch;
    absl::Status st = store_.Append(job_, *shard_, "sampler-1", m, &session_, 7, &batch);
    if (!batch.empty()) {
      EXPECT_TRUE(kv_.Apply(batch, /*sync=*/false).ok());
    }
    return st;
  }

  CoordinatorOptions options_;
  InMemoryKvStore kv_{CoordinatorTables()};
  SampleStore store_{options_, &kv_, nullptr};
  JobEntry job_{[](const internal::ShardRecord&) {}};
  Shard* shard_ = nullptr;
  AppendSession session_;
};

TEST_F(SampleStoreTest, AnAppendIsIdempotentAndCountsDuplicates) {
  ASSERT_TRUE(Append({Sample("p0", 0, "a\nb"), Sample("p1", 1, "c")}).ok());
  ASSERT_TRUE(Append({Sample("p0", 0, "a\nb"), Sample("p0", 1, "d")}).ok());
  EXPECT_EQ(session_.accepted, 3);
  EXPECT_EQ(session_.duplicates, 1);
  EXPECT_EQ(store_.duplicates_total(), 1);
  const SampleRound* r = store_.FindRound("job-1", 1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->count, 3);
  EXPECT_TRUE(r->Has(0 * 2 + 0));
  EXPECT_TRUE(r->Has(1 * 2 + 1));
  EXPECT_FALSE(r->Has(1 * 2 + 0));
  EXPECT_FALSE(r->complete());
  EXPECT_EQ(r->features[0].chars, 3);
}

TEST_F(SampleStoreTest, AnAppendOutsideTheLeaseIsRefusedNamingTheSampleButKeepsTheOnesBefore) {
  absl::Status s = Append({Sample("p1", 0, "ok"), Sample("p2", 0, "not mine")});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("message 1, sample 1 (problem \"p2\" #0): the problem is outside this lease"),
            std::string::npos)
      << s;
  EXPECT_EQ(session_.accepted, 1);
  v1::Sample late = Sample("p0", 0, "x");
  late.set_weights_version(1);
  EXPECT_NE(Append({late}).message().find("generated with weights version 1"), std::string::npos);
  v1::Sample bad = Sample("p0", 0, "x");
  bad.set_finish_reason(v1::FINISH_REASON_IMPORTED);
  EXPECT_NE(Append({bad}).message().find("finish_reason must be STOP or LENGTH, got FINISH_REASON_IMPORTED"),
            std::string::npos);
  EXPECT_EQ(Append({Sample("p0", 2, "x")}).code(), absl::StatusCode::kInvalidArgument) << "index past n";
}

TEST_F(SampleStoreTest, AScanPartitionsByRankAndReadsBackTheTextsAndTheirProblems) {
  ASSERT_TRUE(
      Append({Sample("p0", 0, "a"), Sample("p0", 1, "bb"), Sample("p1", 0, "ccc"), Sample("p1", 1, "dd")}).ok());
  ScanView view;
  view.problems = &job_.problems;
  std::vector<std::string> texts[2];
  for (int rank = 0; rank < 2; ++rank) {
    v1::ScanRequest req;
    req.set_job_id("job-1");
    req.set_round(1);
    req.set_rank(rank);
    req.set_world(2);
    req.set_batch_size(1);
    ASSERT_TRUE(SampleStore::CheckScanRequest(req).ok());
    ScanCursor cursor;
    while (!cursor.done) {
      auto page = store_.ScanPage(req, view, &cursor);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const v1::ScannedSample& s : page->samples()) {
        texts[rank].push_back(s.sample().text());
        EXPECT_EQ(s.problem().id(), s.sample().problem_id());
      }
    }
  }
  EXPECT_EQ(texts[0], (std::vector<std::string>{"a", "ccc"}));
  EXPECT_EQ(texts[1], (std::vector<std::string>{"bb", "dd"}));
  v1::ScanRequest bad;
  bad.set_job_id("job-1");
  bad.set_round(1);
  bad.set_world(2);
  bad.set_rank(2);
  EXPECT_EQ(SampleStore::CheckScanRequest(bad).message(), "rank: must be in [0, world = 2), got 2");
}

TEST_F(SampleStoreTest, AnExportIsOneChatLinePerSample) {
  ASSERT_TRUE(Append({Sample("p0", 0, "def f():\n    return 1")}).ok());
  ScanView view;
  view.problems = &job_.problems;
  v1::ExportRequest req;
  req.set_job_id("job-1");
  req.set_round(1);
  req.set_all_samples(true);
  ScanCursor cursor;
  auto page = store_.ExportPage(req, view, &cursor);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(*page,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"prompt 0\"},{\"role\":\"assistant\",\"content\":\"def "
            "f():\\n    return 1\"}]}\n");
}

TEST_F(SampleStoreTest, AnImportGroupsRepliesByTheirPromptAndListsEveryBadLine) {
  const std::string good =
      "{\"messages\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":\"q2\"},{\"role\":\"assistant\",\"content\":\"b\"}]}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"c\"}]}\n";
  auto imported = store_.ParseImport("train.jsonl", good);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->problems.size(), 2u);
  EXPECT_EQ(imported->n, 2);
  EXPECT_EQ(imported->samples[2].first, 0u) << "the third reply answers the first prompt";
  auto bad = store_.ParseImport("train.jsonl", "{\"messages\": []}\n\nnot json\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("train.jsonl:1: \"messages\" must be a non-empty array"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("train.jsonl:3: not valid JSON"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("nothing was imported"), std::string::npos);
}

TEST_F(SampleStoreTest, ARestartRebuildsTheIndexFromTheFeaturesTable) {
  ASSERT_TRUE(Append({Sample("p0", 1, "x\ny"), Sample("p1", 0, "")}).ok());
  SampleStore fresh(options_, &kv_, nullptr);
  ASSERT_TRUE(fresh.Recover(job_).ok());
  const SampleRound* r = fresh.FindRound("job-1", 1);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->count, 2);
  EXPECT_TRUE(r->Has(1));
  EXPECT_TRUE(r->Has(2));
  EXPECT_TRUE(r->features[2].empty);
}

}  // namespace
}  // namespace ssd
