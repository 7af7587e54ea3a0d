// Metrics for /metrics: counters the front ends bump (updates by result),
// leader changes observed from status polls, and the Prometheus text
// exposition format 0.0.4 that renders them with the query counters.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/query_stats.h"

namespace server {

/// Writes the Prometheus text format 0.0.4: every family opens with its
/// HELP and TYPE lines, then its samples.
class PrometheusWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  /// Starts a family; `type` is "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample of the current family (or `name_suffix` of it: "_bucket", "_sum", "_count").
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, uint64_t value);

  const std::string& text() const { return out_; }

  /// Label values escape backslash, double quote and newline; HELP text
  /// escapes backslash and newline.
  static std::string escape_label(std::string_view v);
  static std::string escape_help(std::string_view v);

 private:
  void labels(const Labels& labels);
  std::string out_;
};

/// Counters kept by the node for /metrics. Thread-safe; updates are rare
/// (one per change), so a mutex is enough.
class Metrics {
 public:
  /// Counts one update request: `source` is "dyndns", "rest" or "rfc2136";
  /// `result` the outcome ("good", "nochg", "badauth", "NOERROR", "REFUSED", ...).
  void count_update(const std::string& source, const std::string& result);

  /// Observes a STATUS object; counts a leader change each time the leader
  /// it names differs from the one seen before (the first sighting is not a
  /// change). Polled often enough, this sees every change that lasts longer
  /// than the poll interval.
  void observe_status(const nlohmann::json& status);

  /// Counts one HTTP response by status code.
  void count_http(unsigned status);

  /// Adds families a module renders itself (transfers, NOTIFY, journals),
  /// written after the others on every render.
  void add_source(std::function<void(PrometheusWriter&)> source);

  std::map<std::pair<std::string, std::string>, uint64_t> updates() const;
  uint64_t leader_changes() const;

  /// The whole exposition: queries (from `queries`, may be null), updates,
  /// Raft state from `status`, HTTP responses.
  std::string render(const QueryTotals* queries, const nlohmann::json& status) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> updates_;
  std::map<unsigned, uint64_t> http_;
  bool seen_status_ = false;
  std::string last_leader_;  // "" = none known
  uint64_t leader_changes_ = 0;
  std::vector<std::function<void(PrometheusWriter&)>> sources_;
};

}  // namespace server
