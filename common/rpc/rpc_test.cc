// The security and limits every ssd server and client gets from the two
// builders: TLS, mTLS, local credentials, the bearer token, health probes
// without a token, message-size limits, per-method metrics.
#include <glog/logging.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics/metrics_registry.h"
#include "common/rpc/channel_builder.h"
#include "common/rpc/dev_certs.h"
#include "common/rpc/security.h"
#include "common/rpc/server_builder.h"
#include "common/rpc/status_conversion.h"
#include "common/rpc/token_auth.h"
#include "common/util/file_util.h"
#include "common/util/ports.h"
#include "ssd/v1/job_service.grpc.pb.h"
#include "tests/testing/temp_dir.h"

namespace ssd {
namespace {

// GetJob echoes the id and reports whether the token reached the handler.
class EchoService : public v1::JobService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest* req,
                                   v1::Job* job) override {
    job->set_id(req->job_id());
    if (ctx->client_metadata().count("authorization") > 0) job->set_error("handler saw the token");
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

class RpcTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new ScopedTempDir("rpc_test");
    dir_ = new std::string(tmp_->path());
    DevCertsOptions o;
    o.out_dir = *dir_;
    ASSERT_TRUE(MakeDevCerts(o).ok());
    token_ = new std::string(*ReadTokenFile(JoinPath(*dir_, "token")));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete tmp_;
    delete token_;
  }
  static std::string F(const char* name) { return JoinPath(*dir_, name); }

  SecurityOptions ServerTls(bool mtls = false) {
    SecurityOptions s;
    s.cert_file = F("server.pem");
    s.key_file = F("server.key");
    s.token = *token_;
    if (mtls) {
      s.require_client_cert = true;
      s.ca_file = F("ca.pem");
    }
    return s;
  }
  SecurityOptions ClientTls(const std::string& token, bool with_cert = false) {
    SecurityOptions s;
    s.ca_file = F("ca.pem");
    s.token = token;
    if (with_cert) {
      s.cert_file = F("client.pem");
      s.key_file = F("client.key");
    }
    return s;
  }

  void Start(const SecurityOptions& security, int64_t max_message_bytes = 64 << 20) {
    ServerOptions o;
    o.security = security;
    o.metrics = &metrics_;
    o.max_message_bytes = max_message_bytes;
    auto built = BuildServer(o, {&service_});
    ASSERT_TRUE(built.ok()) << built.status();
    server_ = std::move(*built);
  }
  std::string Target() { return "localhost:" + std::to_string(server_.port); }

  grpc::Status Call(const SecurityOptions& client, const std::string& id, v1::Job* job,
                    const std::string& target = "") {
    ChannelOptions c;
    c.target = target.empty() ? Target() : target;
    c.security = client;
    auto ch = MakeChannel(c);
    EXPECT_TRUE(ch.ok()) << ch.status();
    auto stub = v1::JobService::NewStub(*ch);
    v1::GetJobRequest req;
    req.set_job_id(id);
    auto ctx = CallContext(5000);
    return stub->GetJob(ctx.get(), req, job);
  }

  static ScopedTempDir* tmp_;
  static std::string* dir_;
  static std::string* token_;
  MetricsRegistry metrics_;
  EchoService service_;
  BuiltServer server_;
};
ScopedTempDir* RpcTest::tmp_ = nullptr;
std::string* RpcTest::dir_ = nullptr;
std::string* RpcTest::token_ = nullptr;

TEST_F(RpcTest, TlsCallWithTheTokenSucceedsAndTheHandlerNeverSeesTheToken) {
  Start(ServerTls());
  v1::Job job;
  grpc::Status s = Call(ClientTls(*token_), "job-1", &job);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(job.id(), "job-1");
  EXPECT_EQ(job.error(), "");
}

// A loopback TCP proxy that holds every new connection for `delay_ms`
// before it connects it to `port`: a handshake on a slow or loaded host.
class SlowProxy {
 public:
  SlowProxy(int port, int delay_ms) : port_(port), delay_ms_(delay_ms), listener_(LoopbackListener::Open().value()) {
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~SlowProxy() {
    stop_ = true;
    shutdown(listener_.fd(), SHUT_RDWR);
    accept_.join();
    for (std::thread& t : pumps_) t.join();
  }
  int port() const { return listener_.port(); }

 private:
  void AcceptLoop() {
    while (!stop_) {
      const int c = accept(listener_.fd(), nullptr, nullptr);
      if (c < 0) return;
      pumps_.emplace_back([this, c] { Pump(c); });
    }
  }
  void Pump(int client) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    const int server = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    if (connect(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      char buf[65536];
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      while (!stop_ && poll(fds, 2, 100) >= 0) {
        bool done = false;
        for (int i = 0; i < 2; ++i) {
          if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
          const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
          if (n <= 0 || write(fds[1 - i].fd, buf, static_cast<size_t>(n)) != n) done = true;
        }
        if (done) break;
      }
    }
    close(server);
    close(client);
  }
  const int port_;
  const int delay_ms_;
  LoopbackListener listener_;
  std::atomic<bool> stop_{false};
  std::thread accept_;
  std::vector<std::thread> pumps_;
};

TEST_F(RpcTest, AHandshakeSlowerThanAFewHundredMillisecondsStillConnects) {
  // Each connection waits 700 ms before the server sees it, so the TLS
  // handshake ends long after 100 ms, the minimum connect timeout channels
  // once had. A one-shot call (no wait_for_ready, as the CLI makes) failed
  // with "timed out before receiving SETTINGS frame".
  Start(ServerTls());
  SlowProxy proxy(server_.port, 700);
  v1::Job job;
  const grpc::Status s = Call(ClientTls(*token_), "job-7", &job, "localhost:" + std::to_string(proxy.port()));
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(job.id(), "job-7");
}

TEST_F(RpcTest, CallWithoutATokenIsUnauthenticated) {
  Start(ServerTls());
  // A channel with TLS but no call credentials at all.
  auto creds = MakeChannelCredentials(ClientTls(*token_));
  ASSERT_TRUE(creds.ok());
  auto stub = v1::JobService::NewStub(grpc::CreateChannel(Target(), *creds));
  v1::GetJobRequest req;
  v1::Job job;
  auto ctx = CallContext(5000);
  grpc::Status s = stub->GetJob(ctx.get(), req, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("no bearer token"), std::string::npos) << s.error_message();
}

TEST_F(RpcTest, WrongTokenIsUnauthenticatedAndTheMessageDoesNotEchoIt) {
  Start(ServerTls());
  v1::Job job;
  const std::string wrong = "wrong-token-0123456789abcdef";
  grpc::Status s = Call(ClientTls(wrong), "x", &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("wrong bearer token"), std::string::npos);
  EXPECT_EQ(s.error_message().find(wrong), std::string::npos);
  EXPECT_EQ(s.error_message().find(*token_), std::string::npos);
}

TEST_F(RpcTest, HealthCheckNeedsNoToken) {
  Start(ServerTls());
  auto creds = MakeChannelCredentials(ClientTls(*token_));
  ASSERT_TRUE(creds.ok());
  grpc::GenericStub stub(grpc::CreateChannel(Target(), *creds));
  grpc::ByteBuffer request;  // HealthCheckRequest{service: ""} encodes to no bytes
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> l(mu);
    status = s;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> l(mu);
  cv.wait(l, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(RpcTest, PlaintextClientAgainstATlsPortFailsUnavailable) {
  Start(ServerTls());
  auto stub = v1::JobService::NewStub(grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials()));
  v1::GetJobRequest req;
  v1::Job job;
  auto ctx = CallContext(3000);
  grpc::Status s = stub->GetJob(ctx.get(), req, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(RpcTest, ClientThatDoesNotTrustTheServersCaFails) {
  Start(ServerTls());
  ScopedTempDir tmp("rpc_test_other");
  const std::string other = tmp.path();
  DevCertsOptions o;
  o.out_dir = other;
  ASSERT_TRUE(MakeDevCerts(o).ok());
  SecurityOptions c = ClientTls(*token_);
  c.ca_file = JoinPath(other, "ca.pem");
  v1::Job job;
  EXPECT_EQ(Call(c, "x", &job).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(RpcTest, MutualTlsRefusesAClientWithoutACertificateAndAcceptsOneWithIt) {
  Start(ServerTls(/*mtls=*/true));
  v1::Job job;
  EXPECT_EQ(Call(ClientTls(*token_), "x", &job).error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::Status s = Call(ClientTls(*token_, /*with_cert=*/true), "y", &job);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(job.id(), "y");
}

TEST_F(RpcTest, InsecureModeStillRequiresTheToken) {
  SecurityOptions server;
  server.insecure = true;
  server.token = *token_;
  Start(server);
  SecurityOptions client;
  client.insecure = true;
  client.token = *token_;
  v1::Job job;
  grpc::Status ok = Call(client, "z", &job, "127.0.0.1:" + std::to_string(server_.port));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  client.token = "another-token-of-enough-length";
  EXPECT_EQ(Call(client, "z", &job, "127.0.0.1:" + std::to_string(server_.port)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(RpcTest, InsecureModeRefusesANonLoopbackListenAddress) {
  ServerOptions o;
  o.listen_address = "0.0.0.0:0";
  o.security.insecure = true;
  o.security.token = *token_;
  auto built = BuildServer(o, {&service_});
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("--listen"), std::string::npos);
  EXPECT_NE(built.status().message().find("loopback"), std::string::npos);
}

TEST_F(RpcTest, MessageOverTheServerLimitIsResourceExhaustedAndTheServerKeepsServing) {
  Start(ServerTls(), /*max_message_bytes=*/1 << 20);
  v1::Job job;
  grpc::Status big = Call(ClientTls(*token_), std::string(2 << 20, 'x'), &job);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
  grpc::Status after = Call(ClientTls(*token_), "small", &job);
  EXPECT_TRUE(after.ok()) << after.error_message();
}

TEST_F(RpcTest, EveryCallIsCountedByMethodAndCode) {
  Start(ServerTls());
  v1::Job job;
  ASSERT_TRUE(Call(ClientTls(*token_), "a", &job).ok());
  const std::string text = metrics_.Render();
  EXPECT_NE(text.find("ssd_rpc_server_handled_total{method=\"/ssd.v1.JobService/GetJob\",code=\"OK\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ssd_rpc_server_duration_seconds_count{method=\"/ssd.v1.JobService/GetJob\"} 1"),
            std::string::npos);
}

TEST(StatusConversionTest, EveryCodeAndMessageRoundTrips) {
  for (int c = 0; c <= 16; ++c) {
    const absl::Status a(static_cast<absl::StatusCode>(c), c == 0 ? "" : "message " + std::to_string(c));
    const grpc::Status g = ToGrpcStatus(a);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(FromGrpcStatus(g), a);
  }
}

TEST(SecurityTest, TokenFilesAreTrimmedAndShortOrMissingOnesRefused) {
  ScopedTempDir tmp("rpc_test_tok");
  const std::string dir = tmp.path();
  ASSERT_TRUE(WriteFileAtomically(dir + "/t", "  0123456789abcdefXYZ\n").ok());
  EXPECT_EQ(*ReadTokenFile(dir + "/t"), "0123456789abcdefXYZ");
  ASSERT_TRUE(WriteFileAtomically(dir + "/short", "abc").ok());
  EXPECT_NE(ReadTokenFile(dir + "/short").status().message().find("at least 16"), std::string::npos);
  EXPECT_FALSE(ReadTokenFile(dir + "/missing").ok());
}

TEST(SecurityTest, LoopbackAddressesAreRecognised) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7070"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7070"));
  EXPECT_FALSE(IsLoopbackAddress("10.1.2.3:7070"));
  EXPECT_FALSE(IsLoopbackAddress("coordinator:7070"));
}

TEST(DevCertsTest, KeysAndTokenArePrivateAndAnExistingSetIsNotOverwrittenWithoutForce) {
  ScopedTempDir tmp("rpc_test_certs");
  const std::string dir = tmp.path();
  DevCertsOptions o;
  o.out_dir = dir;
  o.hosts = {"coordinator.example", "10.0.0.7"};
  ASSERT_TRUE(MakeDevCerts(o).ok());
  for (const char* f : {"ca.key", "server.key", "client.key", "token"}) {
    struct stat st;
    ASSERT_EQ(stat((dir + "/" + f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_EQ(ReadTokenFile(dir + "/token")->size(), 43u);
  const absl::Status again = MakeDevCerts(o);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(again.message().find("--force"), std::string::npos);
  o.force = true;
  EXPECT_TRUE(MakeDevCerts(o).ok());
}

}  // namespace
}  // namespace ssd
