#include "coordinator/server/coordinator_server.h"

#include <glog/logging.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/metrics/http_endpoint.h"
#include "common/metrics/metrics_registry.h"
#include "common/storage/rocksdb_kv_store.h"
#include "common/util/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/server/executor.h"
#include "coordinator/server/job_service.h"
#include "coordinator/server/replay_store_service.h"
#include "coordinator/server/stream_limiter.h"
#include "coordinator/server/worker_service.h"
#include "coordinator/store_schema.h"

namespace ssd {

struct CoordinatorServer::Impl {
  MetricsRegistry metrics;
  RealClock real_clock;
  std::unique_ptr<RocksDbKvStore> rocksdb;  // when Start opened it
  KvStore* store = nullptr;
  Clock* clock = nullptr;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<Executor> executor;
  std::unique_ptr<StreamLimiter> streams;
  std::unique_ptr<JobServiceImpl> job_service;
  std::unique_ptr<WorkerServiceImpl> worker_service;
  std::unique_ptr<ReplayStoreService> replay_service;
  BuiltServer server;
  std::unique_ptr<HttpEndpoint> http;
  bool shut_down = false;
};

absl::Status CoordinatorServerOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data-dir: required (the coordinator's durable state)");
  if (metrics_port < -1 || metrics_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-port: ", metrics_port, " is not a TCP port"));
  }
  if (max_streams_per_client < 1) return absl::InvalidArgumentError("--max-streams-per-client: must be >= 1");
  RETURN_IF_ERROR(rpc.Validate());
  return coordinator.Validate();
}

CoordinatorServer::CoordinatorServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const CoordinatorServerOptions& options) {
  RETURN_IF_ERROR(options.Validate());
  RocksDbOptions db;
  db.path = options.data_dir;
  ASSIGN_OR_RETURN(std::unique_ptr<RocksDbKvStore> rocksdb, RocksDbKvStore::Open(db, CoordinatorTables()));
  auto impl = std::make_unique<Impl>();
  impl->rocksdb = std::move(rocksdb);
  impl->store = impl->rocksdb.get();
  impl->clock = &impl->real_clock;
  return Serve(options, std::move(impl));
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::StartOn(const CoordinatorServerOptions& options,
                                                                              KvStore* store, Clock* clock) {
  CoordinatorServerOptions o = options;
  if (o.data_dir.empty()) o.data_dir = "(the caller's store)";
  RETURN_IF_ERROR(o.Validate());
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->clock = clock;
  return Serve(options, std::move(impl));
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Serve(const CoordinatorServerOptions& options,
                                                                            std::unique_ptr<Impl> impl) {
  impl->coordinator = std::make_unique<Coordinator>(options.coordinator, impl->store, impl->clock, &impl->metrics);
  RETURN_IF_ERROR(impl->coordinator->Start());
  impl->executor = std::make_unique<Executor>(2);
  impl->streams = std::make_unique<StreamLimiter>(options.max_streams_per_client);
  impl->job_service =
      std::make_unique<JobServiceImpl>(impl->coordinator.get(), impl->executor.get(), impl->streams.get());
  impl->worker_service = std::make_unique<WorkerServiceImpl>(impl->coordinator.get());
  impl->replay_service =
      std::make_unique<ReplayStoreService>(impl->coordinator.get(), impl->executor.get(), impl->streams.get());
  ServerOptions rpc = options.rpc;
  rpc.metrics = &impl->metrics;
  ASSIGN_OR_RETURN(impl->server,
                   BuildServer(rpc, {impl->job_service.get(), impl->worker_service.get(), impl->replay_service.get()}));
  if (options.metrics_port >= 0) {
    Coordinator* c = impl->coordinator.get();
    HttpEndpointOptions h;
    h.host = options.metrics_host;
    h.port = options.metrics_port;
    ASSIGN_OR_RETURN(impl->http, HttpEndpoint::Start(h, &impl->metrics, [c] { return c->Health(); }));
  }
  LOG(INFO) << "coordinator serving on port " << impl->server.port
            << (impl->rocksdb ? absl::StrCat(" (data in ", options.data_dir, ")") : "")
            << (impl->http ? absl::StrCat(", metrics on port ", impl->http->port()) : "");
  return std::unique_ptr<CoordinatorServer>(new CoordinatorServer(std::move(impl)));
}

void CoordinatorServer::Shutdown() {
  if (impl_ == nullptr || impl_->shut_down) return;
  impl_->shut_down = true;
  if (impl_->http) impl_->http->Shutdown();
  impl_->server.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->executor.reset();  // runs what was queued
  impl_->coordinator->Shutdown();
  impl_->server.server->Wait();
  impl_->coordinator.reset();
  impl_->rocksdb.reset();
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

int CoordinatorServer::port() const { return impl_->server.port; }
int CoordinatorServer::metrics_port() const { return impl_->http ? impl_->http->port() : -1; }

}  // namespace ssd
