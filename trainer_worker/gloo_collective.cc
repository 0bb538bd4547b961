#include "trainer_worker/gloo_collective.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <arpa/inet.h>
#include <glog/logging.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "trainer_worker/tcp_store.h"

namespace ssd {
namespace {

absl::Status Failed(const std::string& what, int rank, const std::exception& e) {
  return absl::UnavailableError(absl::StrCat("gloo ", what, " on rank ", rank, " failed: ", e.what()));
}

bool IsLoopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

// The local address this host uses to reach `host`: the source address the
// kernel picks for a UDP socket connected there (no packet is sent). Gloo's
// default device would instead resolve this machine's hostname, which
// /etc/hosts often maps to 127.0.0.1 or 127.0.1.1, and then advertise a
// loopback address to ranks on other hosts.
absl::StatusOr<std::string> LocalAddressToward(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve master_addr ", host, ": ", gai_strerror(rc)));
  }
  std::string out;
  int err = 0;
  for (addrinfo* a = res; a != nullptr && out.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* ip = local.ss_family == AF_INET6
                           ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      if (inet_ntop(local.ss_family, ip, buf, sizeof(buf)) != nullptr) out = buf;
    } else {
      err = errno;
    }
    close(fd);
  }
  freeaddrinfo(res);
  if (out.empty()) {
    return absl::UnavailableError(
        absl::StrCat("no local address routes to master_addr ", host, ": ", std::strerror(err)));
  }
  return out;
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
    if (host.empty()) {
      absl::StatusOr<std::string> local = LocalAddressToward(r.master_addr, r.master_port);
      if (!local.ok()) {
        return absl::Status(local.status().code(), absl::StrCat("gloo rank ", r.rank, ": ", local.status().message()));
      }
      host = *local;
    }
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

absl::Status GlooCollective::AllGather(const at::Tensor& shard, const at::Tensor& full) {
  try {
    at::NoGradGuard no_grad;
    // Gloo (libtorch 1.13) has no bf16: gather its bytes, which is exact
    // (a gather adds nothing).
    auto wire = [](const at::Tensor& t) {
      return t.scalar_type() == at::kBFloat16 ? t.view(-1).view(at::kByte) : t.view(-1);
    };
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < impl_->world; ++r) outputs[0].push_back(wire(ChunkOf(full, r, impl_->world)));
    std::vector<at::Tensor> inputs{wire(shard)};
    impl_->pg->allgather(outputs, inputs)->wait();
  } catch (const std::exception& e) {
    return Failed("all-gather", impl_->rank, e);
  }
  return absl::OkStatus();
}

absl::Status GlooCollective::ReduceScatterSumInPlace(const at::Tensor& full) {
  const int d = impl_->world, r = impl_->rank;
  if (d == 1) return absl::OkStatus();
  try {
    at::NoGradGuard no_grad;
    // A ring over point-to-point sends: at step s this rank sends its
    // partial sum of chunk (r - s - 1) to the next rank and adds the
    // previous rank's partial sum of chunk (r - s - 2) into its own; after
    // d - 1 steps chunk r holds every rank's contribution.
    auto chunk = [&](int i) { return ChunkOf(full, ((i % d) + d) % d, d); };
    at::Tensor incoming = at::empty_like(chunk(0));
    for (int step = 0; step + 1 < d; ++step) {
      std::vector<at::Tensor> out{chunk(r - step - 1)};
      std::vector<at::Tensor> in{incoming};
      auto sent = impl_->pg->send(out, (r + 1) % d, step);
      auto got = impl_->pg->recv(in, (r - 1 + d) % d, step);
      got->wait();
      sent->wait();
      chunk(r - step - 2).add_(incoming);
    }
  } catch (const std::exception& e) {
    return Failed("reduce-scatter", impl_->rank, e);
  }
  return absl::OkStatus();
}

absl::Status GlooCollective::ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) {
  if (absl::Status s = ReduceScatterSumInPlace(full); !s.ok()) return s;
  at::NoGradGuard no_grad;
  shard.view(-1).copy_(ChunkOf(full, impl_->rank, impl_->world));
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
