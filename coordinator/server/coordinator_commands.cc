#include "coordinator/server/coordinator_commands.h"

#include <glog/logging.h>

#include <iostream>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/cli/cli_util.h"
#include "common/cli/security_flags.h"
#include "common/rpc/dev_certs.h"
#include "common/util/file_util.h"
#include "common/util/signals.h"
#include "common/util/status_macros.h"
#include "coordinator/server/coordinator_server.h"

namespace ssd {
namespace {

absl::Status WritePortFile(const std::string& path, int port) {
  if (path.empty()) return absl::OkStatus();
  return WriteFileAtomically(path, absl::StrCat(port, "\n"));
}

struct CoordinatorFlags {
  CoordinatorServerOptions server;
  SecurityFlags security;
  std::string port_file;
  int64_t max_message_mb = 64;
};

absl::Status RunCoordinator(const CoordinatorFlags& f) {
  CoordinatorServerOptions o = f.server;
  ASSIGN_OR_RETURN(o.rpc.security, f.security.Resolve(/*server=*/true));
  o.rpc.max_message_bytes = f.max_message_mb << 20;
  // Block the signals before any thread starts, then wait for one.
  BlockTerminationSignals();
  ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorServer> server, CoordinatorServer::Start(o));
  // Announce first: the port file says "ready", so whoever waits on it may
  // read this line (the metrics port) the moment the file appears.
  std::cerr << "ssd coordinator: listening on " << o.rpc.listen_address << " (port " << server->port() << ")"
            << (server->metrics_port() >= 0 ? absl::StrCat(", /metrics on port ", server->metrics_port()) : "")
            << std::endl;
  RETURN_IF_ERROR(WritePortFile(f.port_file, server->port()));
  const int sig = WaitForTerminationSignal();
  LOG(INFO) << "coordinator: " << SignalName(sig) << ", shutting down";
  server->Shutdown();
  return absl::OkStatus();
}

}  // namespace

void RegisterCoordinatorCommands(CLI::App& app, std::function<int()>* run) {
  // ---- ssd coordinator ----
  {
    auto f = std::make_shared<CoordinatorFlags>();
    CoordinatorOptions& co = f->server.coordinator;
    CLI::App* c = app.add_subcommand("coordinator", "Run the coordinator daemon: jobs, leases and the replay store");
    c->add_option("--listen", f->server.rpc.listen_address, "gRPC address host:port (port 0: any)")
        ->capture_default_str();
    c->add_option("--data-dir", f->server.data_dir, "durable state (RocksDB)")->required();
    c->add_option("--metrics-port", f->server.metrics_port,
                  "HTTP port for /metrics and /healthz (-1: none); $SSD_METRICS_PORT")
        ->envname("SSD_METRICS_PORT")
        ->capture_default_str();
    c->add_option("--metrics-host", f->server.metrics_host, "address the HTTP endpoint binds")->capture_default_str();
    c->add_option("--port-file", f->port_file, "write the bound gRPC port here once serving");
    c->add_option("--lease-ttl-ms", co.lease_ttl_ms, "a lease lapses unless renewed this often")->capture_default_str();
    c->add_option("--heartbeat-interval-ms", co.heartbeat_interval_ms, "how often workers heartbeat")
        ->capture_default_str();
    c->add_option("--worker-timeout-ms", co.worker_timeout_ms, "a silent worker is dead after this long")
        ->capture_default_str();
    c->add_option("--recovery-grace-ms", co.recovery_grace_ms, "after a restart, how long leases wait for renewal")
        ->capture_default_str();
    c->add_option("--max-message-mb", f->max_message_mb, "largest gRPC message either way")->capture_default_str();
    c->add_option("--max-streams-per-client", f->server.max_streams_per_client,
                  "streaming calls (watch, append, scan, export, import) one connection may hold open")
        ->capture_default_str();
    c->add_option("--max-problems-per-job", co.max_problems_per_job,
                  "most problems in a job's problem file, eval benchmark or import")
        ->capture_default_str();
    c->add_option("--max-sample-bytes", co.max_sample_bytes, "largest accepted sample text")->capture_default_str();
    f->security.Add(c, /*server=*/true);
    c->callback([f, run] { *run = [f] { return ReportStatus("coordinator", RunCoordinator(*f)); }; });
  }
  // ---- ssd certs init ----
  {
    auto o = std::make_shared<DevCertsOptions>();
    CLI::App* certs = app.add_subcommand("certs", "Development TLS material");
    certs->require_subcommand(1);
    CLI::App* c = certs->add_subcommand("init", "Make a CA, a server and a client certificate, and a cluster token");
    c->add_option("--out", o->out_dir, "folder to write ca.pem, server.pem/.key, client.pem/.key, token")->required();
    c->add_option("--host", o->hosts, "extra DNS name or IP for the server certificate (repeatable)");
    c->add_option("--days", o->days, "validity")->capture_default_str();
    c->add_flag("--force", o->force, "replace an existing set");
    c->callback([o, run] {
      *run = [o] {
        const absl::Status s = MakeDevCerts(*o);
        if (s.ok())
          std::cout << "wrote ca.pem, server.pem, server.key, client.pem, client.key and token to " << o->out_dir
                    << "\n";
        return ReportStatus("certs init", s);
      };
    });
  }
}

}  // namespace ssd
