#include "trainer_worker/tcp_store.h"

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"

namespace ssd {

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

}  // namespace ssd
