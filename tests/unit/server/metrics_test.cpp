// Prometheus rendering: every family has HELP and TYPE, histograms are
// cumulative, leader changes are counted from status polls.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

namespace server {
namespace {

/// A minimal reader of the text format: the families declared (HELP and
/// TYPE) and every sample's value by "name{labels}".
struct Parsed {
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::map<std::string, std::string> samples;
  std::vector<std::string> problems;
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      std::string rest = line.substr(7);
      p.helps.insert(rest.substr(0, rest.find(' ')));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      size_t sp = rest.find(' ');
      std::string family = rest.substr(0, sp);
      if (!p.helps.count(family)) p.problems.push_back("TYPE before HELP for " + family);
      p.types[family] = rest.substr(sp + 1);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t end = line.find_first_of("{ ");
    std::string metric = line.substr(0, end);
    std::string family = metric;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (!p.types.count(family) && family.size() > s.size() &&
          family.compare(family.size() - s.size(), s.size(), s) == 0) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    if (!p.types.count(family)) p.problems.push_back("sample without TYPE: " + line);
    if (!p.helps.count(family)) p.problems.push_back("sample without HELP: " + line);
    size_t sp = line.rfind(' ');
    p.samples[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return p;
}

nlohmann::json status() {
  return nlohmann::json{{"node", "1"},          {"role", "follower"},   {"term", 7},
                        {"leader", "0"},        {"commit_index", 42},   {"applied_index", 41},
                        {"log_first_index", 1}, {"log_last_index", 42}, {"log_bytes", 4096},
                        {"records", 12},        {"peer_auth_failures", 3},
                        {"checkpoint_index", 40}, {"checkpoint_last_ms", 1250},
                        {"peer_handshake_timeouts", 5},
                        {"peers", {{"0", {{"connected", true}, {"match_index", 42}}},
                                   {"2", {{"connected", false}, {"match_index", nullptr}}}}}};
}

TEST(Metrics, EveryFamilyHasHelpAndTypeAndValuesAreThere) {
  QueryStats stats;
  QueryCounters& c = stats.add_thread();
  c.count(ResponseInfo{1, 0, false}, 40, false);
  c.count(ResponseInfo{28, 3, false}, 40, true);
  c.observe_latency(20'000, 2);
  c.observe_latency(2'000'000'000);
  QueryTotals totals = stats.totals();
  Metrics m;
  m.count_update("dyndns", "good");
  m.count_update("dyndns", "good");
  m.count_update("rest", "unauthorized");
  m.count_http(200);
  Parsed p = parse(m.render(&totals, status()));
  EXPECT_TRUE(p.problems.empty()) << p.problems.front();
  EXPECT_EQ(p.samples["dnsnode_queries_total{transport=\"udp\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_queries_total{transport=\"tcp\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_queries_by_type_total{type=\"AAAA\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_responses_by_rcode_total{rcode=\"NXDOMAIN\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_updates_total{source=\"dyndns\",result=\"good\"}"], "2");
  EXPECT_EQ(p.samples["dnsnode_raft_term"], "7");
  EXPECT_EQ(p.samples["dnsnode_raft_commit_index"], "42");
  EXPECT_EQ(p.samples["dnsnode_raft_applied_index"], "41");
  EXPECT_EQ(p.samples["dnsnode_raft_log_bytes"], "4096");
  EXPECT_EQ(p.samples["dnsnode_raft_checkpoint_index"], "40");
  EXPECT_EQ(p.samples["dnsnode_raft_checkpoint_seconds"], "1.25");
  EXPECT_EQ(p.samples["dnsnode_peer_auth_failures_total"], "3");
  EXPECT_EQ(p.samples["dnsnode_peer_handshake_timeouts_total"], "5");
  EXPECT_EQ(p.samples["dnsnode_peer_connected{peer=\"2\"}"], "0");
  EXPECT_EQ(p.samples["dnsnode_raft_is_leader"], "0");
  EXPECT_EQ(p.types["dnsnode_query_duration_seconds"], "histogram");
  EXPECT_EQ(p.types["dnsnode_raft_leader_changes_total"], "counter");
}

TEST(Metrics, SignedQueriesByTsigOutcomeAndRrlActionsAreCounted) {
  QueryStats stats;
  QueryCounters& c = stats.add_thread();
  ResponseInfo verified{1, 0, false, true, 0};
  ResponseInfo badkey{1, 9, false, true, 17};
  ResponseInfo unsigned_query{1, 0, false};
  c.count(verified, 80, false);
  c.count(verified, 80, true);
  c.count(badkey, 60, false);
  c.count(unsigned_query, 40, false);
  c.count_rrl(false);
  c.count_rrl(true);
  c.count_rrl(true);
  QueryTotals totals = stats.totals();
  EXPECT_EQ(totals.signed_queries, (std::map<std::string, uint64_t>{{"BADKEY", 1}, {"verified", 2}}));
  Parsed p = parse(Metrics().render(&totals, nlohmann::json::object()));
  EXPECT_TRUE(p.problems.empty()) << p.problems.front();
  EXPECT_EQ(p.samples["dnsnode_signed_queries_total{tsig=\"verified\"}"], "2");
  EXPECT_EQ(p.samples["dnsnode_signed_queries_total{tsig=\"BADKEY\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_rrl_limited_total{action=\"dropped\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_rrl_limited_total{action=\"slipped\"}"], "2");
  EXPECT_EQ(p.types["dnsnode_signed_queries_total"], "counter");
}

TEST(Metrics, LatencyHistogramIsCumulativeWithInfBucketEqualToCount) {
  QueryStats stats;
  QueryCounters& c = stats.add_thread();
  c.observe_latency(5'000);        // <= 10us
  c.observe_latency(30'000, 3);    // <= 50us
  c.observe_latency(900'000'000);  // above every bound
  QueryTotals totals = stats.totals();
  Parsed p = parse(Metrics().render(&totals, nlohmann::json::object()));
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_bucket{le=\"1e-05\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_bucket{le=\"2.5e-05\"}"], "1");
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_bucket{le=\"5e-05\"}"], "4");
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_bucket{le=\"0.025\"}"], "4");
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_bucket{le=\"+Inf\"}"], "5");
  EXPECT_EQ(p.samples["dnsnode_query_duration_seconds_count"], "5");
  EXPECT_NEAR(std::stod(p.samples["dnsnode_query_duration_seconds_sum"]), 0.900095, 1e-9);
}

TEST(Metrics, LeaderChangesCountDifferencesBetweenPolls) {
  Metrics m;
  auto with_leader = [](nlohmann::json leader) {
    nlohmann::json s = status();
    s["leader"] = std::move(leader);
    return s;
  };
  m.observe_status(with_leader("0"));  // first sighting: not a change
  m.observe_status(with_leader("0"));
  EXPECT_EQ(m.leader_changes(), 0u);
  m.observe_status(with_leader(nullptr));  // lost the leader
  m.observe_status(with_leader("2"));      // a new one
  EXPECT_EQ(m.leader_changes(), 2u);
  m.observe_status(nlohmann::json{{"node", "1"}, {"error", "raft thread busy"}});  // nothing learnt
  m.observe_status(with_leader("2"));
  EXPECT_EQ(m.leader_changes(), 2u);
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(PrometheusWriter::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(PrometheusWriter::escape_help("x\\y\nz"), "x\\\\y\\nz");
  Metrics m;
  m.count_update("rest", "we\"ird");
  Parsed p = parse(m.render(nullptr, nlohmann::json::object()));
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(p.samples["dnsnode_updates_total{source=\"rest\",result=\"we\\\"ird\"}"], "1");
}

TEST(Metrics, WithoutRaftStatusOnlyTheAvailabilityGaugeSaysSo) {
  Parsed p = parse(Metrics().render(nullptr, nlohmann::json{{"error", "raft thread busy"}}));
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(p.samples["dnsnode_raft_status_available"], "0");
  EXPECT_EQ(p.samples.count("dnsnode_raft_term"), 0u);
}

}  // namespace
}  // namespace server
