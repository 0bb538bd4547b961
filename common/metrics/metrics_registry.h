// Prometheus metrics: counters, gauges and histograms with labels, rendered
// in the text exposition format (version 0.0.4) for /metrics.
//
// Names follow Prometheus conventions: an `ssd_` prefix, base units
// (`_seconds`, `_bytes`), `_total` on counters. A family is registered once
// with its label names; WithLabels() returns a child that stays valid for
// the registry's lifetime, so hot paths look it up once and keep the
// reference. Updates are lock-free atomics; thread-safe throughout.
//
// Values that are cheaper to compute at scrape time (jobs by state, queue
// depth) come from collectors: callbacks run just before each render.
#ifndef SSD_COMMON_METRICS_METRICS_REGISTRY_H_
#define SSD_COMMON_METRICS_METRICS_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ssd {

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  // Raises the counter to `total` (never lowers it): for totals another
  // component keeps, copied at scrape time.
  void AdvanceTo(uint64_t total) {
    uint64_t cur = value_.load(std::memory_order_relaxed);
    while (cur < total && !value_.compare_exchange_weak(cur, total, std::memory_order_relaxed)) {
    }
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  // Cumulative counts per bound, then +Inf (== count()).
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // The value below which `q` of the observations fall, interpolated
  // linearly inside the bucket (as Prometheus' histogram_quantile does).
  double Quantile(double q) const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets, 100 us to 10 s.
std::vector<double> LatencyBucketsSeconds();

template <typename T>
class MetricFamily {
 public:
  // `values` must have one entry per label name.
  T& WithLabels(const std::vector<std::string>& values);

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, std::vector<std::string> labels, std::vector<double> bounds)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)), bounds_(std::move(bounds)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labels_;
  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  // std::map keeps rendering in a stable order; children never move.
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  // Adding a name that exists returns the existing family; reusing a name
  // for another kind of metric is a programming error (CHECK).
  CounterFamily& AddCounter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& AddGauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& AddHistogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                std::vector<double> bounds);
  void AddCollector(std::function<void()> collector);

  // Runs the collectors, then renders every family.
  std::string Render() const;

 private:
  void CheckNew(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> collectors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

// Escapes a label value for the exposition format (\\, \", \n).
std::string EscapeLabelValue(const std::string& v);

}  // namespace ssd

#endif  // SSD_COMMON_METRICS_METRICS_REGISTRY_H_
