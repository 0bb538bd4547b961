// The c10d TCPStore both collectives rendezvous through: rank 0 hosts it
// (StoreOwner::kRank0, waiting for all ranks) or an external one is joined.
// Included only by the collective implementations (it pulls in c10d).
#ifndef SSD_TRAINER_WORKER_TCP_STORE_H_
#define SSD_TRAINER_WORKER_TCP_STORE_H_

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trainer_worker/rendezvous.h"

namespace ssd {

// Connects (or, on rank 0 with kRank0, starts) the store. `backend` names
// the collective in the error, which also names the address and rank.
absl::StatusOr<c10::intrusive_ptr<c10d::TCPStore>> ConnectTcpStore(const RendezvousOptions& r,
                                                                   absl::string_view backend);

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_TCP_STORE_H_
