#include "common/metrics/metrics_registry.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ssd {
namespace {

void AtomicAdd(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.9g", v);
}

std::string LabelBlock(const std::vector<std::string>& names, const std::vector<std::string>& values,
                       const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  const size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  uint64_t run = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    run += buckets_[i].load(std::memory_order_relaxed);
    out[i] = run;
  }
  return out;
}

double Histogram::Quantile(double q) const {
  const std::vector<uint64_t> cum = CumulativeCounts();
  const uint64_t total = cum.back();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  for (size_t i = 0; i < cum.size(); ++i) {
    if (static_cast<double>(cum[i]) >= rank) {
      if (i == bounds_->size()) return bounds_->empty() ? 0 : bounds_->back();
      const double lo = i == 0 ? 0 : (*bounds_)[i - 1];
      const double hi = (*bounds_)[i];
      const uint64_t below = i == 0 ? 0 : cum[i - 1];
      const uint64_t in = cum[i] - below;
      if (in == 0) return hi;
      return lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(in);
    }
  }
  return bounds_->back();
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <typename T>
T& MetricFamily<T>::WithLabels(const std::vector<std::string>& values) {
  CHECK_EQ(values.size(), labels_.size()) << name_ << ": wrong number of label values";
  absl::MutexLock lock(&mu_);
  auto& slot = children_[values];
  if (slot == nullptr) {
    if constexpr (std::is_same_v<T, Histogram>) {
      slot = std::make_unique<Histogram>(&bounds_);
    } else {
      slot = std::make_unique<T>();
    }
  }
  return *slot;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void MetricsRegistry::CheckNew(const std::string& name) {
  CHECK(std::find(names_.begin(), names_.end(), name) == names_.end()) << "metric registered twice: " << name;
  names_.push_back(name);
}

CounterFamily& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  for (const auto& f : counters_) {
    if (f->name_ == name) return *f;
  }
  CheckNew(name);
  counters_.emplace_back(new CounterFamily(name, help, std::move(labels), {}));
  return *counters_.back();
}

GaugeFamily& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  for (const auto& f : gauges_) {
    if (f->name_ == name) return *f;
  }
  CheckNew(name);
  gauges_.emplace_back(new GaugeFamily(name, help, std::move(labels), {}));
  return *gauges_.back();
}

HistogramFamily& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               std::vector<std::string> labels, std::vector<double> bounds) {
  CHECK(std::is_sorted(bounds.begin(), bounds.end())) << name << ": bucket bounds must be sorted";
  absl::MutexLock lock(&mu_);
  for (const auto& f : histograms_) {
    if (f->name_ == name) return *f;
  }
  CheckNew(name);
  histograms_.emplace_back(new HistogramFamily(name, help, std::move(labels), std::move(bounds)));
  return *histograms_.back();
}

void MetricsRegistry::AddCollector(std::function<void()> collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Render() const {
  std::vector<std::function<void()>> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  // Collectors may take other components' locks; run them outside ours.
  for (const auto& c : collectors) c();

  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& f : counters_) {
    absl::StrAppend(&out, "# HELP ", f->name_, " ", EscapeHelp(f->help_), "\n# TYPE ", f->name_, " counter\n");
    absl::MutexLock l(&f->mu_);
    for (const auto& [values, c] : f->children_) {
      absl::StrAppend(&out, f->name_, LabelBlock(f->labels_, values), " ", c->value(), "\n");
    }
  }
  for (const auto& f : gauges_) {
    absl::StrAppend(&out, "# HELP ", f->name_, " ", EscapeHelp(f->help_), "\n# TYPE ", f->name_, " gauge\n");
    absl::MutexLock l(&f->mu_);
    for (const auto& [values, g] : f->children_) {
      absl::StrAppend(&out, f->name_, LabelBlock(f->labels_, values), " ", FormatValue(g->value()), "\n");
    }
  }
  for (const auto& f : histograms_) {
    absl::StrAppend(&out, "# HELP ", f->name_, " ", EscapeHelp(f->help_), "\n# TYPE ", f->name_, " histogram\n");
    absl::MutexLock l(&f->mu_);
    for (const auto& [values, h] : f->children_) {
      const std::vector<uint64_t> cum = h->CumulativeCounts();
      for (size_t i = 0; i < cum.size(); ++i) {
        const std::string le = i < f->bounds_.size() ? FormatValue(f->bounds_[i]) : "+Inf";
        absl::StrAppend(&out, f->name_, "_bucket", LabelBlock(f->labels_, values, absl::StrCat("le=\"", le, "\"")), " ",
                        cum[i], "\n");
      }
      absl::StrAppend(&out, f->name_, "_sum", LabelBlock(f->labels_, values), " ", FormatValue(h->sum()), "\n");
      absl::StrAppend(&out, f->name_, "_count", LabelBlock(f->labels_, values), " ", cum.back(), "\n");
    }
  }
  return out;
}

}  // namespace ssd
