#include "sampler_worker/weights_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <glog/logging.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/util/file_util.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

void RemoveAll(const std::string& path) {
  if (path.empty() || path == "/") return;
  // Best effort: staging folders are flat (files only) or nested one level.
  for (const std::string& n : List(path)) {
    const std::string p = JoinPath(path, n);
    if (unlink(p.c_str()) != 0) RemoveAll(p);
  }
  rmdir(path.c_str());
}

void SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

}  // namespace

absl::Status CheckJobIdForPath(const std::string& job_id) {
  if (job_id.empty() || job_id.size() > 128 || job_id[0] == '.') {
    return absl::InvalidArgumentError(absl::StrCat("job id \"", job_id.substr(0, 128), "\" cannot name a folder"));
  }
  for (char c : job_id) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat("job id \"", job_id.substr(0, 128), "\" cannot name a folder"));
    }
  }
  return absl::OkStatus();
}

constexpr char kSynced[] = ".synced";

WeightsStore::WeightsStore(std::string root) : root_(std::move(root)) {
  syncer_ = std::thread([this] { SyncLoop(); });
}

WeightsStore::~WeightsStore() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  syncer_.join();
}

void WeightsStore::SyncLoop() {
  for (;;) {
    std::string dir;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !to_sync_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (to_sync_.empty()) return;  // stopping, nothing left
      dir = to_sync_.front();
      to_sync_.pop_front();
      syncing_ = true;
    }
    for (const std::string& n : List(dir)) {
      const int fd = open(JoinPath(dir, n).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        fsync(fd);
        close(fd);
      }
    }
    SyncDir(dir);
    if (!WriteFileAtomically(JoinPath(dir, kSynced), "").ok()) LOG(WARNING) << "cannot mark " << dir << " synced";
    absl::MutexLock lock(&mu_);
    syncing_ = false;
  }
}

void WeightsStore::WaitSynced() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return to_sync_.empty() && !syncing_; };
  mu_.Await(absl::Condition(&idle));
}

absl::StatusOr<std::unique_ptr<WeightsStore>> WeightsStore::Open(const std::string& root) {
  RETURN_IF_ERROR(MakeDirs(root));
  std::unique_ptr<WeightsStore> s(new WeightsStore(root));
  RemoveAll(JoinPath(root, ".staging"));
  for (const std::string& job : List(root)) {
    if (job[0] == '.' || !CheckJobIdForPath(job).ok()) continue;
    for (const std::string& v : List(JoinPath(root, job))) {
      int32_t n = 0;
      const std::string dir = JoinPath(JoinPath(root, job), v);
      if (v.size() > 1 && v[0] == 'v' && absl::SimpleAtoi(v.substr(1), &n) && n > 0 &&
          PathExists(JoinPath(dir, "config.json"))) {
        if (PathExists(JoinPath(dir, kSynced))) {
          s->held_[job][n] = true;
        } else {
          LOG(WARNING) << dir << " was installed but never synced to disk; dropping it (peers can send it again)";
          RemoveAll(dir);
        }
      }
    }
  }
  return s;
}

std::string WeightsStore::Dir(const v1::WeightsRef& ref) const {
  return JoinPath(JoinPath(root_, ref.job_id()), absl::StrCat("v", ref.version()));
}

bool WeightsStore::Has(const v1::WeightsRef& ref) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(ref.job_id());
  return it != held_.end() && it->second.count(ref.version()) > 0;
}

std::vector<v1::WeightsRef> WeightsStore::Held() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::WeightsRef> out;
  for (const auto& [job, versions] : held_) {
    for (const auto& [v, ok] : versions) {
      v1::WeightsRef r;
      r.set_job_id(job);
      r.set_version(v);
      out.push_back(std::move(r));
    }
  }
  return out;
}

int32_t WeightsStore::Newest(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(job_id);
  return it == held_.end() || it->second.empty() ? 0 : it->second.rbegin()->first;
}

absl::StatusOr<std::string> WeightsStore::NewStaging(const v1::WeightsRef& ref) {
  RETURN_IF_ERROR(CheckJobIdForPath(ref.job_id()));
  uint64_t n = 0;
  {
    absl::MutexLock lock(&mu_);
    n = next_staging_++;
  }
  const std::string dir =
      JoinPath(JoinPath(root_, ".staging"), absl::StrCat(ref.job_id(), "-v", ref.version(), "-", getpid(), "-", n));
  RETURN_IF_ERROR(MakeDirs(dir));
  return dir;
}

absl::Status WeightsStore::Install(const v1::WeightsRef& ref, const std::string& staging) {
  RETURN_IF_ERROR(CheckJobIdForPath(ref.job_id()));
  const std::string final_dir = Dir(ref);
  RETURN_IF_ERROR(MakeDirs(JoinPath(root_, ref.job_id())));
  absl::MutexLock lock(&mu_);
  if (held_[ref.job_id()].count(ref.version()) > 0) {
    RemoveAll(staging);
    return absl::OkStatus();
  }
  if (rename(staging.c_str(), final_dir.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("installing ", final_dir, ": ", strerror(errno)));
  }
  held_[ref.job_id()][ref.version()] = true;
  to_sync_.push_back(final_dir);
  return absl::OkStatus();
}

void WeightsStore::Discard(const std::string& staging) { RemoveAll(staging); }

}  // namespace ssd
