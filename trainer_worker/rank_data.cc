#include "trainer_worker/rank_data.h"

#include <glog/logging.h>

#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/chat/chat_record.h"
#include "common/rpc/status_conversion.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"
#include "trainer_worker/rank_share.h"

namespace ssd {
namespace {

constexpr int64_t kScanTimeoutMs = 3600000;

// Streams the round's survivors (as `shape` sets the request up) through
// `each`; the first error `each` returns ends the walk. A retried call
// (the coordinator restarting) starts over: `restart` runs before each
// attempt, so that what `each` gathered from a torn attempt is dropped.
absl::Status ScanSurvivors(WorkerSession* session, const v1::TrainingAssignment& a,
                           const std::function<void(v1::ScanRequest*)>& shape,
                           const std::function<absl::Status()>& restart,
                           const std::function<absl::Status(const v1::ScannedSample&)>& each) {
  absl::Status error;
  const grpc::Status s = session->Call(
      [&](grpc::ClientContext* ctx) {
        error = restart();
        if (!error.ok()) return grpc::Status(grpc::StatusCode::ABORTED, "restart failed");
        v1::ScanRequest req;
        req.set_job_id(a.lease().job_id());
        req.set_round(a.lease().round());
        req.set_survivors_only(true);
        shape(&req);
        auto reader = session->replay_store()->Scan(ctx, req);
        v1::ScanResponse page;
        while (reader->Read(&page)) {
          for (const v1::ScannedSample& x : page.samples()) {
            if (error.ok()) error = each(x);
          }
          if (!error.ok()) {
            ctx->TryCancel();
            break;
          }
        }
        return reader->Finish();
      },
      kScanTimeoutMs);
  RETURN_IF_ERROR(error);
  return FromGrpcStatus(s);
}

// Appends each scanned sample as its training conversation.
class ConversationWriter {
 public:
  explicit ConversationWriter(std::string path) : path_(std::move(path)) {}
  // Starts the file afresh (an uncommitted one is removed).
  absl::Status Restart() {
    out_.reset();
    lines_ = 0;
    ASSIGN_OR_RETURN(AtomicFileWriter out, AtomicFileWriter::Open(path_));
    out_ = std::make_unique<AtomicFileWriter>(std::move(out));
    return absl::OkStatus();
  }
  absl::Status Add(const v1::ScannedSample& x) {
    absl::StatusOr<std::string> line =
        SampleConversationLine(x.problem().messages_json(), x.problem().raw_prompt(), x.sample().text());
    if (!line.ok())
      return absl::Status(line.status().code(),
                          absl::StrCat("problem ", x.problem().id(), ": ", line.status().message()));
    ++lines_;
    return out_->Append(*line + "\n");
  }
  absl::Status Commit() { return out_->Commit(); }
  int64_t lines() const { return lines_; }

 private:
  const std::string path_;
  std::unique_ptr<AtomicFileWriter> out_;
  int64_t lines_ = 0;
};

absl::Status CheckCount(int64_t got, const v1::TrainingAssignment& a) {
  if (got != a.survivors()) {
    return absl::DataLossError(
        absl::StrCat("the replay store returned ", got, " survivors; the filter kept ", a.survivors()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SelectBitmap(const std::vector<int64_t>& ordinals) {
  std::string bits;
  for (int64_t i : ordinals) {
    const size_t byte = static_cast<size_t>(i / 8);
    if (bits.size() <= byte) bits.resize(byte + 1, '\0');
    bits[byte] = static_cast<char>(static_cast<uint8_t>(bits[byte]) | (1u << (i % 8)));
  }
  return bits;
}

absl::StatusOr<RankData> ReadRankData(WorkerSession* session, const v1::TrainingAssignment& a, const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RankData out;
  out.survivors = a.survivors();
  out.data_path = JoinPath(dir, absl::StrCat("survivors.rank", a.rank(), ".jsonl"));
  auto read_all = [&]() -> absl::StatusOr<RankData> {
    ConversationWriter w(out.data_path);
    RETURN_IF_ERROR(ScanSurvivors(
        session, a, [](v1::ScanRequest*) {}, [&] { return w.Restart(); },
        [&](const v1::ScannedSample& x) { return w.Add(x); }));
    RETURN_IF_ERROR(CheckCount(w.lines(), a));
    RETURN_IF_ERROR(w.Commit());
    out.lines = w.lines();
    return out;
  };
  if (a.world_size() <= 1) return read_all();

  // The sizes of every survivor, in round order.
  std::vector<SharedExample> trainable;
  std::vector<int64_t> ordinal_of;  // trainable[i] is survivor ordinal_of[i]
  int64_t scanned = 0, uncounted = 0;
  RETURN_IF_ERROR(ScanSurvivors(
      session, a, [](v1::ScanRequest* r) { r->set_sizes_only(true); },
      [&] {
        trainable.clear();
        ordinal_of.clear();
        scanned = uncounted = 0;
        return absl::OkStatus();
      },
      [&](const v1::ScannedSample& x) {
        ++scanned;
        if (x.sample().sft_tokens() <= 0) {
          ++uncounted;
        } else if (x.sample().sft_loss_tokens() > 0) {
          SharedExample e;
          e.size = {x.sample().sft_tokens(), x.sample().sft_loss_tokens()};
          trainable.push_back(e);
          ordinal_of.push_back(x.ordinal());
        }
        return absl::OkStatus();
      }));
  RETURN_IF_ERROR(CheckCount(scanned, a));
  if (uncounted > 0) {
    LOG(WARNING) << uncounted << " of " << scanned << " survivors of " << a.lease().job_id() << " round "
                 << a.lease().round() << " carry no training size; rank " << a.rank() << " reads them all";
    return read_all();
  }
  if (trainable.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("none of the round's ", scanned,
                                                      " survivors has a token to train on within max_seq_len ",
                                                      a.train().max_seq_len()));
  }

  // The plan every rank builds, and this rank's part of it.
  ASSIGN_OR_RETURN(BatchPlanOptions po, PlanOptionsFor(a.train()));
  ASSIGN_OR_RETURN(BatchPlan plan, BatchPlan::Build(SizesOf(trainable), po, PlanEpochs(a.train())));
  const std::vector<bool> used = plan.ExamplesOfRank(a.rank(), a.world_size(), a.train().steps());
  std::vector<int64_t> wanted;
  for (size_t i = 0; i < trainable.size(); ++i) {
    trainable[i].held = used[i];
    if (used[i]) wanted.push_back(ordinal_of[i]);
  }

  ConversationWriter w(out.data_path);
  size_t next = 0;
  const std::string select = SelectBitmap(wanted);
  RETURN_IF_ERROR(ScanSurvivors(
      session, a, [&](v1::ScanRequest* r) { r->set_select(select); },
      [&] {
        next = 0;
        return w.Restart();
      },
      [&](const v1::ScannedSample& x) -> absl::Status {
        if (next >= wanted.size() || x.ordinal() != wanted[next]) {
          return absl::DataLossError(absl::StrCat("the replay store returned survivor ", x.ordinal(),
                                                  " where this rank asked for ",
                                                  next < wanted.size() ? absl::StrCat(wanted[next]) : "none"));
        }
        ++next;
        return w.Add(x);
      }));
  if (next != wanted.size()) {
    return absl::DataLossError(
        absl::StrCat("the replay store returned ", next, " of the ", wanted.size(), " survivors this rank asked for"));
  }
  RETURN_IF_ERROR(w.Commit());
  out.lines = w.lines();
  out.sizes_path = JoinPath(dir, absl::StrCat("sizes.rank", a.rank(), ".txt"));
  RETURN_IF_ERROR(WriteRankSizes(out.sizes_path, trainable));
  LOG(INFO) << a.lease().job_id() << " round " << a.lease().round() << ": rank " << a.rank() << "/" << a.world_size()
            << " reads " << out.lines << " of " << scanned << " survivors";
  return out;
}

}  // namespace ssd
