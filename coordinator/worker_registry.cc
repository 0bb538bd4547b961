#include "coordinator/worker_registry.h"

#include <glog/logging.h>
#include <sys/random.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/sha256.h"
#include "coordinator/job_state.h"

namespace ssd {
namespace {

constexpr int kMaxHeld = 1000;

std::string NewSession() {
  unsigned char raw[24];
  size_t got = 0;
  while (got < sizeof(raw)) {
    const ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
    CHECK_GT(n, 0) << "getrandom failed";
    got += static_cast<size_t>(n);
  }
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
}

}  // namespace

WorkerRegistry::WorkerRegistry(const Clock* clock, Persist persist) : clock_(clock), persist_(std::move(persist)) {}

absl::Status WorkerRegistry::ValidateRegistration(const v1::RegisterWorkerRequest& request) {
  if (request.role() != v1::WORKER_ROLE_SAMPLER && request.role() != v1::WORKER_ROLE_TRAINER) {
    return absl::InvalidArgumentError("role: must be SAMPLER or TRAINER");
  }
  if (request.address().size() > 256 || request.hostname().size() > 256) {
    return absl::InvalidArgumentError("address, hostname: at most 256 characters");
  }
  if (!request.address().empty() && request.address().find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("address: \"", request.address(), "\" is not host:port"));
  }
  const int port = request.capabilities().rendezvous_port();
  if (port < 0 || port > 65535) return absl::InvalidArgumentError("capabilities.rendezvous_port: not a TCP port");
  if (request.capabilities().has_rank_hint() && request.capabilities().rank_hint() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("capabilities.rank_hint: ", request.capabilities().rank_hint(), " is negative"));
  }
  if (request.weights_held_size() > kMaxHeld) return absl::InvalidArgumentError("weights_held: more than 1000");
  return absl::OkStatus();
}

absl::StatusOr<WorkerRegistry::Registration> WorkerRegistry::Register(
    const v1::RegisterWorkerRequest& request, const v1::WorkerCredentials* resume, const std::string& peer,
    const std::function<std::string(v1::WorkerRole)>& new_id) {
  const int64_t now = clock_->NowMs();
  Registration r;
  if (resume != nullptr && !resume->worker_id().empty()) {
    auto it = workers_.find(resume->worker_id());
    if (it != workers_.end()) {
      if (!ConstantTimeEquals(Sha256(resume->session()), it->second.rec.session_sha256())) {
        return absl::PermissionDeniedError(
            absl::StrCat("the session does not match worker ", resume->worker_id(), ", so it cannot resume"));
      }
      if (it->second.role() != request.role()) {
        return absl::InvalidArgumentError(
            absl::StrCat("role: worker ", resume->worker_id(), " registered as ", WorkerRoleName(it->second.role())));
      }
      r.worker = &it->second;
      r.session = resume->session();
      r.resumed = true;
    }
  }
  if (r.worker == nullptr) {
    const std::string id = new_id(request.role());
    r.worker = &workers_[id];
    r.session = NewSession();
    r.worker->rec.set_session_sha256(Sha256(r.session));
    r.worker->rec.mutable_status()->set_worker_id(id);
    r.worker->rec.mutable_status()->set_registered_unix_ms(now);
  }
  WorkerEntry& w = *r.worker;
  v1::WorkerStatus* st = w.rec.mutable_status();
  st->set_role(request.role());
  st->set_address(request.address());
  st->set_hostname(request.hostname());
  *st->mutable_capabilities() = request.capabilities();
  st->set_peer(peer);
  w.state = v1::WORKER_STATE_ALIVE;
  w.last_seen_ms = now;
  NoteHeld(w, request.weights_held());
  persist_(w);
  LOG(INFO) << (r.resumed ? "worker resumed: " : "worker registered: ") << w.id() << " ("
            << WorkerRoleName(request.role()) << ", " << (request.address().empty() ? peer : request.address()) << ")";
  return r;
}

absl::StatusOr<WorkerEntry*> WorkerRegistry::Authenticate(const std::string& worker_id, const std::string& session) {
  if (worker_id.empty()) return absl::InvalidArgumentError("worker id: empty; call RegisterWorker first");
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("worker ", worker_id, " is not registered with this coordinator; register again"));
  }
  WorkerEntry& w = it->second;
  if (!ConstantTimeEquals(Sha256(session), w.rec.session_sha256())) {
    return absl::PermissionDeniedError(absl::StrCat("the session does not match worker ", worker_id));
  }
  if (w.state == v1::WORKER_STATE_LEFT) {
    return absl::FailedPreconditionError(absl::StrCat("worker ", worker_id, " deregistered; register again"));
  }
  w.last_seen_ms = clock_->NowMs();
  if (w.state != v1::WORKER_STATE_ALIVE) {
    LOG(INFO) << "worker " << worker_id << " is back (" << WorkerStateName(w.state) << " -> ALIVE)";
    SetState(w, v1::WORKER_STATE_ALIVE);
  }
  return &w;
}

WorkerEntry* WorkerRegistry::Find(const std::string& id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

void WorkerRegistry::NoteHeld(WorkerEntry& w, const google::protobuf::RepeatedPtrField<v1::WeightsRef>& held) {
  w.held.clear();
  for (const v1::WeightsRef& r : held) {
    if (w.held.size() >= kMaxHeld) break;
    if (!r.job_id().empty() && r.version() >= 0) w.held.insert({r.job_id(), r.version()});
  }
}

std::vector<v1::PushTarget> WorkerRegistry::Holders(const std::string& job_id, int32_t version) const {
  std::vector<v1::PushTarget> out;
  for (const auto& [id, w] : workers_) {
    if (!w.alive() || w.role() != v1::WORKER_ROLE_SAMPLER) continue;
    if (w.held.count({job_id, version}) == 0 || w.rec.status().address().empty()) continue;
    v1::PushTarget t;
    t.set_worker_id(id);
    t.set_address(w.rec.status().address());
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<v1::PushTarget> WorkerRegistry::LiveSamplers() const {
  std::vector<v1::PushTarget> out;
  for (const auto& [id, w] : workers_) {
    if (w.role() != v1::WORKER_ROLE_SAMPLER || !w.alive() || w.rec.status().address().empty()) continue;
    v1::PushTarget t;
    t.set_worker_id(id);
    t.set_address(w.rec.status().address());
    out.push_back(std::move(t));
  }
  return out;
}

int32_t WorkerRegistry::CountAlive(v1::WorkerRole role) const {
  int32_t n = 0;
  for (const auto& [id, w] : workers_) n += w.role() == role && w.alive() ? 1 : 0;
  return n;
}

std::vector<WorkerEntry*> WorkerRegistry::IdleTrainers(WorkerEntry& asking) {
  std::vector<WorkerEntry*> out = {&asking};
  for (auto& [id, other] : workers_) {
    if (&other == &asking || other.role() != v1::WORKER_ROLE_TRAINER || !other.alive()) continue;
    bool busy = false;
    for (const auto& [job, sid] : other.leases) {
      busy |= std::get<1>(sid) == v1::LEASE_KIND_TRAIN || std::get<1>(sid) == v1::LEASE_KIND_PUSH;
    }
    if (!busy) out.push_back(&other);
  }
  return out;
}

std::vector<WorkerEntry*> WorkerRegistry::Silent(int64_t now_ms, int64_t timeout_ms) {
  std::vector<WorkerEntry*> out;
  for (auto& [id, w] : workers_) {
    if (w.state != v1::WORKER_STATE_ALIVE && w.state != v1::WORKER_STATE_RECOVERING) continue;
    if (now_ms - w.last_seen_ms > timeout_ms) out.push_back(&w);
  }
  return out;
}

void WorkerRegistry::SetState(WorkerEntry& w, v1::WorkerState state) {
  w.state = state;
  persist_(w);
}

void WorkerRegistry::DropJobLeases(const std::string& job_id) {
  for (auto& [id, w] : workers_) {
    for (auto it = w.leases.begin(); it != w.leases.end();) {
      it = it->first == job_id ? w.leases.erase(it) : std::next(it);
    }
  }
}

void WorkerRegistry::Restore(internal::WorkerRecord rec, int64_t recovering_seen_ms) {
  WorkerEntry w;
  w.state = rec.status().state();
  w.rec = std::move(rec);
  if (w.state == v1::WORKER_STATE_ALIVE || w.state == v1::WORKER_STATE_RECOVERING) {
    w.state = v1::WORKER_STATE_RECOVERING;
    w.last_seen_ms = recovering_seen_ms;
  }
  const std::string id = w.id();
  workers_[id] = std::move(w);
}

v1::WorkerStatus WorkerRegistry::Status(const WorkerEntry& w) const {
  v1::WorkerStatus s = w.rec.status();
  s.set_state(w.state);
  s.set_last_heartbeat_unix_ms(std::max<int64_t>(0, std::min(w.last_seen_ms, clock_->NowMs())));
  s.clear_weights_held();
  for (const auto& [job, version] : w.held) {
    v1::WeightsRef* ref = s.add_weights_held();
    ref->set_job_id(job);
    ref->set_version(version);
  }
  s.clear_leases();
  s.set_unhealthy(w.unhealthy);
  return s;
}

}  // namespace ssd
