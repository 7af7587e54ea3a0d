// dns-config.json parsing: the seed's minimal file, optional sections, and
// one clear error for each kind of mistake.
#include "node/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <string>

namespace node {
namespace {

const char* kSeed = R"({"nodes": {
  "0": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4321"},
  "1": {"query_loc": "127.0.0.1:10063", "raft_loc": "127.0.0.1:4322"},
  "2": {"query_loc": "127.0.0.1:10073", "raft_loc": "127.0.0.1:4323"}}})";

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "cfg.json");
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
  return r.ok() ? "" : r.error().message;
}

std::string one_node(const std::string& fields) {
  return R"({"nodes": {"0": {)" + fields + "}}}";
}

TEST(Config, SeedFormatParsesAsIs) {
  auto r = parse_config(kSeed, "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->nodes.size(), 3u);
  const NodeConfig& n1 = r->nodes.at("1");
  EXPECT_EQ(n1.numeric_id, 1u);
  EXPECT_EQ(n1.query.host, "127.0.0.1");
  EXPECT_EQ(n1.query.port, 10063);
  EXPECT_FALSE(n1.query.ipv6);
  EXPECT_EQ(n1.raft.port, 4322);
  EXPECT_FALSE(n1.http.has_value());
  EXPECT_TRUE(r->warnings.empty());
  // Defaults when the optional sections are absent.
  EXPECT_EQ(r->cluster.propose_timeout_ms, 3000u);
  EXPECT_EQ(r->cluster.prune_lag_entries, 10000u);
  EXPECT_EQ(r->tcp.idle_timeout_ms, 10000u);
  EXPECT_EQ(r->tcp.max_connections, 1000u);
  EXPECT_EQ(r->udp_threads, 0u);
}

TEST(Config, OptionalSectionsAreRead) {
  auto r = parse_config(R"({
    "nodes": {"7": {"query_loc": "[::1]:10053", "raft_loc": "127.0.0.1:4321", "http_loc": "127.0.0.1:8080"}},
    "cluster": {"secret": "s3cret-s3cret-s3cret-s3cret-s3cret", "propose_timeout_ms": 500, "prune_lag_entries": 42, "future_knob": true},
    "tsig_keys": [{"name": "update-key", "algorithm": "HMAC-SHA512", "secret": "c2VjcmV0"}],
    "tcp": {"idle_timeout_ms": 2000, "max_connections": 3},
    "udp_threads": 4})",
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const NodeConfig& n = r->nodes.at("7");
  EXPECT_EQ(n.numeric_id, 7u);
  EXPECT_TRUE(n.query.ipv6);
  EXPECT_EQ(n.query.host, "::1");
  EXPECT_EQ(n.query.to_string(), "[::1]:10053");
  ASSERT_TRUE(n.http.has_value());
  EXPECT_EQ(n.http->port, 8080);
  EXPECT_EQ(r->cluster.secret, "s3cret-s3cret-s3cret-s3cret-s3cret");
  EXPECT_EQ(r->cluster.propose_timeout_ms, 500u);
  EXPECT_EQ(r->cluster.prune_lag_entries, 42u);
  EXPECT_TRUE(r->cluster.raw.at("future_knob").get<bool>());
  ASSERT_EQ(r->tsig_keys.size(), 1u);
  EXPECT_EQ(r->tsig_keys[0].name, "update-key.");
  EXPECT_EQ(r->tsig_keys[0].algorithm, "hmac-sha512");
  EXPECT_EQ(r->tsig_keys[0].secret, "c2VjcmV0");
  EXPECT_EQ(r->tcp.idle_timeout_ms, 2000u);
  EXPECT_EQ(r->tcp.max_connections, 3u);
  EXPECT_EQ(r->udp_threads, 4u);
}

TEST(Config, UnknownKeysWarnButDoNotFail) {
  auto r = parse_config(R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2", "colour": 1}},
                            "extra": 1})",
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->warnings.size(), 2u);
  EXPECT_NE(r->warnings[0].find("nodes.\"0\".colour"), std::string::npos) << r->warnings[0];
  EXPECT_NE(r->warnings[1].find("extra"), std::string::npos) << r->warnings[1];
}

TEST(Config, NotJsonNamesLineAndColumn) {
  std::string e = error_of("{\"nodes\": {\n  \"0\": {\"query_loc\": \"127.0.0.1:1\",}\n}}");
  EXPECT_EQ(e.rfind("cfg.json:2:", 0), 0u) << e;
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
}

TEST(Config, TopLevelMustBeAnObject) {
  EXPECT_NE(error_of("[1, 2]").find("top level"), std::string::npos);
}

TEST(Config, MissingOrEmptyNodes) {
  EXPECT_NE(error_of("{}").find("nodes: missing"), std::string::npos);
  EXPECT_NE(error_of(R"({"nodes": {}})").find("no nodes"), std::string::npos);
  EXPECT_NE(error_of(R"({"nodes": [1]})").find("nodes: must be an object"), std::string::npos);
}

TEST(Config, NodeIdMustBeANumber) {
  std::string e = error_of(R"({"nodes": {"alpha": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}})");
  EXPECT_NE(e.find("\"alpha\""), std::string::npos) << e;
  EXPECT_NE(e.find("whole number"), std::string::npos) << e;
  EXPECT_FALSE(parse_config(R"({"nodes": {"01": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}})", "c")
                   .ok());
}

TEST(Config, MissingAddressNamesTheField) {
  std::string e = error_of(one_node(R"("query_loc": "127.0.0.1:10053")"));
  EXPECT_NE(e.find("nodes.\"0\".raft_loc: missing"), std::string::npos) << e;
  e = error_of(one_node(R"("raft_loc": "127.0.0.1:4321")"));
  EXPECT_NE(e.find("nodes.\"0\".query_loc: missing"), std::string::npos) << e;
}

TEST(Config, MalformedAddresses) {
  struct Case {
    const char* addr;
    const char* expect;
  };
  for (const Case& c : {Case{"127.0.0.1", "has no port"}, Case{"127.0.0.1:", "bad port"},
                        Case{"127.0.0.1:99999", "bad port '99999'"}, Case{"127.0.0.1:0", "bad port '0'"},
                        Case{"127.0.0.1:12ab", "bad port"}, Case{"example.com:53", "not an IPv4 address"},
                        Case{"300.0.0.1:53", "not an IPv4 address"}, Case{"::1:53", "brackets"},
                        Case{"[::1]53", "has no port"}, Case{"[::1:53", "without ']'"},
                        Case{"[zz::1]:53", "not an IPv6 address"}}) {
    std::string e = error_of(one_node(std::string(R"("query_loc": ")") + c.addr + R"(", "raft_loc": "127.0.0.1:2")"));
    EXPECT_NE(e.find("nodes.\"0\".query_loc"), std::string::npos) << c.addr << " -> " << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.addr << " -> " << e;
  }
}

TEST(Config, AddressMustBeAString) {
  std::string e = error_of(one_node(R"("query_loc": 10053, "raft_loc": "127.0.0.1:2")"));
  EXPECT_NE(e.find("query_loc: must be a string, not an integer"), std::string::npos) << e;
}

TEST(Config, LocalhostMeansLoopback) {
  auto ep = parse_endpoint("localhost:10053");
  ASSERT_TRUE(ep.ok()) << ep.error().message;
  EXPECT_EQ(ep->host, "127.0.0.1");
}

TEST(Config, DuplicateAddressesAreRefused) {
  std::string e = error_of(R"({"nodes": {
    "0": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4321"},
    "1": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4322"}}})");
  EXPECT_NE(e.find("127.0.0.1:10053 is already used by nodes.\"0\".query_loc"), std::string::npos) << e;
  e = error_of(one_node(R"("query_loc": "127.0.0.1:5000", "raft_loc": "127.0.0.1:5000")"));
  EXPECT_NE(e.find("already used"), std::string::npos) << e;
}

TEST(Config, WrongTypesNameTheField) {
  std::string base = R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}, )";
  struct Case {
    const char* tail;
    const char* expect;
  };
  for (const Case& c :
       {Case{R"("udp_threads": "four"})", "udp_threads: must be a whole number, not a string"},
        Case{R"("udp_threads": -1})", "udp_threads: value -1 is out of range"},
        Case{R"("udp_threads": 1.5})", "udp_threads: must be a whole number, not a fractional number"},
        Case{R"("cluster": []})", "cluster: must be an object"},
        Case{R"("cluster": {"secret": 5}})", "cluster.secret: must be a string"},
        Case{R"("cluster": {"secret": ""}})", "cluster.secret: must not be empty"},
        Case{R"("cluster": {"secret": "0123456789"}})",
             "cluster.secret: is 10 bytes long, shorter than the 32 needed: make one with `openssl rand -base64 32`"},
        Case{R"("cluster": {"secret": "change-me-uav7XnEq2uviuYwCkyn2CkkNRHTtFBy8"}})",
             "cluster.secret: is the example from the shipped dns-config.json, which anyone can read: make your "
             "own with `openssl rand -base64 32`"},
        Case{R"("cluster": {"tls": "certs/"}})", "cluster.tls: must be an object"},
        Case{R"("cluster": {"tls": {"ca": "ca.pem", "cert": "n.pem"}}})", "cluster.tls.key: missing"},
        Case{R"("cluster": {"tls": {"ca": "", "cert": "n.pem", "key": "n.key"}}})", "cluster.tls.ca: must not be empty"},
        Case{R"("cluster": {"tls": {"ca": "ca.pem", "cert": 3, "key": "n.key"}}})", "cluster.tls.cert: must be a string"},
        Case{R"("cluster": {"propose_timeout_ms": "3s"}})", "cluster.propose_timeout_ms: must be a whole number"},
        Case{R"("cluster": {"prune_lag_entries": 0}})", "cluster.prune_lag_entries: value 0 is out of range"},
        Case{R"("cluster": {"checkpoint_every_entries": "often"}})", "cluster.checkpoint_every_entries: must be a whole number"},
        Case{R"("cluster": {"wal_segment_bytes": 100}})", "cluster.wal_segment_bytes: value 100 is out of range"},
        Case{R"("tcp": {"idle_timeout_ms": true}})", "tcp.idle_timeout_ms: must be a whole number, not true/false"},
        Case{R"("tcp": {"max_connections": 0}})", "tcp.max_connections: value 0 is out of range"},
        Case{R"("tsig_keys": {}})", "tsig_keys: must be a list"},
        Case{R"("tsig_keys": [{"secret": "c2VjcmV0"}]})", "tsig_keys[0].name: missing"},
        Case{R"("tsig_keys": [{"name": "k", "secret": "not base64!"}]})", "tsig_keys[0].secret: is not valid base64"},
        Case{R"("tsig_keys": [{"name": "k", "secret": "c2VjcmV0", "algorithm": "rot13"}]})",
             "tsig_keys[0].algorithm: unknown algorithm 'rot13'"},
        Case{R"("tsig_keys": [{"name": "k", "secret": "c2VjcmV0"}, {"name": "K.", "secret": "c2VjcmV0"}]})",
             "tsig_keys[1].name: key 'K.' is defined twice"}}) {
    std::string e = error_of(base + c.tail);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.tail << " -> " << e;
    EXPECT_EQ(e.rfind("cfg.json: ", 0), 0u) << e;
  }
}

TEST(Config, ZoneDnssecPolicies) {
  const std::string base = R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}, )";
  auto cfg = parse_config(base + R"("zones": {"Example.COM": {"dnssec": {"policy": "online", "algorithm": "Ed25519"}},
                                              "example.net.": {"dnssec": {"policy": "online"}}, "example.org.": {}}})",
                          "cfg.json");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->zones.size(), 3u);
  EXPECT_EQ(cfg->zones.at("example.com.").dnssec->algorithm, 15);
  EXPECT_EQ(cfg->zones.at("example.net.").dnssec->algorithm, 13);  // ecdsap256sha256 by default
  EXPECT_FALSE(cfg->zones.at("example.org.").dnssec);
  struct Case {
    const char* tail;
    const char* expect;
  };
  for (const Case& c :
       {Case{R"("zones": []})", "zones: must be an object keyed by zone"},
        Case{R"("zones": {"a..b": {}}})", "zones.\"a..b\": 'a..b' is not a domain name"},
        Case{R"("zones": {"a.": {}, "A": {}}})", "the zone a. is listed twice"},
        Case{R"("zones": {"a.": {"dnssec": true}}})", "zones.\"a.\".dnssec: must be an object"},
        Case{R"("zones": {"a.": {"dnssec": {}}}})", "zones.\"a.\".dnssec.policy: missing (\"online\")"},
        Case{R"("zones": {"a.": {"dnssec": {"policy": "offline"}}}})",
             "zones.\"a.\".dnssec.policy: unknown policy 'offline' (use \"online\")"},
        Case{R"("zones": {"a.": {"dnssec": {"policy": "online", "algorithm": "rsasha256"}}}})",
             "zones.\"a.\".dnssec.algorithm: unknown algorithm 'rsasha256'"}}) {
    std::string e = error_of(base + c.tail);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.tail << " -> " << e;
  }
}

TEST(Config, ClusterTlsPathsAreReadAndExpandedPerNode) {
  auto r = parse_config(R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}},
      "cluster": {"tls": {"ca": "/etc/dns-node/ca.pem", "cert": "/etc/dns-node/node-{id}.pem",
                          "key": "/etc/dns-node/node-{id}.key"}}})",
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->cluster.tls.has_value());
  node::ClusterTlsConfig mine = r->cluster.tls->for_node("12");
  EXPECT_EQ(mine.ca, "/etc/dns-node/ca.pem");
  EXPECT_EQ(mine.cert, "/etc/dns-node/node-12.pem");
  EXPECT_EQ(mine.key, "/etc/dns-node/node-12.key");
}

TEST(Config, RelativeTlsPathsAreTakenFromTheConfigFilesDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("dnsnode-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "dns-config.json");
    f << R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}},
             "cluster": {"tls": {"ca": "pki/ca.pem", "cert": "/abs/n.pem", "key": "pki/n.key"}}})";
  }
  auto r = load_config((dir / "dns-config.json").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->cluster.tls->ca, (dir / "pki/ca.pem").string());
  EXPECT_EQ(r->cluster.tls->cert, "/abs/n.pem");
  EXPECT_EQ(r->cluster.tls->key, (dir / "pki/n.key").string());
}

TEST(Config, UnknownNodeIdListsKnownOnes) {
  auto r = parse_config(kSeed, "cfg.json");
  ASSERT_TRUE(r.ok());
  auto n = r->node("5");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message.find("node \"5\" is not in the configuration (nodes: 0, 1, 2)"), std::string::npos)
      << n.error().message;
  auto ok = r->node("2");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->query.port, 10073);
}

TEST(Config, UnreadableFileSaysSo) {
  auto r = load_config("/nonexistent/dns-config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/dns-config.json: cannot read"), std::string::npos);
}

TEST(Config, KeyRolesAndTheHttpSection) {
  auto r = parse_config(R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}},
    "tsig_keys": [{"name": "a", "secret": "c2VjcmV0", "role": "admin"},
                  {"name": "u", "secret": "c2VjcmV0", "role": "update", "policy": [{"grant": "self"}]},
                  {"name": "n", "secret": "c2VjcmV0"}],
    "http": {"tls": {"cert": "/etc/dns-node/http.pem", "key": "/etc/dns-node/http.key"},
             "open_reads_from": ["10.0.0.0/8", "2001:db8::1"]}})",
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->warnings.empty());
  ASSERT_EQ(r->tsig_keys.size(), 3u);
  EXPECT_EQ(r->tsig_keys[0].role, "admin");
  EXPECT_EQ(r->tsig_keys[1].role, "update");
  EXPECT_EQ(r->tsig_keys[2].role, "");
  EXPECT_EQ(r->http.tls_cert, "/etc/dns-node/http.pem");
  EXPECT_EQ(r->http.tls_key, "/etc/dns-node/http.key");
  EXPECT_EQ(r->http.open_reads_from, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::1"}));

  // Without an "http" section: plain HTTP, reads open from loopback only.
  auto d = parse_config(R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}})", "cfg.json");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->http.tls_cert.empty());
  EXPECT_EQ(d->http.open_reads_from, (std::vector<std::string>{"127.0.0.0/8", "::1/128"}));
}

TEST(Config, BadRolesAndHttpSettingsNameTheField) {
  std::string base = R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}, )";
  struct Case {
    const char* tail;
    const char* expect;
  };
  for (const Case& c :
       {Case{R"("tsig_keys": [{"name": "k", "secret": "c2VjcmV0", "role": "root"}]})",
             "tsig_keys[0].role: unknown role 'root'"},
        Case{R"("tsig_keys": [{"name": "k", "secret": "c2VjcmV0", "role": 1}]})", "tsig_keys[0].role: must be a string"},
        Case{R"("tsig_keys": [{"name": "k", "secret": "c2VjcmV0", "role": "admin", "policy": [{"grant": "self"}]}]})",
             "tsig_keys[0].role: an \"admin\" key may change every zone and cannot have a \"policy\""},
        Case{R"("http": []})", "http: must be an object"},
        Case{R"("http": {"tls": {"cert": "c.pem"}}})", "http.tls.key: missing"},
        Case{R"("http": {"tls": {"key": "k.pem"}}})", "http.tls.cert: missing"},
        Case{R"("http": {"tls": {"cert": "", "key": "k.pem"}}})", "http.tls.cert: must not be empty"},
        Case{R"("http": {"tls": "yes"}})", "http.tls: must be an object"},
        Case{R"("http": {"open_reads_from": "127.0.0.1"}})", "http.open_reads_from: must be a list"},
        Case{R"("http": {"open_reads_from": ["127.0.0.1/33"]}})", "http.open_reads_from[0]: '127.0.0.1/33'"},
        Case{R"("http": {"open_reads_from": ["localhost"]}})", "http.open_reads_from[0]: 'localhost' is not an IP"}}) {
    std::string e = error_of(base + c.tail);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.tail << " -> " << e;
    EXPECT_EQ(e.rfind("cfg.json: ", 0), 0u) << e;
  }
}

}  // namespace
}  // namespace node
