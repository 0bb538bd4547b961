// Rendezvous: how the ranks of one training group find each other. Every
// rank is told (rank, world size, master address and port); a c10d TCPStore
// at that address carries what the collectives exchange to connect (Gloo's
// pair addresses, NCCL's unique id). The store server is hosted either by
// rank 0 (StoreOwner::kRank0, what a coordinator-assigned job does) or by
// someone that already listens there (kExternal: the local `--nproc`
// launcher and the tests start a StoreServer on an ephemeral port, so no
// port is ever guessed). Torch-free: tcp_store.cc holds the c10d side.
#ifndef SSD_TRAINER_WORKER_RENDEZVOUS_H_
#define SSD_TRAINER_WORKER_RENDEZVOUS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ssd {

enum class StoreOwner { kRank0, kExternal };

struct RendezvousOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  StoreOwner store_owner = StoreOwner::kRank0;
  // Address Gloo binds for its connections; empty picks the loopback address
  // when master_addr is loopback, and otherwise the local address the kernel
  // routes toward master_addr (not the hostname's, which /etc/hosts often
  // maps to a loopback address other hosts cannot reach).
  std::string interface_host;
  int timeout_s = 300;

  absl::Status Validate() const;
};

// A TCPStore server that ranks join as clients (StoreOwner::kExternal).
class StoreServer {
 public:
  // Listens on `host` at an ephemeral port chosen by the kernel.
  static absl::StatusOr<std::unique_ptr<StoreServer>> Start(const std::string& host, int timeout_s);
  ~StoreServer();
  int port() const;

 private:
  struct Impl;
  explicit StoreServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ssd

#endif  // SSD_TRAINER_WORKER_RENDEZVOUS_H_
