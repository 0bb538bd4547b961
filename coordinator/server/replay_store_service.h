// ssd.v1.ReplayStore over gRPC's callback API. Append keeps a few messages
// in flight (their group commits overlap) and answers once every sample of
// the stream is durable; Scan and Export read pages from the store on the
// executor, one page per write; Import gathers the file, then imports it on
// the executor.
#ifndef SSD_COORDINATOR_SERVER_REPLAY_STORE_SERVICE_H_
#define SSD_COORDINATOR_SERVER_REPLAY_STORE_SERVICE_H_

#include "coordinator/coordinator.h"
#include "coordinator/server/executor.h"
#include "coordinator/server/stream_limiter.h"
#include "ssd/v1/replay_store.grpc.pb.h"

namespace ssd {

class ReplayStoreService : public v1::ReplayStore::CallbackService {
 public:
  // Largest file Import accepts.
  static constexpr int64_t kMaxImportBytes = int64_t{4} << 30;

  // `streams` bounds the streams per client (shared with the Coordinator
  // service: one connection carries both); not owned.
  ReplayStoreService(Coordinator* coordinator, Executor* executor, StreamLimiter* streams)
      : coordinator_(coordinator), executor_(executor), streams_(streams) {}

  grpc::ServerReadReactor<v1::AppendRequest>* Append(grpc::CallbackServerContext* ctx,
                                                     v1::AppendResponse* response) override;
  grpc::ServerWriteReactor<v1::ScanResponse>* Scan(grpc::CallbackServerContext* ctx,
                                                   const v1::ScanRequest* request) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* ctx, const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportChunk>* Export(grpc::CallbackServerContext* ctx,
                                                    const v1::ExportRequest* request) override;
  grpc::ServerReadReactor<v1::ImportRequest>* Import(grpc::CallbackServerContext* ctx,
                                                     v1::ImportResponse* response) override;

 private:
  Coordinator* const coordinator_;
  Executor* const executor_;
  StreamLimiter* const streams_;
};

}  // namespace ssd

#endif  // SSD_COORDINATOR_SERVER_REPLAY_STORE_SERVICE_H_
