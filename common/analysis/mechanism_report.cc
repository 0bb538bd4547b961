#include "common/analysis/mechanism_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/tokenizer/utf8.h"

namespace ssd {
namespace {

constexpr double kTailFloor = 1e-8;  // log10 histograms start here
constexpr int kTailBins = 16;        // [-8, 0) in half decades
constexpr int kHeadBins = 15;
constexpr size_t kExampleTokens = 400;
constexpr char kBaseColor[] = "#4878d0";
constexpr char kTunedColor[] = "#ee854a";

double Log10Tail(double t) { return std::log10(std::max(t, kTailFloor)); }

std::string Pct(double x) { return absl::StrFormat("%.2f%%", 100 * x); }

std::string Arrow(double a, double b, const std::function<std::string(double)>& f) {
  return absl::StrCat(f(a), " -> ", f(b));
}

std::string Nats(double x) { return absl::StrFormat("%.3f", x); }

std::string Ratio(double a, double b) {
  if (a <= 0) return "n/a";
  return absl::StrFormat("%.2fx", b / a);
}

std::string SamplingLine(const MechanismReport& r) {
  const SamplingParams& p = r.options.params;
  return absl::StrFormat("sampled from the base at T %g, top-k %d, top-p %g, %d per problem, seed %d", p.temperature,
                         p.top_k, p.top_p, p.n, p.seed);
}

std::string DefinitionLine(const MechanismReport& r) {
  return absl::StrFormat(
      "tail = probability outside each model's top %d; lock = the base's top token holds >= %g%% of its top-%d "
      "mass; fork = every other position",
      r.options.top_k, 100 * r.options.lock_share, r.options.top_k);
}

struct Row {
  std::string name;
  const GroupSummary* g;
};

std::vector<Row> Rows(const MechanismReport& r) { return {{"lock", &r.lock}, {"fork", &r.fork}, {"all", &r.all}}; }

std::vector<std::string> TableHeader() {
  return {"group",        "positions",        "entropy (nats)", "tail mass",           "median tail",
          "head entropy", "p(sampled token)", "tail fell at",   "top token changed at"};
}

std::vector<std::string> TableCells(const Row& row, int64_t total) {
  const GroupSummary& g = *row.g;
  const double share = total > 0 ? static_cast<double>(g.positions) / static_cast<double>(total) : 0;
  return {row.name,
          absl::StrFormat("%d (%.1f%%)", g.positions, 100 * share),
          Arrow(g.base.entropy, g.tuned.entropy, Nats),
          Arrow(g.base.tail_mass, g.tuned.tail_mass, Pct),
          Arrow(g.base.median_tail_mass, g.tuned.median_tail_mass, Pct),
          Arrow(g.base.head_entropy, g.tuned.head_entropy, Nats),
          Arrow(g.base.token_prob, g.tuned.token_prob, Pct),
          Pct(g.share_tail_fell),
          Pct(g.share_argmax_changed)};
}

std::vector<std::string> Verdicts(const MechanismReport& r) {
  std::vector<std::string> out;
  if (r.lock.positions > 0) {
    out.push_back(absl::StrFormat("At locks the tail mass went from %s to %s (%s); it fell at %s of them.",
                                  Pct(r.lock.base.tail_mass), Pct(r.lock.tuned.tail_mass),
                                  Ratio(r.lock.base.tail_mass, r.lock.tuned.tail_mass), Pct(r.lock.share_tail_fell)));
  } else {
    out.push_back("No lock positions: the base is never that confident on these solutions.");
  }
  if (r.fork.positions > 0) {
    out.push_back(absl::StrFormat("At forks the head entropy went from %s to %s nats (%s of it kept).",
                                  Nats(r.fork.base.head_entropy), Nats(r.fork.tuned.head_entropy),
                                  Ratio(r.fork.base.head_entropy, r.fork.tuned.head_entropy)));
  } else {
    out.push_back("No fork positions.");
  }
  return out;
}

nlohmann::json MeansJson(const ModelGroupMeans& m) {
  return {{"entropy", m.entropy},           {"tail_mass", m.tail_mass},   {"median_tail_mass", m.median_tail_mass},
          {"head_entropy", m.head_entropy}, {"token_prob", m.token_prob}, {"top1_share", m.top1_share}};
}

nlohmann::json GroupJson(const GroupSummary& g) {
  return {{"positions", g.positions},
          {"base", MeansJson(g.base)},
          {"tuned", MeansJson(g.tuned)},
          {"share_tail_fell", g.share_tail_fell},
          {"share_argmax_changed", g.share_argmax_changed}};
}

nlohmann::json HistogramJson(const Histogram& h) { return {{"lo", h.lo}, {"hi", h.hi}, {"counts", h.counts}}; }

nlohmann::json StatsJson(const std::vector<NextTokenStats>& v) {
  nlohmann::json j = {{"entropy", nlohmann::json::array()},      {"tail_mass", nlohmann::json::array()},
                      {"head_entropy", nlohmann::json::array()}, {"top1_share", nlohmann::json::array()},
                      {"token_prob", nlohmann::json::array()},   {"argmax", nlohmann::json::array()}};
  for (const NextTokenStats& s : v) {
    j["entropy"].push_back(s.entropy);
    j["tail_mass"].push_back(s.tail_mass);
    j["head_entropy"].push_back(s.head_entropy);
    j["top1_share"].push_back(s.top1_share);
    j["token_prob"].push_back(s.token_prob);
    j["argmax"].push_back(s.argmax);
  }
  return j;
}

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : Utf8Lossy(s)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Bars for two series side by side, one group per category.
std::string SvgBars(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                    const std::vector<double>& base, const std::vector<double>& tuned,
                    const std::function<std::string(double)>& fmt) {
  const double w = 620, h = 260, left = 70, right = 20, top = 30, bottom = 50;
  const double plot_w = w - left - right, plot_h = h - top - bottom;
  double ymax = 0;
  for (double v : base) ymax = std::max(ymax, v);
  for (double v : tuned) ymax = std::max(ymax, v);
  if (ymax <= 0) ymax = 1;
  ymax *= 1.15;
  std::string s = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" role=\"img\"><title>%s</title>"
      "<text x=\"%g\" y=\"18\" text-anchor=\"middle\" font-weight=\"bold\">%s</text>"
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>"
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>"
      "<text x=\"16\" y=\"%g\" transform=\"rotate(-90 16 %g)\" text-anchor=\"middle\" font-size=\"12\">%s</text>",
      w, h, Esc(title), w / 2, Esc(title), left, top, left, top + plot_h, left, top + plot_h, left + plot_w,
      top + plot_h, top + plot_h / 2, top + plot_h / 2, Esc(y_label));
  for (int i = 0; i <= 4; ++i) {
    const double v = ymax * i / 4, y = top + plot_h - plot_h * i / 4;
    absl::StrAppendFormat(&s, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\" font-size=\"10\">%s</text>", left - 4, y + 3,
                          Esc(fmt(v)));
  }
  const double group_w = plot_w / static_cast<double>(std::max<size_t>(categories.size(), 1));
  const double bar_w = std::min(40.0, group_w * 0.35);
  for (size_t c = 0; c < categories.size(); ++c) {
    const double cx = left + group_w * (static_cast<double>(c) + 0.5);
    const double vals[2] = {c < base.size() ? base[c] : 0, c < tuned.size() ? tuned[c] : 0};
    const char* colors[2] = {kBaseColor, kTunedColor};
    const char* names[2] = {"base", "tuned"};
    for (int m = 0; m < 2; ++m) {
      const double bh = plot_h * vals[m] / ymax;
      const double x = m == 0 ? cx - bar_w - 2 : cx + 2;
      absl::StrAppendFormat(&s,
                            "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"%s\"><title>%s, %s: %s</title>"
                            "</rect>",
                            x, top + plot_h - bh, bar_w, bh, colors[m], Esc(categories[c]), names[m],
                            Esc(fmt(vals[m])));
    }
    // Many narrow groups (the histograms): every other label, so they do not run together.
    if (categories.size() <= 8 || c % 2 == 0) {
      absl::StrAppendFormat(&s, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" font-size=\"%d\">%s</text>", cx,
                            top + plot_h + 16, categories.size() <= 8 ? 12 : 10, Esc(categories[c]));
    }
  }
  absl::StrAppendFormat(&s,
                        "<rect x=\"%g\" y=\"%g\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%g\" y=\"%g\" "
                        "font-size=\"11\">base</text><rect x=\"%g\" y=\"%g\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                        "<text x=\"%g\" y=\"%g\" font-size=\"11\">tuned</text></svg>",
                        left, h - 18, kBaseColor, left + 14, h - 9, left + 70, h - 18, kTunedColor, left + 84, h - 9);
  return s;
}

std::vector<double> Shares(const Histogram& hist) {
  int64_t total = 0;
  for (int64_t c : hist.counts) total += c;
  std::vector<double> out;
  for (int64_t c : hist.counts) out.push_back(total > 0 ? static_cast<double>(c) / static_cast<double>(total) : 0);
  return out;
}

std::vector<std::string> BinLabels(const Histogram& hist, const std::function<std::string(double)>& fmt) {
  std::vector<std::string> out;
  const double step = (hist.hi - hist.lo) / static_cast<double>(std::max<size_t>(hist.counts.size(), 1));
  for (size_t i = 0; i < hist.counts.size(); ++i) out.push_back(fmt(hist.lo + step * static_cast<double>(i)));
  return out;
}

std::string TokenStrip(const ScoredSolution& sol, double lock_share,
                       const std::function<std::string(int64_t)>& token_text, bool tuned) {
  std::string s;
  const size_t n = std::min(sol.completion_ids.size(), kExampleTokens);
  for (size_t i = 0; i < n; ++i) {
    const NextTokenStats& b = sol.base[i];
    const NextTokenStats& m = tuned ? sol.tuned[i] : sol.base[i];
    const bool lock = GroupOf(b, lock_share) == PositionGroup::kLock;
    // Redder where more mass lies outside the top k (saturating at 20%).
    const double alpha = std::min(1.0, m.tail_mass / 0.2);
    absl::StrAppendFormat(&s,
                          "<span class=\"%s\" style=\"background:rgba(220,40,40,%.3f)\" title=\"%s, tail %s, head "
                          "entropy %s, p(token) %s\">%s</span>",
                          lock ? "lock" : "fork", alpha, lock ? "lock" : "fork", Pct(m.tail_mass), Nats(m.head_entropy),
                          Pct(m.token_prob), Esc(token_text(sol.completion_ids[i])));
  }
  if (sol.completion_ids.size() > n) absl::StrAppend(&s, " ...");
  return s;
}

}  // namespace

Histogram MakeHistogram(const std::vector<double>& values, double lo, double hi, int bins) {
  Histogram h;
  h.lo = lo;
  h.hi = hi;
  h.counts.assign(static_cast<size_t>(std::max(bins, 1)), 0);
  const double step = (hi - lo) / static_cast<double>(h.counts.size());
  for (double v : values) {
    int64_t b = step > 0 ? static_cast<int64_t>(std::floor((v - lo) / step)) : 0;
    b = std::clamp<int64_t>(b, 0, static_cast<int64_t>(h.counts.size()) - 1);
    ++h.counts[static_cast<size_t>(b)];
  }
  return h;
}

MechanismHistograms ComputeMechanismHistograms(const MechanismReport& report) {
  std::vector<double> lock_base, lock_tuned, fork_base, fork_tuned;
  for (const ScoredSolution& s : report.solutions) {
    for (size_t i = 0; i < s.base.size() && i < s.tuned.size(); ++i) {
      if (GroupOf(s.base[i], report.options.lock_share) == PositionGroup::kLock) {
        lock_base.push_back(Log10Tail(s.base[i].tail_mass));
        lock_tuned.push_back(Log10Tail(s.tuned[i].tail_mass));
      } else {
        fork_base.push_back(s.base[i].head_entropy);
        fork_tuned.push_back(s.tuned[i].head_entropy);
      }
    }
  }
  const double lo = std::log10(kTailFloor);
  const double max_head = std::log(static_cast<double>(report.options.top_k));
  MechanismHistograms h;
  h.lock_log10_tail_base = MakeHistogram(lock_base, lo, 0, kTailBins);
  h.lock_log10_tail_tuned = MakeHistogram(lock_tuned, lo, 0, kTailBins);
  h.fork_head_entropy_base = MakeHistogram(fork_base, 0, max_head, kHeadBins);
  h.fork_head_entropy_tuned = MakeHistogram(fork_tuned, 0, max_head, kHeadBins);
  return h;
}

std::string FormatMechanismSummary(const MechanismReport& r) {
  std::vector<std::vector<std::string>> rows = {TableHeader()};
  for (const Row& row : Rows(r)) rows.push_back(TableCells(row, r.all.positions));
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out = absl::StrFormat("%d solutions, %d positions; %s\n%s\n\n", r.solutions.size(), r.all.positions,
                                    SamplingLine(r), DefinitionLine(r));
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      absl::StrAppend(&line, row[c], c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    }
    absl::StrAppend(&out, line, "\n");
  }
  out += "(base -> tuned; means over positions)\n\n";
  for (const std::string& v : Verdicts(r)) absl::StrAppend(&out, v, "\n");
  if (!r.errors.empty()) {
    absl::StrAppend(&out, r.errors.size(), " problems or solutions skipped; the first: ", r.errors.front(), "\n");
  }
  return out;
}

nlohmann::json MechanismReportToJson(const MechanismReport& r) {
  const MechanismHistograms h = ComputeMechanismHistograms(r);
  const SamplingParams& p = r.options.params;
  return {{"base", r.base_dir},
          {"tuned", r.tuned_dir},
          {"benchmark", r.benchmark_path},
          {"sampling",
           {{"temperature", p.temperature},
            {"top_k", p.top_k},
            {"top_p", p.top_p},
            {"n", p.n},
            {"seed", p.seed},
            {"max_tokens", p.max_tokens}}},
          {"top_k", r.options.top_k},
          {"lock_share", r.options.lock_share},
          {"solutions", r.solutions.size()},
          {"lock", GroupJson(r.lock)},
          {"fork", GroupJson(r.fork)},
          {"all", GroupJson(r.all)},
          {"histograms",
           {{"lock_log10_tail_base", HistogramJson(h.lock_log10_tail_base)},
            {"lock_log10_tail_tuned", HistogramJson(h.lock_log10_tail_tuned)},
            {"fork_head_entropy_base", HistogramJson(h.fork_head_entropy_base)},
            {"fork_head_entropy_tuned", HistogramJson(h.fork_head_entropy_tuned)}}},
          {"errors", r.errors}};
}

std::string MechanismPositionsJsonl(const MechanismReport& r) {
  std::string out;
  for (const ScoredSolution& s : r.solutions) {
    nlohmann::json j = {{"question_id", s.question_id}, {"sample_index", s.sample_index},
                        {"prompt_ids", s.prompt_ids},   {"completion_ids", s.completion_ids},
                        {"base", StatsJson(s.base)},    {"tuned", StatsJson(s.tuned)}};
    absl::StrAppend(&out, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n");
  }
  return out;
}

std::string MechanismReportHtml(const MechanismReport& r, const std::function<std::string(int64_t)>& token_text) {
  const MechanismHistograms h = ComputeMechanismHistograms(r);
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ssd analyze: lock and fork "
      "tokens</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
      "td:first-child,th:first-child{text-align:left}.strip{font-family:monospace;white-space:pre-wrap;"
      "border:1px solid #ddd;padding:6px;line-height:1.6}.fork{border-bottom:2px solid #4878d0}</style></head><body>\n";
  absl::StrAppend(&page, "<h1>How SSD reshaped the next-token distributions</h1>\n<p>base: <code>", Esc(r.base_dir),
                  "</code><br>tuned: <code>", Esc(r.tuned_dir), "</code><br>benchmark: <code>", Esc(r.benchmark_path),
                  "</code></p>\n<p>", r.solutions.size(), " solutions, ", r.all.positions, " positions, ",
                  Esc(SamplingLine(r)), ". Both models score the same tokens.</p>\n<p>", Esc(DefinitionLine(r)),
                  ".</p>\n<table><tr>");
  for (const std::string& c : TableHeader()) absl::StrAppend(&page, "<th>", Esc(c), "</th>");
  absl::StrAppend(&page, "</tr>\n");
  for (const Row& row : Rows(r)) {
    absl::StrAppend(&page, "<tr>");
    for (const std::string& c : TableCells(row, r.all.positions)) absl::StrAppend(&page, "<td>", Esc(c), "</td>");
    absl::StrAppend(&page, "</tr>\n");
  }
  absl::StrAppend(&page, "</table><p>base -&gt; tuned; means over positions.</p>\n<ul>");
  for (const std::string& v : Verdicts(r)) absl::StrAppend(&page, "<li>", Esc(v), "</li>");
  absl::StrAppend(&page, "</ul>\n");

  absl::StrAppend(
      &page, "<h2>Means by group</h2>\n",
      SvgBars("Mean tail mass (outside the top k)", "tail mass", {"lock", "fork"},
              {r.lock.base.tail_mass, r.fork.base.tail_mass}, {r.lock.tuned.tail_mass, r.fork.tuned.tail_mass}, Pct),
      "\n",
      SvgBars("Mean head entropy (top k renormalised)", "nats", {"lock", "fork"},
              {r.lock.base.head_entropy, r.fork.base.head_entropy},
              {r.lock.tuned.head_entropy, r.fork.tuned.head_entropy}, Nats),
      "\n");
  auto decade = [](double x) { return absl::StrFormat("1e%g", x); };
  auto share = [](double x) { return absl::StrFormat("%.0f%%", 100 * x); };
  const std::vector<std::string> tail_bins = BinLabels(h.lock_log10_tail_base, decade);
  auto two_places = [](double x) { return absl::StrFormat("%.2f", x); };
  const std::vector<std::string> head_bins = BinLabels(h.fork_head_entropy_base, two_places);
  absl::StrAppend(&page,
                  "<h2>Tail mass at lock positions</h2>\n<p>Share of lock positions per half decade of tail "
                  "mass (the first bin holds everything below 1e-8). SSD should move mass to the left.</p>\n",
                  SvgBars("Tail mass at locks (log10 bins)", "share of lock positions", tail_bins,
                          Shares(h.lock_log10_tail_base), Shares(h.lock_log10_tail_tuned), share),
                  "\n<h2>Head entropy at fork positions</h2>\n<p>Share of fork positions per bin of head entropy. "
                  "Diversity at forks should stay.</p>\n",
                  SvgBars("Head entropy at forks", "share of fork positions", head_bins,
                          Shares(h.fork_head_entropy_base), Shares(h.fork_head_entropy_tuned), share),
                  "\n");
  if (!r.solutions.empty()) {
    const ScoredSolution& ex = r.solutions.front();
    absl::StrAppend(&page, "<h2>One solution, token by token</h2>\n<p><code>", Esc(ex.question_id), "</code> sample ",
                    ex.sample_index,
                    ". Red: tail mass at that position (full red at 20% or more); underlined: fork positions. Hover "
                    "a token for its numbers.</p>\n<h3>base</h3><div class=\"strip\">",
                    TokenStrip(ex, r.options.lock_share, token_text, false),
                    "</div>\n<h3>tuned</h3><div class=\"strip\">",
                    TokenStrip(ex, r.options.lock_share, token_text, true), "</div>\n");
  }
  if (!r.errors.empty()) {
    absl::StrAppend(&page, "<h2>Skipped</h2><ul>");
    for (const std::string& e : r.errors) absl::StrAppend(&page, "<li>", Esc(e), "</li>");
    absl::StrAppend(&page, "</ul>\n");
  }
  absl::StrAppend(&page, "</body></html>\n");
  return page;
}

}  // namespace ssd
