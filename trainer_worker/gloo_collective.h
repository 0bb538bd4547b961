// GlooCollective: data-parallel collectives over TCP with c10d's
// ProcessGroupGloo (CPU tensors), rendezvousing through a c10d TCPStore.
//
// Rendezvous: every rank is told (rank, world size, master address and
// port). The store server is hosted either by rank 0 (store_owner kRank0,
// what a coordinator-assigned job does) or by someone else that already
// listens there (kExternal: the local `--nproc` launcher hosts it on an
// ephemeral port, so no port is ever guessed). Gloo then opens its own
// pairwise connections, bound to `interface_host`.
//
// AllReduceSum flattens the tensors into buckets of at most bucket_bytes,
// all-reduces the buckets (issued together, awaited in order) and copies the
// sums back. Gloo's reduction delivers the same bits to every rank.
#ifndef SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_
#define SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "trainer_worker/collective.h"

namespace ssd {

enum class StoreOwner { kRank0, kExternal };

struct RendezvousOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  StoreOwner store_owner = StoreOwner::kRank0;
  // Address Gloo binds for its connections; empty picks the loopback address
  // when master_addr is loopback and the host's default interface otherwise.
  std::string interface_host;
  int timeout_s = 300;

  absl::Status Validate() const;
};

struct GlooOptions {
  RendezvousOptions rendezvous;
  int64_t bucket_bytes = int64_t{25} << 20;
};

class GlooCollective : public Collective {
 public:
  // Blocks until all world_size ranks have joined (or the timeout passes).
  static absl::StatusOr<std::unique_ptr<GlooCollective>> Connect(const GlooOptions& options);
  ~GlooCollective() override;

  int rank() const override;
  int world_size() const override;
  absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors) override;
  absl::Status Broadcast(const at::Tensor& tensor, int root) override;
  absl::Status Barrier() override;

 private:
  struct Impl;
  explicit GlooCollective(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
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

#endif  // SSD_TRAINER_WORKER_GLOO_COLLECTIVE_H_
