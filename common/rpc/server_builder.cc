#include "common/rpc/server_builder.h"

#include <glog/logging.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/metrics/metrics_registry.h"
#include "common/rpc/token_auth.h"
#include "common/util/status_macros.h"

namespace ssd {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Records ssd_rpc_server_duration_seconds{method} and
// ssd_rpc_server_handled_total{method, code} for every call.
class RpcMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(HistogramFamily* latency, CounterFamily* handled, std::string method)
      : latency_(latency), handled_(handled), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      latency_->WithLabels({method_}).Observe(s);
      handled_->WithLabels({method_, CodeName(methods->GetSendStatus().error_code())}).Increment();
    }
    methods->Proceed();
  }

 private:
  static std::string CodeName(grpc::StatusCode c) {
    static const char* const kNames[] = {
        "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED"};
    const int i = static_cast<int>(c);
    return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
  }

  HistogramFamily* latency_;
  CounterFamily* handled_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcMetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(MetricsRegistry* registry)
      : latency_(&registry->AddHistogram("ssd_rpc_server_duration_seconds",
                                         "Time from the start of a call to its status, by method.", {"method"},
                                         LatencyBucketsSeconds())),
        handled_(&registry->AddCounter("ssd_rpc_server_handled_total", "Calls finished, by method and status code.",
                                       {"method", "code"})) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(latency_, handled_, info->method() != nullptr ? info->method() : "");
  }

 private:
  HistogramFamily* latency_;
  CounterFamily* handled_;
};

}  // namespace

absl::Status ServerOptions::Validate() const {
  RETURN_IF_ERROR(security.Validate(/*server=*/true));
  if (listen_address.empty()) return absl::InvalidArgumentError("--listen: empty address");
  if (security.insecure && !IsLoopbackAddress(listen_address)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen: ", listen_address,
        " is not a loopback address; --insecure serves plaintext and is for 127.0.0.1 only (use TLS: ssd certs init)"));
  }
  if (max_message_bytes < (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("max_message_bytes: ", max_message_bytes, " is below 1 MiB"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BuiltServer> BuildServer(const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  RETURN_IF_ERROR(options.Validate());
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds, MakeServerCredentials(options.security));
  creds->SetAuthMetadataProcessor(std::make_shared<TokenAuthProcessor>(options.security.token, options.public_methods));
  if (options.security.insecure) {
    LOG(WARNING) << "*** --insecure: " << options.listen_address
                 << " serves PLAINTEXT gRPC (loopback peers only). Use TLS (ssd certs init) for anything else. ***";
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, creds, &port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(options.keepalive_timeout_ms));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Clients ping while idle (keepalive); accept pings as often as every 5 s.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  if (options.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<RpcMetricsInterceptorFactory>(options.metrics));
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  BuiltServer out;
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve gRPC on ", options.listen_address,
                                               " (address in use, or not an address of this host)"));
  }
  out.port = port;
  return out;
}

}  // namespace ssd
