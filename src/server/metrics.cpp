// Prometheus text exposition (format 0.0.4) of the node's counters.
#include "server/metrics.h"

#include <cmath>
#include <cstdio>

#include "server/online_signer.h"

namespace server {

void PrometheusWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::labels(const Labels& labels) {
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += escape_label(v);
    out_ += '"';
  }
  out_ += '}';
}

void PrometheusWriter::sample(std::string_view name, const Labels& l, uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusWriter::sample(std::string_view name, const Labels& l, double value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  if (std::isnan(value)) {
    out_ += "NaN";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    out_ += buf;
  }
  out_ += '\n';
}

std::string PrometheusWriter::escape_label(std::string_view v) {
  std::string out;
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

std::string PrometheusWriter::escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
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

void Metrics::count_update(const std::string& source, const std::string& result) {
  std::lock_guard lock(mu_);
  ++updates_[{source, result}];
}

void Metrics::count_http(unsigned status) {
  std::lock_guard lock(mu_);
  ++http_[status];
}

void Metrics::observe_status(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("leader")) return;  // "raft thread busy": nothing learnt
  const nlohmann::json& l = status["leader"];
  std::string leader = l.is_string() ? l.get<std::string>() : "";
  std::lock_guard lock(mu_);
  if (seen_status_ && leader != last_leader_) ++leader_changes_;
  seen_status_ = true;
  last_leader_ = leader;
}

std::map<std::pair<std::string, std::string>, uint64_t> Metrics::updates() const {
  std::lock_guard lock(mu_);
  return updates_;
}

uint64_t Metrics::leader_changes() const {
  std::lock_guard lock(mu_);
  return leader_changes_;
}

namespace {

uint64_t json_u64(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<uint64_t>();
}

}  // namespace

std::string Metrics::render(const QueryTotals* q, const nlohmann::json& status) const {
  PrometheusWriter w;
  using L = PrometheusWriter::Labels;

  if (q) {
    w.family("dnsnode_queries_total", "counter", "DNS queries received, by transport.");
    w.sample("dnsnode_queries_total", L{{"transport", "udp"}}, q->udp);
    w.sample("dnsnode_queries_total", L{{"transport", "tcp"}}, q->tcp);
    w.family("dnsnode_queries_by_type_total", "counter", "DNS queries answered, by query type.");
    for (const auto& [type, n] : q->by_qtype) w.sample("dnsnode_queries_by_type_total", L{{"type", type}}, n);
    w.family("dnsnode_responses_by_rcode_total", "counter", "DNS responses sent, by response code.");
    for (const auto& [rcode, n] : q->by_rcode) w.sample("dnsnode_responses_by_rcode_total", L{{"rcode", rcode}}, n);
    w.family("dnsnode_queries_dropped_total", "counter", "DNS queries dropped without an answer (unparseable).");
    w.sample("dnsnode_queries_dropped_total", L{}, q->dropped);
    w.family("dnsnode_responses_truncated_total", "counter", "UDP responses sent truncated (TC bit).");
    w.sample("dnsnode_responses_truncated_total", L{}, q->truncated);
    w.family("dnsnode_signed_queries_total", "counter",
             "TSIG-signed DNS queries, by the outcome of their check (RFC 8945): verified, or the TSIG error answered.");
    for (const auto& [outcome, n] : q->signed_queries) {
      w.sample("dnsnode_signed_queries_total", L{{"tsig", outcome}}, n);
    }
    w.family("dnsnode_rrl_limited_total", "counter",
             "UDP answers response rate limiting dropped, or sent truncated instead (slipped).");
    w.sample("dnsnode_rrl_limited_total", L{{"action", "dropped"}}, q->rrl_dropped);
    w.sample("dnsnode_rrl_limited_total", L{{"action", "slipped"}}, q->rrl_slipped);

    w.family("dnsnode_query_duration_seconds", "histogram",
             "Time from receiving a query to sending its answer (UDP: per receive batch, given to each query of it).");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < QueryCounters::kLatencySlots; ++i) {
      cumulative += q->latency[i];
      std::string le = "+Inf";
      if (i < QueryCounters::kLatencyBoundsNs.size()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", static_cast<double>(QueryCounters::kLatencyBoundsNs[i]) / 1e9);
        le = buf;
      }
      w.sample("dnsnode_query_duration_seconds_bucket", L{{"le", le}}, cumulative);
    }
    w.sample("dnsnode_query_duration_seconds_sum", L{}, static_cast<double>(q->latency_sum_ns) / 1e9);
    w.sample("dnsnode_query_duration_seconds_count", L{}, cumulative);
  }

  std::map<std::pair<std::string, std::string>, uint64_t> updates;
  std::map<unsigned, uint64_t> http;
  uint64_t leader_changes = 0;
  {
    std::lock_guard lock(mu_);
    updates = updates_;
    http = http_;
    leader_changes = leader_changes_;
  }
  w.family("dnsnode_updates_total", "counter", "Update requests handled by this node, by interface and result.");
  for (const auto& [key, n] : updates) {
    w.sample("dnsnode_updates_total", L{{"source", key.first}, {"result", key.second}}, n);
  }
  w.family("dnsnode_http_responses_total", "counter", "HTTP API responses, by status code.");
  for (const auto& [code, n] : http) w.sample("dnsnode_http_responses_total", L{{"code", std::to_string(code)}}, n);
  // Online signing (server/online_signer.h).
  w.family("dnsnode_dnssec_signatures_total", "counter", "RRSIGs made at query time for online-signed zones.");
  w.sample("dnsnode_dnssec_signatures_total", L{}, signing_stats().signatures_made.load(std::memory_order_relaxed));
  w.family("dnsnode_dnssec_signature_cache_hits_total", "counter",
           "Signatures of online-signed zones served from the signature cache.");
  w.sample("dnsnode_dnssec_signature_cache_hits_total", L{}, signing_stats().cache_hits.load(std::memory_order_relaxed));

  const bool have_status = status.is_object() && status.contains("term");
  w.family("dnsnode_raft_status_available", "gauge", "1 when the Raft state below could be read, 0 when the Raft thread was busy.");
  w.sample("dnsnode_raft_status_available", L{}, uint64_t{have_status ? 1u : 0u});
  if (have_status) {
    w.family("dnsnode_raft_term", "gauge", "Current Raft term.");
    w.sample("dnsnode_raft_term", L{}, json_u64(status, "term"));
    w.family("dnsnode_raft_commit_index", "gauge", "Highest log index known committed.");
    w.sample("dnsnode_raft_commit_index", L{}, json_u64(status, "commit_index"));
    w.family("dnsnode_raft_applied_index", "gauge", "Highest log index applied to this node's store.");
    w.sample("dnsnode_raft_applied_index", L{}, json_u64(status, "applied_index"));
    w.family("dnsnode_raft_log_first_index", "gauge", "First index kept in the log (after pruning).");
    w.sample("dnsnode_raft_log_first_index", L{}, json_u64(status, "log_first_index"));
    w.family("dnsnode_raft_log_last_index", "gauge", "Last index in the log.");
    w.sample("dnsnode_raft_log_last_index", L{}, json_u64(status, "log_last_index"));
    w.family("dnsnode_raft_checkpoint_index", "gauge", "Log index of this node's newest checkpoint.");
    w.sample("dnsnode_raft_checkpoint_index", L{}, json_u64(status, "checkpoint_index"));
    w.family("dnsnode_raft_checkpoint_seconds", "gauge",
             "Time the newest checkpoint took, from capturing the store to publishing the file.");
    w.sample("dnsnode_raft_checkpoint_seconds", L{}, static_cast<double>(json_u64(status, "checkpoint_last_ms")) / 1000.0);
    w.family("dnsnode_raft_log_bytes", "gauge", "Size of the write-ahead log on disk, in bytes.");
    w.sample("dnsnode_raft_log_bytes", L{}, json_u64(status, "log_bytes"));
    w.family("dnsnode_raft_log_syncs_total", "counter",
             "Batches written and fsynced to the log since start (group commit: many changes share one).");
    w.sample("dnsnode_raft_log_syncs_total", L{}, json_u64(status, "log_batches_synced"));
    std::string role = status.value("role", std::string());
    w.family("dnsnode_raft_is_leader", "gauge", "1 when this node is the Raft leader.");
    w.sample("dnsnode_raft_is_leader", L{}, uint64_t{role == "leader" ? 1u : 0u});
    w.family("dnsnode_raft_has_leader", "gauge", "1 when this node knows a leader.");
    w.sample("dnsnode_raft_has_leader", L{}, uint64_t{status.contains("leader") && status["leader"].is_string() ? 1u : 0u});
    w.family("dnsnode_peer_auth_failures_total", "counter",
             "Peer connections refused: failed TLS handshakes, credentials naming no member, forged senders.");
    w.sample("dnsnode_peer_auth_failures_total", L{}, json_u64(status, "peer_auth_failures"));
    w.family("dnsnode_peer_handshake_timeouts_total", "counter",
             "Inbound peer connections closed before authenticating: too slow, too many bytes, or displaced.");
    w.sample("dnsnode_peer_handshake_timeouts_total", L{}, json_u64(status, "peer_handshake_timeouts"));
    w.family("dnsnode_peer_decode_failures_total", "counter", "Peer frames dropped because they could not be decoded.");
    w.sample("dnsnode_peer_decode_failures_total", L{}, json_u64(status, "peer_decode_failures"));
    if (status.contains("peers") && status["peers"].is_object()) {
      w.family("dnsnode_peer_connected", "gauge", "1 when the peer transport has a connection to the peer.");
      for (const auto& [id, p] : status["peers"].items()) {
        w.sample("dnsnode_peer_connected", L{{"peer", id}}, uint64_t{p.value("connected", false) ? 1u : 0u});
      }
    }
    if (status.contains("records")) {
      w.family("dnsnode_store_records", "gauge", "Records in this node's store.");
      w.sample("dnsnode_store_records", L{}, json_u64(status, "records"));
    }
  }
  w.family("dnsnode_raft_leader_changes_total", "counter",
           "Changes of the known leader observed by this node (status polled every 250 ms by the HTTP server).");
  w.sample("dnsnode_raft_leader_changes_total", L{}, leader_changes);
  std::vector<std::function<void(PrometheusWriter&)>> sources;
  {
    std::lock_guard lock(mu_);
    sources = sources_;
  }
  for (const auto& source : sources) source(w);
  return w.text();
}

void Metrics::add_source(std::function<void(PrometheusWriter&)> source) {
  std::lock_guard lock(mu_);
  sources_.push_back(std::move(source));
}

}  // namespace server
