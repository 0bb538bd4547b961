#include "trainer_worker/tcp_store.h"

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"

namespace ssd {

absl::Status RendezvousOptions::Validate() const {
  if (world_size < 1) return absl::InvalidArgumentError(absl::StrCat("world_size: must be >= 1, got ", world_size));
  if (rank < 0 || rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank: ", rank, " is outside [0, ", world_size, ")"));
  }
  if (master_addr.empty()) return absl::InvalidArgumentError("master_addr: must not be empty");
  if (master_port < 0 || master_port > 65535 || (master_port == 0 && world_size > 1)) {
    return absl::InvalidArgumentError(absl::StrCat("master_port: ", master_port, " is not a usable TCP port"));
  }
  if (timeout_s < 1) return absl::InvalidArgumentError("timeout_s: must be >= 1");
  return absl::OkStatus();
}

absl::StatusOr<c10::intrusive_ptr<c10d::TCPStore>> ConnectTcpStore(const RendezvousOptions& r,
                                                                   absl::string_view backend) {
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(r.master_port);
    so.isServer = r.store_owner == StoreOwner::kRank0 && r.rank == 0;
    so.numWorkers = r.store_owner == StoreOwner::kRank0 ? c10::optional<size_t>(r.world_size) : c10::nullopt;
    so.waitWorkers = r.store_owner == StoreOwner::kRank0;
    so.timeout = std::chrono::seconds(r.timeout_s);
    return c10::make_intrusive<c10d::TCPStore>(r.master_addr, so);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(backend, " rendezvous at ", r.master_addr, ":", r.master_port,
                                               " failed for rank ", r.rank, " of ", r.world_size, ": ", e.what()));
  }
}

struct StoreServer::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

absl::StatusOr<std::unique_ptr<StoreServer>> StoreServer::Start(const std::string& host, int timeout_s) {
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = 0;
    so.isServer = true;
    so.waitWorkers = false;
    so.timeout = std::chrono::seconds(timeout_s);
    impl->store = c10::make_intrusive<c10d::TCPStore>(host, so);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot start a TCPStore on ", host, ": ", e.what()));
  }
  if (impl->store->getPort() == 0) {
    return absl::InternalError("the TCPStore did not report the port it listens on");
  }
  return std::unique_ptr<StoreServer>(new StoreServer(std::move(impl)));
}

StoreServer::StoreServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreServer::~StoreServer() = default;
int StoreServer::port() const { return impl_->store->getPort(); }

}  // namespace ssd
