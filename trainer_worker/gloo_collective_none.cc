// Builds whose libtorch ships no Gloo headers (a PyPI wheel's): GlooCollective
// exists but cannot connect. See gloo_collective.h.
#include "absl/status/status.h"
#include "trainer_worker/gloo_collective.h"

namespace ssd {
namespace {

absl::Status NoGloo() {
  return absl::UnimplementedError(
      "this build has no Gloo: its libtorch ships no gloo/ headers (a PyPI wheel's does not); CPU data parallel "
      "needs a libtorch that has them, such as Debian's libtorch-dev with libgloo-dev. GPU training uses NCCL");
}

}  // namespace

struct GlooCollective::Impl {};

absl::StatusOr<std::unique_ptr<GlooCollective>> GlooCollective::Connect(const GlooOptions& options) { return NoGloo(); }
GlooCollective::GlooCollective(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GlooCollective::~GlooCollective() = default;
int GlooCollective::rank() const { return 0; }
int GlooCollective::world_size() const { return 1; }
absl::Status GlooCollective::AllReduceSum(const std::vector<at::Tensor>& tensors) { return NoGloo(); }
absl::Status GlooCollective::Broadcast(const at::Tensor& tensor, int root) { return NoGloo(); }
absl::Status GlooCollective::Barrier() { return NoGloo(); }
absl::Status GlooCollective::AllGather(const at::Tensor&, const at::Tensor&) { return NoGloo(); }
absl::Status GlooCollective::ReduceScatterSum(const at::Tensor&, const at::Tensor&) { return NoGloo(); }
absl::Status GlooCollective::ReduceScatterSumInPlace(const at::Tensor&) { return NoGloo(); }

}  // namespace ssd
