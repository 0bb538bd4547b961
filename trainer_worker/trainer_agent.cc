#include "trainer_worker/trainer_agent.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/rpc/status_conversion.h"
#include "common/util/file_util.h"
#include "common/util/process_group.h"
#include "common/util/status_macros.h"
#include "common/weights/weights_source.h"
#include "nlohmann/json.hpp"
#include "trainer_worker/train_spec.h"

namespace ssd {
namespace {

// metrics.jsonl's expert_load of one step (trainer_worker/metrics.h); a
// malformed entry is skipped, never fatal: the line is the trainer's own.
std::vector<TrainerAgentStats::LayerLoad> ExpertLoadOf(const nlohmann::json& step) {
  std::vector<TrainerAgentStats::LayerLoad> out;
  auto it = step.find("expert_load");
  if (it == step.end() || !it->is_array()) return out;
  for (const nlohmann::json& l : *it) {
    if (!l.is_object() || !l.value("layer", nlohmann::json()).is_number_integer()) continue;
    TrainerAgentStats::LayerLoad load;
    load.layer = l["layer"].get<int64_t>();
    load.max_over_mean = l.value("max_over_mean", 0.0);
    load.dead_experts = l.value("dead_experts", int64_t{0});
    auto f = l.find("fractions");
    if (f != l.end() && f->is_array()) {
      for (const nlohmann::json& x : *f) load.fractions.push_back(x.is_number() ? x.get<double>() : 0.0);
    }
    out.push_back(std::move(load));
  }
  return out;
}



using Json = nlohmann::ordered_json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The last `n` lines of a log on one line, for a failure report.
std::string LogTail(const std::string& path, int n) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(TailOfLog(path, n, ""), '\n', absl::SkipEmpty())) {
    absl::StrAppend(&out, out.empty() ? "" : " | ", line.substr(0, 300));
  }
  return out;
}

}  // namespace

TrainerAgent::TrainerAgent(const TrainerAgentOptions& options)
    : options_([&] {
        TrainerAgentOptions o = options;
        // Model paths go to the coordinator and to other processes: absolute.
        o.work_dir = AbsolutePath(o.work_dir);
        return o;
      }()) {}
TrainerAgent::~TrainerAgent() = default;

std::string TrainerAgent::worker_id() const { return session_ ? session_->credentials().worker_id() : ""; }

TrainerAgentStats TrainerAgent::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void TrainerAgent::Drain() { draining_.store(true); }

absl::Status TrainerAgent::Run() {
  WorkerSessionOptions so = options_.session;
  so.registration.set_role(v1::WORKER_ROLE_TRAINER);
  ASSIGN_OR_RETURN(session_, WorkerSession::Start(so));
  while (!draining_.load()) {
    auto work = session_->Acquire();
    if (!work.ok()) {
      LOG(WARNING) << "AcquireWork: " << work.status();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (work->has_training()) {
      const v1::LeaseRef lease = work->training().lease();
      session_->AddLease(lease);
      const absl::Status s = Train(work->training());
      session_->RemoveLease(lease);
      if (!s.ok()) LOG(WARNING) << "training " << lease.job_id() << " round " << lease.round() << ": " << s;
    } else if (work->has_push()) {
      const v1::LeaseRef lease = work->push().lease();
      session_->AddLease(lease);
      const absl::Status s = Push(work->push());
      session_->RemoveLease(lease);
      if (!s.ok()) LOG(WARNING) << "push of " << lease.job_id() << " round " << lease.round() << ": " << s;
    } else if (work->has_idle()) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::clamp<int64_t>(work->idle().retry_after_ms(), 50, 2000)));
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  if (absl::Status s = session_->Deregister(); !s.ok()) LOG(WARNING) << "Deregister: " << s;
  session_->Shutdown();
  return absl::OkStatus();
}

std::string TrainerAgent::OutDir(const v1::TrainingAssignment& a) const {
  if (!a.output_dir().empty()) return a.output_dir();
  return JoinPath(options_.work_dir, absl::StrCat(a.lease().job_id(), "/round-", a.lease().round()));
}

std::vector<std::string> TrainerAgent::TrainArgv(const TrainerAgentOptions& o, const v1::TrainingAssignment& a,
                                                 const RankData& data, const std::string& out) {
  const std::string exe = o.ssd_binary.empty() ? SelfExecutable() : o.ssd_binary;
  // The job's training settings go as the proto, in a file Train() wrote.
  std::vector<std::string> argv = {exe,
                                   "train",
                                   "--model",
                                   a.start_model(),
                                   "--data",
                                   data.data_path,
                                   "--out",
                                   out,
                                   "--spec",
                                   TrainSpecPath(out),
                                   "--resume",
                                   "--no-progress",
                                   "--device",
                                   o.device,
                                   "--peak-flops",
                                   "0"};
  if (!data.sizes_path.empty()) argv.insert(argv.end(), {"--rank-sizes", data.sizes_path});
  argv.insert(argv.end(), {"--enable-thinking", a.enable_thinking() ? "true" : "false"});
  if (o.threads > 0) argv.insert(argv.end(), {"--threads", std::to_string(o.threads)});
  if (a.world_size() > 1) {
    argv.insert(argv.end(), {"--rank", std::to_string(a.rank()), "--world-size", std::to_string(a.world_size()),
                             "--master-addr", a.master_addr(), "--master-port", std::to_string(a.master_port())});
  }
  for (const std::string& x : o.extra_train_args) argv.push_back(x);
  return argv;
}

absl::Status TrainerAgent::Train(const v1::TrainingAssignment& a) {
  const v1::LeaseRef& lease = a.lease();
  auto fail = [&](const std::string& why) {
    v1::ReportWorkRequest r;
    *r.mutable_lease() = lease;
    r.mutable_failed()->set_reason(why);
    (void)session_->Report(r);
    absl::MutexLock lock(&mu_);
    ++stats_.trainings_failed;
    return absl::InternalError(why);
  };
  auto data = ReadRankData(
      session_.get(), a,
      JoinPath(options_.work_dir, absl::StrCat(a.lease().job_id(), "/round-", a.lease().round(), "-data")));
  if (!data.ok()) return fail(absl::StrCat("reading the survivors: ", data.status().message()));
  const std::string out = OutDir(a);
  RETURN_IF_ERROR(MakeDirs(out));
  const std::string log = JoinPath(out, absl::StrCat("train.rank", a.rank(), ".log"));
  if (absl::Status s = WriteTrainSpec(a.train(), TrainSpecPath(out)); !s.ok()) {
    return fail(absl::StrCat("writing the train spec: ", s.message()));
  }
  const std::vector<std::string> argv = TrainArgv(options_, a, *data, out);
  {
    absl::StatusOr<ShardingMode> sharding = ShardingFromProto(a.train().sharding());
    absl::MutexLock lock(&mu_);
    stats_.sharding = sharding.ok() ? ShardingModeName(*sharding) : "unknown";
  }
  LOG(INFO) << "training " << lease.job_id() << " round " << lease.round() << " as rank " << a.rank() << "/"
            << a.world_size() << " (epoch " << lease.epoch() << "), log " << log;
  SpawnOptions spawn;
  spawn.argv = argv;
  spawn.log_path = log;
  auto spawned = ProcessGroup::Spawn(spawn);
  if (!spawned.ok()) return fail(absl::StrCat("cannot start `ssd train`: ", spawned.status().message()));
  ProcessGroup& child = **spawned;
  const std::string metrics = JoinPath(out, "metrics.jsonl");
  size_t read_upto = 0;
  int64_t last_report = 0;
  bool revoked = false;
  Json last;
  for (;;) {
    const bool exited = child.Poll();
    if (a.rank() == 0) {
      // New metrics lines since the last look.
      auto text = ReadFileToString(metrics, 1 << 30);
      if (text.ok() && text->size() > read_upto) {
        const size_t end = text->rfind('\n');
        if (end != std::string::npos && end + 1 > read_upto) {
          for (absl::string_view line : absl::StrSplit(absl::string_view(*text).substr(read_upto, end + 1 - read_upto),
                                                       '\n', absl::SkipEmpty())) {
            Json j = Json::parse(line, nullptr, false);
            if (!j.is_discarded() && j.is_object()) last = std::move(j);
          }
          read_upto = end + 1;
        }
      }
    }
    if (NowMs() - last_report >= options_.progress_interval_ms) {
      // Every rank reports its own peak memory; rank 0 also the step,
      // loss and rate from the metrics it reads.
      last_report = NowMs();
      const int64_t peak = 1024 * ProcessStatusKib(child.pid(), "VmHWM");
      v1::ReportWorkRequest p;
      *p.mutable_lease() = lease;
      auto* tp = p.mutable_training_progress();
      tp->set_peak_rss_bytes(peak);
      std::vector<TrainerAgentStats::LayerLoad> loads;
      if (last.is_object()) {
        tp->set_step(last.value("step", int64_t{0}));
        tp->set_total_steps(std::max<int64_t>(last.value("total_steps", int64_t{0}), tp->step()));
        tp->set_loss(last.value("loss", 0.0));
        tp->set_tokens_per_s(last.value("tokens_per_s", 0.0));
        loads = ExpertLoadOf(last);
        const TrainerAgentStats::LayerLoad* worst = nullptr;
        for (const auto& l : loads) {
          if (worst == nullptr || l.max_over_mean > worst->max_over_mean) worst = &l;
        }
        if (worst != nullptr) {
          v1::ExpertLoadSummary* w = tp->mutable_worst_expert_load();
          w->set_layer(static_cast<int32_t>(worst->layer));
          w->set_max_over_mean(worst->max_over_mean);
          w->set_dead_experts(static_cast<int32_t>(worst->dead_experts));
          w->set_num_experts(static_cast<int32_t>(worst->fractions.size()));
          w->set_aux_loss(last.value("aux_loss", 0.0));
        }
      }
      if (last.is_object() || peak > 0) (void)session_->Report(p);
      absl::MutexLock lock(&mu_);
      stats_.peak_rss_bytes = std::max(stats_.peak_rss_bytes, peak);
      if (last.is_object()) {
        stats_.last_step = tp->step();
        stats_.last_loss = tp->loss();
        stats_.last_step_s = last.value("step_s", 0.0);
        stats_.tokens_per_s = tp->tokens_per_s();
        stats_.aux_loss = last.value("aux_loss", 0.0);
        stats_.expert_load = std::move(loads);
      }
    }
    if (exited) break;
    if (session_->Revoked(lease) || draining_.load()) {
      revoked = true;
      child.Stop(absl::ZeroDuration());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (revoked) {
    LOG(WARNING)
        << "training lease revoked (or draining); stopped `ssd train`; a new group resumes from the last checkpoint";
    return absl::CancelledError("revoked");
  }
  if (!child.succeeded()) {
    return fail(absl::StrCat("`ssd train` rank ", a.rank(), " ", child.DescribeExit(), ": ", LogTail(log, 3)));
  }
  v1::ReportWorkRequest done;
  *done.mutable_lease() = lease;
  auto* d = done.mutable_training_done();
  if (last.is_object()) {  // rank 0 only reads the metrics
    d->set_steps(last.value("step", int64_t{0}));
    d->set_final_loss(last.value("loss", 0.0));
  }
  if (a.rank() == 0) d->set_model_path(JoinPath(out, "model"));
  RETURN_IF_ERROR(session_->Report(done));
  absl::MutexLock lock(&mu_);
  ++stats_.trainings_done;
  return absl::OkStatus();
}

absl::Status TrainerAgent::Push(const v1::PushAssignment& p) {
  auto fail = [&](const std::string& why) {
    v1::ReportWorkRequest r;
    *r.mutable_lease() = p.lease();
    r.mutable_failed()->set_reason(why);
    (void)session_->Report(r);
    return absl::UnavailableError(why);
  };
  if (p.model_dir().empty()) return fail("the push names no model folder");
  auto src = WeightsSource::Open(p.model_dir(), p.weights(), options_.push_chunk_bytes);
  if (!src.ok()) return fail(absl::StrCat("reading ", p.model_dir(), ": ", src.status().message()));
  std::vector<v1::PushTarget> chain(p.chain().begin(), p.chain().end());
  int64_t last_report = 0;
  // Fault injection for tests: die after this many bytes of the first push.
  const char* die_after = std::getenv("SSD_TEST_TRAINER_DIE_AFTER_PUSH_BYTES");
  auto r = PushToChain(**src, chain, p.base_model(), options_.samplers, 3600000, [&](const PushProgress& pp) {
    if (die_after != nullptr && pp.bytes_sent >= std::atoll(die_after)) {
      LOG(ERROR) << "SSD_TEST_TRAINER_DIE_AFTER_PUSH_BYTES: dying mid-push after " << pp.bytes_sent << " bytes";
      raise(SIGKILL);
    }
    if (NowMs() - last_report < options_.progress_interval_ms) return;
    last_report = NowMs();
    v1::ReportWorkRequest rep;
    *rep.mutable_lease() = p.lease();
    rep.mutable_push_progress()->set_bytes_done(pp.bytes_sent);
    rep.mutable_push_progress()->set_bytes_total(pp.bytes_total);
    rep.mutable_push_progress()->set_samplers_total(static_cast<int32_t>(chain.size()));
    (void)session_->Report(rep);
  });
  if (!r.ok()) return fail(std::string(r.status().message()));
  for (const v1::PushFailure& f : r->failures()) {
    LOG(WARNING) << "push: " << f.worker_id() << " (" << f.address() << ") was not reached: " << f.reason();
  }
  v1::ReportWorkRequest done;
  *done.mutable_lease() = p.lease();
  for (const std::string& id : r->reached()) done.mutable_push_done()->add_reached(id);
  RETURN_IF_ERROR(session_->Report(done));
  LOG(INFO) << "pushed " << p.weights().job_id() << " v" << p.weights().version() << " ("
            << (*src)->manifest().total_bytes() << " bytes) to " << r->reached_size() << " sampler(s) in "
            << r->seconds() << " s";
  absl::MutexLock lock(&mu_);
  ++stats_.pushes_done;
  stats_.push_bytes += (*src)->manifest().total_bytes();
  stats_.last_push_gb_per_s = r->seconds() > 0 ? (*src)->manifest().total_bytes() / r->seconds() / 1e9 : 0;
  return absl::OkStatus();
}

}  // namespace ssd
