#include "trainer_worker/gloo_collective.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <glog/logging.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "trainer_worker/tcp_store.h"

namespace ssd {
namespace {

absl::Status Failed(const std::string& what, int rank, const std::exception& e) {
  return absl::UnavailableError(absl::StrCat("gloo ", what, " on rank ", rank, " failed: ", e.what()));
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

}  // namespace

struct GlooCollective::Impl {
  int rank = 0;
  int world = 1;
  int64_t bucket_bytes = 0;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

absl::StatusOr<std::unique_ptr<GlooCollective>> GlooCollective::Connect(const GlooOptions& options) {
  const RendezvousOptions& r = options.rendezvous;
  if (auto s = r.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->rank = r.rank;
  impl->world = r.world_size;
  impl->bucket_bytes = std::max<int64_t>(options.bucket_bytes, 1);
  ASSIGN_OR_RETURN(impl->store, ConnectTcpStore(r, "gloo"));
  try {
    auto pg_options = c10d::ProcessGroupGloo::Options::create(std::chrono::seconds(r.timeout_s));
    std::string host = r.interface_host;
    if (host.empty() && IsLoopback(r.master_addr)) host = "127.0.0.1";
    pg_options->devices.push_back(host.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                               : c10d::ProcessGroupGloo::createDeviceForHostname(host));
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, r.rank, r.world_size, pg_options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("gloo process group on ", r.master_addr, ":", r.master_port,
                                               " failed for rank ", r.rank, " of ", r.world_size, ": ", e.what()));
  }
  LOG(INFO) << "gloo: rank " << r.rank << " of " << r.world_size << " joined via " << r.master_addr << ":"
            << r.master_port;
  return std::unique_ptr<GlooCollective>(new GlooCollective(std::move(impl)));
}

GlooCollective::GlooCollective(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GlooCollective::~GlooCollective() = default;
int GlooCollective::rank() const { return impl_->rank; }
int GlooCollective::world_size() const { return impl_->world; }

absl::Status GlooCollective::AllReduceSum(const std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return absl::OkStatus();
  try {
    at::NoGradGuard no_grad;
    std::vector<std::vector<at::Tensor>> buckets = GroupIntoBuckets(tensors, impl_->bucket_bytes);
    std::vector<std::vector<at::Tensor>> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& bucket : buckets) {
      std::vector<at::Tensor> views;
      for (const at::Tensor& t : bucket) views.push_back(t.view(-1));
      flats.push_back({bucket.size() == 1 ? views[0] : at::cat(views)});
      works.push_back(impl_->pg->allreduce(flats.back()));
    }
    for (size_t b = 0; b < buckets.size(); ++b) {
      works[b]->wait();
      if (buckets[b].size() == 1) continue;  // reduced in place
      int64_t at = 0;
      for (const at::Tensor& t : buckets[b]) {
        t.view(-1).copy_(flats[b][0].narrow(0, at, t.numel()));
        at += t.numel();
      }
    }
  } catch (const std::exception& e) {
    return Failed("all-reduce", impl_->rank, e);
  }
  return absl::OkStatus();
}

absl::Status GlooCollective::Broadcast(const at::Tensor& tensor, int root) {
  try {
    std::vector<at::Tensor> one{tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    impl_->pg->broadcast(one, opts)->wait();
  } catch (const std::exception& e) {
    return Failed("broadcast", impl_->rank, e);
  }
  return absl::OkStatus();
}

absl::Status GlooCollective::Barrier() {
  try {
    impl_->pg->barrier()->wait();
  } catch (const std::exception& e) {
    return Failed("barrier", impl_->rank, e);
  }
  return absl::OkStatus();
}

}  // namespace ssd
