// The NCCL code path; compiled only in CUDA builds (see nccl_collective.h).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <cuda_runtime_api.h>
#include <glog/logging.h>
#include <nccl.h>

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "trainer_worker/nccl_collective.h"
#include "trainer_worker/tcp_store.h"

namespace ssd {
namespace {

constexpr char kUniqueIdKey[] = "ssd/nccl/unique_id";

absl::Status CudaStatus(cudaError_t err, const char* what, int rank) {
  if (err == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("CUDA ", what, " on rank ", rank, ": ", cudaGetErrorString(err)));
}

absl::Status NcclStatus(ncclResult_t res, const char* what, int rank) {
  if (res == ncclSuccess) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("NCCL ", what, " on rank ", rank, ": ", ncclGetErrorString(res)));
}

absl::StatusOr<ncclDataType_t> NcclType(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kBFloat16: return ncclBfloat16;
    case at::kHalf: return ncclFloat16;
    case at::kDouble: return ncclFloat64;
    case at::kLong: return ncclInt64;
    default: return absl::InvalidArgumentError(absl::StrCat("NCCL all-reduce: unsupported dtype ", c10::toString(t)));
  }
}

class NcclCollective : public Collective {
 public:
  NcclCollective(int rank, int world, int device, int64_t bucket_bytes, c10::intrusive_ptr<c10d::TCPStore> store)
      : rank_(rank), world_(world), device_(device), bucket_bytes_(bucket_bytes), store_(std::move(store)) {}

  ~NcclCollective() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (done_ != nullptr) cudaEventDestroy(done_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (scratch_ != nullptr) cudaFree(scratch_);
  }

  absl::Status Init() {
    RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device_), "set device", rank_));
    ncclUniqueId id;
    if (rank_ == 0) {
      RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "get unique id", rank_));
      std::vector<uint8_t> bytes(sizeof(id));
      std::memcpy(bytes.data(), &id, sizeof(id));
      store_->set(kUniqueIdKey, bytes);
    } else {
      std::vector<uint8_t> bytes = store_->get(kUniqueIdKey);  // waits for rank 0
      if (bytes.size() != sizeof(id)) {
        return absl::DataLossError(absl::StrCat("NCCL unique id from the store has ", bytes.size(), " bytes"));
      }
      std::memcpy(&id, bytes.data(), sizeof(id));
    }
    RETURN_IF_ERROR(NcclStatus(ncclCommInitRank(&comm_, world_, id, rank_), "init", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "event", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "event", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaMalloc(reinterpret_cast<void**>(&scratch_), sizeof(float)), "malloc", rank_));
    return absl::OkStatus();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  absl::Status AllReduceSum(const std::vector<at::Tensor>& tensors) override {
    if (tensors.empty()) return absl::OkStatus();
    try {
      at::NoGradGuard no_grad;
      if (!tensors[0].is_cuda()) {
        // Small host-side values (loss sums): stage through the device.
        std::vector<at::Tensor> staged;
        for (const at::Tensor& t : tensors) staged.push_back(t.to(at::Device(at::kCUDA, device_)));
        RETURN_IF_ERROR(AllReduceSum(staged));
        for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(staged[i]);
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensors[0].scalar_type()));
      std::vector<std::vector<at::Tensor>> buckets = GroupIntoBuckets(tensors, bucket_bytes_);
      std::vector<at::Tensor> flats;
      for (const auto& bucket : buckets) {
        std::vector<at::Tensor> views;
        for (const at::Tensor& t : bucket) views.push_back(t.view(-1));
        flats.push_back(bucket.size() == 1 ? views[0] : at::cat(views));
      }
      // Communication waits for the flattening, compute waits for the sums.
      RETURN_IF_ERROR(CudaStatus(cudaEventRecord(ready_, cudaStreamLegacy), "event record", rank_));
      RETURN_IF_ERROR(CudaStatus(cudaStreamWaitEvent(stream_, ready_, 0), "stream wait", rank_));
      RETURN_IF_ERROR(NcclStatus(ncclGroupStart(), "group start", rank_));
      for (at::Tensor& f : flats) {
        RETURN_IF_ERROR(NcclStatus(
            ncclAllReduce(f.data_ptr(), f.data_ptr(), static_cast<size_t>(f.numel()), type, ncclSum, comm_, stream_),
            "all-reduce", rank_));
      }
      RETURN_IF_ERROR(NcclStatus(ncclGroupEnd(), "group end", rank_));
      RETURN_IF_ERROR(CudaStatus(cudaEventRecord(done_, stream_), "event record", rank_));
      RETURN_IF_ERROR(CudaStatus(cudaStreamWaitEvent(cudaStreamLegacy, done_, 0), "stream wait", rank_));
      for (size_t b = 0; b < buckets.size(); ++b) {
        if (buckets[b].size() == 1) continue;  // reduced in place
        int64_t at = 0;
        for (const at::Tensor& t : buckets[b]) {
          t.view(-1).copy_(flats[b].narrow(0, at, t.numel()));
          at += t.numel();
        }
      }
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("NCCL all-reduce on rank ", rank_, ": ", e.what_without_backtrace()));
    }
    return absl::OkStatus();
  }

  absl::Status Broadcast(const at::Tensor& tensor, int root) override {
    ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensor.scalar_type()));
    RETURN_IF_ERROR(CudaStatus(cudaEventRecord(ready_, cudaStreamLegacy), "event record", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaStreamWaitEvent(stream_, ready_, 0), "stream wait", rank_));
    RETURN_IF_ERROR(NcclStatus(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                                             type, root, comm_, stream_),
                               "broadcast", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaEventRecord(done_, stream_), "event record", rank_));
    return CudaStatus(cudaStreamWaitEvent(cudaStreamLegacy, done_, 0), "stream wait", rank_);
  }

  // ncclAllGather and ncclReduceScatter on the communication stream, ordered
  // against the compute stream like AllReduceSum. NCCL runs both in place
  // when the shard is the rank's chunk of the full buffer.
  absl::Status AllGather(const at::Tensor& shard, const at::Tensor& full) override {
    return Sharded("all-gather", shard, full, [&](ncclDataType_t type) {
      return ncclAllGather(shard.data_ptr(), full.data_ptr(), static_cast<size_t>(shard.numel()), type, comm_, stream_);
    });
  }
  absl::Status AllGatherInPlace(const at::Tensor& full) override {
    return AllGather(ChunkOf(full, rank_, world_), full);
  }
  absl::Status ReduceScatterSum(const at::Tensor& full, const at::Tensor& shard) override {
    return Sharded("reduce-scatter", shard, full, [&](ncclDataType_t type) {
      return ncclReduceScatter(full.data_ptr(), shard.data_ptr(), static_cast<size_t>(shard.numel()), type, ncclSum,
                               comm_, stream_);
    });
  }
  absl::Status ReduceScatterSumInPlace(const at::Tensor& full) override {
    return ReduceScatterSum(full, ChunkOf(full, rank_, world_));
  }

  absl::Status Barrier() override {
    RETURN_IF_ERROR(
        NcclStatus(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, stream_), "barrier", rank_));
    return CudaStatus(cudaStreamSynchronize(stream_), "barrier sync", rank_);
  }

 private:
  template <typename Call>
  absl::Status Sharded(const char* what, const at::Tensor& shard, const at::Tensor& full, Call call) {
    if (!shard.is_cuda() || !full.is_cuda() || !shard.is_contiguous() || !full.is_contiguous() ||
        full.numel() != shard.numel() * world_ || shard.scalar_type() != full.scalar_type()) {
      return absl::InvalidArgumentError(
          absl::StrCat("NCCL ", what, " on rank ", rank_,
                       ": needs contiguous CUDA tensors of one dtype with full = ", world_, " x shard elements"));
    }
    ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(shard.scalar_type()));
    RETURN_IF_ERROR(CudaStatus(cudaEventRecord(ready_, cudaStreamLegacy), "event record", rank_));
    RETURN_IF_ERROR(CudaStatus(cudaStreamWaitEvent(stream_, ready_, 0), "stream wait", rank_));
    RETURN_IF_ERROR(NcclStatus(call(type), what, rank_));
    RETURN_IF_ERROR(CudaStatus(cudaEventRecord(done_, stream_), "event record", rank_));
    return CudaStatus(cudaStreamWaitEvent(cudaStreamLegacy, done_, 0), "stream wait", rank_);
  }

  const int rank_;
  const int world_;
  const int device_;
  const int64_t bucket_bytes_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  cudaEvent_t done_ = nullptr;
  float* scratch_ = nullptr;
};

}  // namespace

bool NcclCompiledIn() { return true; }

absl::StatusOr<std::unique_ptr<Collective>> ConnectNccl(const NcclOptions& options) {
  const RendezvousOptions& r = options.rendezvous;
  RETURN_IF_ERROR(r.Validate());
  ASSIGN_OR_RETURN(c10::intrusive_ptr<c10d::TCPStore> store, ConnectTcpStore(r, "NCCL"));
  auto c = std::make_unique<NcclCollective>(r.rank, r.world_size, options.device,
                                            std::max<int64_t>(options.bucket_bytes, 1), std::move(store));
  RETURN_IF_ERROR(c->Init());
  LOG(INFO) << "nccl: rank " << r.rank << " of " << r.world_size << " on cuda:" << options.device;
  return std::unique_ptr<Collective>(std::move(c));
}

}  // namespace ssd
