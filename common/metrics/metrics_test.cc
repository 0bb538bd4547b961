// The Prometheus text format as scrapers parse it, and the HTTP endpoint.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>
#include <vector>

#include "common/metrics/http_endpoint.h"
#include "common/metrics/metrics_registry.h"

namespace ssd {
namespace {

TEST(MetricsRegistryTest, RendersCountersGaugesAndCumulativeHistogramBucketsWithEscapedLabels) {
  MetricsRegistry r;
  r.AddCounter("ssd_samples_appended_total", "Samples stored.", {"job"}).WithLabels({"j\"1\n"}).Increment(3);
  r.AddGauge("ssd_shard_queue_depth", "Shards waiting.").WithLabels({}).Set(2.5);
  auto& h = r.AddHistogram("ssd_rpc_seconds", "Latency.", {"method"}, {0.1, 1});
  h.WithLabels({"Get"}).Observe(0.05);
  h.WithLabels({"Get"}).Observe(0.5);
  h.WithLabels({"Get"}).Observe(7);
  const std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE ssd_samples_appended_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_samples_appended_total{job=\"j\\\"1\\n\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_shard_queue_depth 2.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_rpc_seconds_bucket{method=\"Get\",le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_rpc_seconds_bucket{method=\"Get\",le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_rpc_seconds_bucket{method=\"Get\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_rpc_seconds_count{method=\"Get\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ssd_rpc_seconds_sum{method=\"Get\"} 7.55\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, CollectorsRunBeforeEachRender) {
  MetricsRegistry r;
  auto& g = r.AddGauge("ssd_jobs", "Jobs by state.", {"state"});
  int calls = 0;
  r.AddCollector([&] { g.WithLabels({"SAMPLING"}).Set(++calls); });
  r.Render();
  EXPECT_NE(r.Render().find("ssd_jobs{state=\"SAMPLING\"} 2"), std::string::npos);
}

TEST(MetricsRegistryTest, AddingAnExistingNameReturnsTheSameFamily) {
  MetricsRegistry r;
  auto& a = r.AddCounter("ssd_x_total", "x");
  auto& b = r.AddCounter("ssd_x_total", "x");
  EXPECT_EQ(&a, &b);
}

TEST(MetricsRegistryTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry r;
  Counter& c = r.AddCounter("ssd_c_total", "c").WithLabels({});
  Histogram& h = r.AddHistogram("ssd_h", "h", {}, {1}).WithLabels({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment();
        h.Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_DOUBLE_EQ(h.sum(), 20000);
}

TEST(HistogramTest, QuantileInterpolatesInsideTheBucket) {
  std::vector<double> bounds = {1, 2, 4};
  Histogram h(&bounds);
  for (int i = 0; i < 50; ++i) h.Observe(0.5);
  for (int i = 0; i < 50; ++i) h.Observe(1.5);
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 1.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.75), 1.5);
}

TEST(HttpEndpointTest, ServesMetricsAndAHealthzThatTurns503WithTheReason) {
  MetricsRegistry r;
  r.AddCounter("ssd_up_total", "up").WithLabels({}).Increment();
  absl::Mutex mu;
  absl::Status health = absl::OkStatus();
  auto ep = HttpEndpoint::Start({"127.0.0.1", 0}, &r, [&] {
    absl::MutexLock lock(&mu);
    return health;
  });
  ASSERT_TRUE(ep.ok()) << ep.status();
  httplib::Client client("127.0.0.1", (*ep)->port());
  auto m = client.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("ssd_up_total 1"), std::string::npos);
  EXPECT_NE(m->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  auto ok = client.Get("/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  {
    absl::MutexLock lock(&mu);
    health = absl::UnavailableError("store not open");
  }
  auto bad = client.Get("/healthz");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 503);
  EXPECT_EQ(bad->body, "store not open\n");
  auto live = client.Get("/livez");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200) << "not ready is still alive: no restart";
  (*ep)->Shutdown();
  (*ep)->Shutdown();  // idempotent
}

TEST(HttpEndpointTest, APortInUseIsAClearError) {
  MetricsRegistry r;
  auto first = HttpEndpoint::Start({"127.0.0.1", 0}, &r, nullptr);
  ASSERT_TRUE(first.ok());
  auto second = HttpEndpoint::Start({"127.0.0.1", (*first)->port()}, &r, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("--metrics-port"), std::string::npos);
}

}  // namespace
}  // namespace ssd
