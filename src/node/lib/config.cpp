// Reads dns-config.json: strict about what it knows (types, ranges,
// addresses), tolerant of keys it does not know (warned, not fatal).
#include "node/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "dns/encoding.h"
#include "dns/rr.h"
#include "dns/tsig.h"
#include "server/update.h"

namespace node {
namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "true/false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a fractional number";
    default: return "an unsupported value";
  }
}

/// Collects the first error; every reader below stops at it.
struct Reader {
  std::string source;
  std::vector<std::string>* warnings;

  util::Error fail(const std::string& path, const std::string& what) const {
    return util::make_error(source + ": " + path + ": " + what);
  }

  util::Result<std::string> string_field(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = obj.at(key);
    if (!v.is_string()) return fail(path, std::string("must be a string, not ") + type_name(v));
    return v.get<std::string>();
  }

  util::Result<uint64_t> uint_field(const json& obj, const std::string& key, const std::string& path,
                                    uint64_t min, uint64_t max) const {
    const json& v = obj.at(key);
    if (!v.is_number_integer()) {
      return fail(path, std::string("must be a whole number, not ") + type_name(v));
    }
    if (v.is_number_unsigned() || v.get<int64_t>() >= 0) {
      uint64_t n = v.get<uint64_t>();
      if (n >= min && n <= max) return n;
    }
    return fail(path, "value " + v.dump() + " is out of range (" + std::to_string(min) + "-" +
                          std::to_string(max) + ")");
  }

  void warn_unknown(const json& obj, const std::set<std::string>& known, const std::string& path) const {
    for (const auto& [key, value] : obj.items()) {
      if (!known.count(key)) warnings->push_back(source + ": " + path + key + ": unknown setting, ignored");
    }
  }

  util::Result<Endpoint> endpoint_field(const json& obj, const std::string& key, const std::string& path) const {
    auto text = string_field(obj, key, path);
    if (!text) return text.error();
    auto ep = parse_endpoint(*text);
    if (!ep) return fail(path, ep.error().message);
    return ep;
  }
};

std::string quoted_path(const std::string& id, const char* field) {
  return "nodes.\"" + id + "\"." + field;
}

util::Result<uint32_t> parse_node_id(const std::string& id) {
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
  if (id.empty() || ec != std::errc() || end != id.data() + id.size() || (id.size() > 1 && id[0] == '0')) {
    return util::make_error("node id \"" + id + "\" must be a whole number such as \"0\" or \"12\"");
  }
  return n;
}

bool valid_base64(std::string_view s) { return !s.empty() && dns::base64_decode(s).ok(); }

util::Result<void> read_nodes(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("nodes")) return r.fail("nodes", "missing; list the cluster's nodes, e.g. {\"0\": {\"query_loc\": \"127.0.0.1:10053\", \"raft_loc\": \"127.0.0.1:4321\"}}");
  const json& nodes = root.at("nodes");
  if (!nodes.is_object()) return r.fail("nodes", std::string("must be an object keyed by node id, not ") + type_name(nodes));
  if (nodes.empty()) return r.fail("nodes", "no nodes listed");

  // Every address must be distinct: two listeners cannot share one.
  std::map<std::string, std::string> used;  // "host:port" -> path that took it
  std::set<uint32_t> numeric_ids;
  for (const auto& [id, entry] : nodes.items()) {
    std::string base = "nodes.\"" + id + "\"";
    auto num = parse_node_id(id);
    if (!num) return r.fail(base, num.error().message);
    if (!numeric_ids.insert(*num).second) return r.fail(base, "the same node id is listed twice");
    if (!entry.is_object()) return r.fail(base, std::string("must be an object, not ") + type_name(entry));

    NodeConfig node;
    node.id = id;
    node.numeric_id = *num;
    for (const char* field : {"query_loc", "raft_loc"}) {
      if (!entry.contains(field)) {
        return r.fail(quoted_path(id, field), "missing (an address such as \"127.0.0.1:10053\")");
      }
    }
    auto q = r.endpoint_field(entry, "query_loc", quoted_path(id, "query_loc"));
    if (!q) return q.error();
    node.query = *q;
    auto rf = r.endpoint_field(entry, "raft_loc", quoted_path(id, "raft_loc"));
    if (!rf) return rf.error();
    node.raft = *rf;
    if (entry.contains("http_loc")) {
      auto h = r.endpoint_field(entry, "http_loc", quoted_path(id, "http_loc"));
      if (!h) return h.error();
      node.http = *h;
    }
    r.warn_unknown(entry, {"query_loc", "raft_loc", "http_loc"}, base + ".");

    std::vector<std::pair<const char*, Endpoint>> eps = {{"query_loc", node.query}, {"raft_loc", node.raft}};
    if (node.http) eps.emplace_back("http_loc", *node.http);
    for (const auto& [field, ep] : eps) {
      auto [it, fresh] = used.emplace(ep.to_string(), quoted_path(id, field));
      if (!fresh) {
        return r.fail(quoted_path(id, field), "address " + ep.to_string() + " is already used by " + it->second);
      }
    }
    cfg.nodes.emplace(id, std::move(node));
  }
  return {};
}

// A cluster secret shorter than this is refused: 32 bytes is what
// `openssl rand -base64 32` suggests (it prints 44 characters).
constexpr std::size_t kMinSecretBytes = 32;

util::Result<void> read_cluster(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("cluster")) return {};
  const json& c = root.at("cluster");
  if (!c.is_object()) return r.fail("cluster", std::string("must be an object, not ") + type_name(c));
  cfg.cluster.raw = c;
  if (c.contains("secret")) {
    auto s = r.string_field(c, "secret", "cluster.secret");
    if (!s) return s.error();
    if (s->empty()) return r.fail("cluster.secret", "must not be empty (remove it to run without peer authentication)");
    // The shipped dns-config.json holds a placeholder (and once held a
    // published example): anyone can read those, so they protect nothing.
    if (s->rfind("change-me", 0) == 0) {
      return r.fail("cluster.secret",
                    "is the example from the shipped dns-config.json, which anyone can read: make your own with "
                    "`openssl rand -base64 32` and put the same value on every node");
    }
    if (s->size() < kMinSecretBytes) {
      return r.fail("cluster.secret", "is " + std::to_string(s->size()) + " bytes long, shorter than the " +
                                          std::to_string(kMinSecretBytes) +
                                          " needed: make one with `openssl rand -base64 32` and put the same value "
                                          "on every node");
    }
    cfg.cluster.secret = *s;
  }
  if (c.contains("tls")) {
    const json& t = c.at("tls");
    if (!t.is_object()) {
      return r.fail("cluster.tls", std::string("must be an object such as {\"ca\": \"ca.pem\", \"cert\": "
                                               "\"node.pem\", \"key\": \"node.key\"}, not ") + type_name(t));
    }
    ClusterTlsConfig tls;
    for (auto [key, dst] : {std::pair<const char*, std::string*>{"ca", &tls.ca}, {"cert", &tls.cert}, {"key", &tls.key}}) {
      const std::string path = std::string("cluster.tls.") + key;
      if (!t.contains(key)) return r.fail(path, "missing (the path of a PEM file)");
      auto v = r.string_field(t, key, path);
      if (!v) return v.error();
      if (v->empty()) return r.fail(path, "must not be empty (the path of a PEM file)");
      *dst = *v;
    }
    r.warn_unknown(t, {"ca", "cert", "key"}, "cluster.tls.");
    cfg.cluster.tls = std::move(tls);
  }
  struct U32 {
    const char* key;
    uint32_t* dst;
    uint64_t min, max;
  };
  for (const U32& f : {U32{"propose_timeout_ms", &cfg.cluster.propose_timeout_ms, 1, 3600000},
                       U32{"heartbeat_ms", &cfg.cluster.heartbeat_ms, 1, 60000},
                       U32{"election_timeout_ms", &cfg.cluster.election_timeout_ms, 10, 600000}}) {
    if (!c.contains(f.key)) continue;
    auto v = r.uint_field(c, f.key, std::string("cluster.") + f.key, f.min, f.max);
    if (!v) return v.error();
    *f.dst = static_cast<uint32_t>(*v);
  }
  // The heartbeat is one Raft tick and the election timeout must span more
  // than one (Raft §5.2: broadcast time << election timeout); below that a
  // follower would give up on a healthy leader between two heartbeats.
  if (cfg.cluster.election_timeout_ms < 2 * uint64_t{cfg.cluster.heartbeat_ms}) {
    return r.fail("cluster.election_timeout_ms",
                  "value " + std::to_string(cfg.cluster.election_timeout_ms) + " must be at least twice " +
                      "cluster.heartbeat_ms (" + std::to_string(cfg.cluster.heartbeat_ms) +
                      "); ten times is usual");
  }
  struct U64 {
    const char* key;
    uint64_t* dst;
    uint64_t min, max;
  };
  for (const U64& f : {U64{"prune_lag_entries", &cfg.cluster.prune_lag_entries, 1, UINT64_MAX / 2},
                       U64{"checkpoint_every_entries", &cfg.cluster.checkpoint_every_entries, 1, UINT64_MAX / 2},
                       U64{"wal_segment_bytes", &cfg.cluster.wal_segment_bytes, 4096, 1ull << 32}}) {
    if (!c.contains(f.key)) continue;
    auto v = r.uint_field(c, f.key, std::string("cluster.") + f.key, f.min, f.max);
    if (!v) return v.error();
    *f.dst = *v;
  }
  // Other cluster keys are read by the modules that use them, from `raw`.
  return {};
}

/// A key's "policy": a list of grant rules (see UpdatePolicyRule).
util::Result<std::vector<UpdatePolicyRule>> read_policy(const Reader& r, const json& policy, const std::string& path) {
  if (!policy.is_array()) {
    return r.fail(path, std::string("must be a list of rules such as {\"grant\": \"subdomain\", \"name\": "
                                    "\"dyn.example.com.\"}, not ") + type_name(policy));
  }
  std::vector<UpdatePolicyRule> rules;
  for (size_t i = 0; i < policy.size(); ++i) {
    std::string base = path + "[" + std::to_string(i) + "]";
    const json& p = policy[i];
    if (!p.is_object()) return r.fail(base, std::string("must be an object, not ") + type_name(p));
    if (!p.contains("grant")) return r.fail(base + ".grant", "missing (\"subdomain\", \"name\" or \"self\")");
    auto grant = r.string_field(p, "grant", base + ".grant");
    if (!grant) return grant.error();
    UpdatePolicyRule rule;
    rule.grant = *grant;
    if (rule.grant != "subdomain" && rule.grant != "name" && rule.grant != "self") {
      return r.fail(base + ".grant", "unknown grant '" + rule.grant + "' (use \"subdomain\", \"name\" or \"self\")");
    }
    if (rule.grant == "self") {
      if (p.contains("name")) return r.fail(base + ".name", "not allowed with \"self\" (the name is the key's own)");
    } else {
      if (!p.contains("name")) return r.fail(base + ".name", "missing (the domain name the rule grants)");
      auto name = r.string_field(p, "name", base + ".name");
      if (!name) return name.error();
      auto parsed = dns::Name::from_text(*name);
      if (name->empty() || !parsed) {
        return r.fail(base + ".name", "'" + *name + "' is not a domain name" +
                                          (parsed ? std::string() : ": " + parsed.error().message));
      }
      rule.name = parsed->to_text();
    }
    if (p.contains("types")) {
      const json& types = p.at("types");
      if (!types.is_array()) return r.fail(base + ".types", std::string("must be a list such as [\"A\", \"AAAA\"], not ") + type_name(types));
      for (size_t j = 0; j < types.size(); ++j) {
        std::string tpath = base + ".types[" + std::to_string(j) + "]";
        if (!types[j].is_string()) return r.fail(tpath, std::string("must be a string, not ") + type_name(types[j]));
        auto type = dns::type_from_text(types[j].get<std::string>());
        if (!type) return r.fail(tpath, "unknown record type '" + types[j].get<std::string>() + "'");
        if (*type == dns::rrtype::ANY) {
          rule.types.clear();  // every type
          break;
        }
        if (dns::is_meta_type(*type)) return r.fail(tpath, "'" + types[j].get<std::string>() + "' cannot be stored in a zone");
        rule.types.push_back(dns::type_to_text(*type));
      }
    }
    r.warn_unknown(p, {"grant", "name", "types"}, base + ".");
    rules.push_back(std::move(rule));
  }
  return rules;
}

/// The top-level "update" object (see UpdateConfig).
util::Result<void> read_update(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("update")) return {};
  const json& u = root.at("update");
  if (!u.is_object()) return r.fail("update", std::string("must be an object, not ") + type_name(u));
  if (u.contains("allow_unsigned_from")) {
    const json& nets = u.at("allow_unsigned_from");
    if (!nets.is_array()) {
      return r.fail("update.allow_unsigned_from",
                    std::string("must be a list of networks such as [\"127.0.0.0/8\"], not ") + type_name(nets));
    }
    for (size_t i = 0; i < nets.size(); ++i) {
      std::string path = "update.allow_unsigned_from[" + std::to_string(i) + "]";
      if (!nets[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(nets[i]));
      auto net = server::Network::parse(nets[i].get<std::string>());
      if (!net) return r.fail(path, net.error().message);
      cfg.update.allow_unsigned_from.push_back(nets[i].get<std::string>());
    }
  }
  r.warn_unknown(u, {"allow_unsigned_from"}, "update.");
  return {};
}

util::Result<void> read_tsig_keys(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("tsig_keys")) return {};
  const json& keys = root.at("tsig_keys");
  if (!keys.is_array()) return r.fail("tsig_keys", std::string("must be a list of keys, not ") + type_name(keys));
  static const std::set<std::string> kAlgorithms = {"hmac-md5", "hmac-sha1", "hmac-sha224",
                                                    "hmac-sha256", "hmac-sha384", "hmac-sha512"};
  std::set<std::string> names;
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string base = "tsig_keys[" + std::to_string(i) + "]";
    const json& k = keys[i];
    if (!k.is_object()) return r.fail(base, std::string("must be an object, not ") + type_name(k));
    TsigKey key;
    for (const char* field : {"name", "secret"}) {
      if (!k.contains(field)) return r.fail(base + "." + field, "missing");
    }
    auto name = r.string_field(k, "name", base + ".name");
    if (!name) return name.error();
    if (name->empty()) return r.fail(base + ".name", "must not be empty");
    key.name = *name;
    if (key.name.back() != '.') key.name += '.';
    auto secret = r.string_field(k, "secret", base + ".secret");
    if (!secret) return secret.error();
    if (!valid_base64(*secret)) return r.fail(base + ".secret", "is not valid base64");
    key.secret = *secret;
    if (k.contains("algorithm")) {
      auto alg = r.string_field(k, "algorithm", base + ".algorithm");
      if (!alg) return alg.error();
      std::string lower;
      for (char ch : *alg) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!lower.empty() && lower.back() == '.') lower.pop_back();
      if (!kAlgorithms.count(lower)) {
        return r.fail(base + ".algorithm", "unknown algorithm '" + *alg + "' (use hmac-sha256, hmac-sha512, ...)");
      }
      key.algorithm = lower;
    }
    std::string lname;
    for (char ch : key.name) lname += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!names.insert(lname).second) return r.fail(base + ".name", "key '" + key.name + "' is defined twice");
    if (k.contains("policy")) {
      auto policy = read_policy(r, k.at("policy"), base + ".policy");
      if (!policy) return policy.error();
      key.policy = std::move(policy.value());
    }
    if (k.contains("role")) {
      auto role = r.string_field(k, "role", base + ".role");
      if (!role) return role.error();
      if (*role != "update" && *role != "admin") {
        return r.fail(base + ".role", "unknown role '" + *role +
                                          "' (use \"update\": records its policy allows, or \"admin\": every zone "
                                          "and the cluster's members)");
      }
      // An admin may change everything; a policy beside it would read as a limit it is not.
      if (*role == "admin" && key.policy) {
        return r.fail(base + ".role", "an \"admin\" key may change every zone and cannot have a \"policy\" "
                                      "(use \"role\": \"update\" for a key limited by its policy)");
      }
      key.role = *role;
    }
    r.warn_unknown(k, {"name", "algorithm", "secret", "policy", "role"}, base + ".");
    cfg.tsig_keys.push_back(std::move(key));
  }
  return {};
}

/// "tsig": site policy on TSIG algorithms. Read after "tsig_keys": a key
/// whose algorithm the policy refuses is an error naming the key.
util::Result<void> read_tsig_policy(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("tsig")) return {};
  const json& t = root.at("tsig");
  if (!t.is_object()) return r.fail("tsig", std::string("must be an object, not ") + type_name(t));
  if (t.contains("refuse_algorithms")) {
    const json& algs = t.at("refuse_algorithms");
    if (!algs.is_array()) {
      return r.fail("tsig.refuse_algorithms",
                    std::string("must be a list of algorithms such as [\"hmac-md5\"], not ") + type_name(algs));
    }
    for (size_t i = 0; i < algs.size(); ++i) {
      const std::string path = "tsig.refuse_algorithms[" + std::to_string(i) + "]";
      if (!algs[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(algs[i]));
      auto alg = dns::tsig::algorithm_from_text(algs[i].get<std::string>());
      if (!alg) {
        return r.fail(path, "unknown algorithm '" + algs[i].get<std::string>() +
                                "' (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)");
      }
      cfg.tsig_refuse_algorithms.emplace_back(dns::tsig::algorithm_text(*alg));
    }
  }
  r.warn_unknown(t, {"refuse_algorithms"}, "tsig.");
  for (size_t i = 0; i < cfg.tsig_keys.size(); ++i) {
    auto alg = dns::tsig::algorithm_from_text(cfg.tsig_keys[i].algorithm);
    for (const std::string& refused : cfg.tsig_refuse_algorithms) {
      if (alg && dns::tsig::algorithm_text(*alg) == refused) {
        return r.fail("tsig_keys[" + std::to_string(i) + "].algorithm",
                      "key '" + cfg.tsig_keys[i].name + "' uses " + refused +
                          ", which tsig.refuse_algorithms forbids (give the key another algorithm, or allow it)");
      }
    }
  }
  return {};
}

/// The top-level "http" object (see HttpConfig).
util::Result<void> read_http(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("http")) return {};
  const json& h = root.at("http");
  if (!h.is_object()) return r.fail("http", std::string("must be an object, not ") + type_name(h));
  if (h.contains("tls")) {
    const json& t = h.at("tls");
    if (!t.is_object()) {
      return r.fail("http.tls", std::string("must be an object {\"cert\": path, \"key\": path}, not ") + type_name(t));
    }
    for (const char* field : {"cert", "key"}) {
      const std::string path = std::string("http.tls.") + field;
      if (!t.contains(field)) {
        return r.fail(path, std::string("missing (the path of a PEM ") +
                                (field == std::string("cert") ? "certificate chain" : "private key") + " file)");
      }
      auto v = r.string_field(t, field, path);
      if (!v) return v.error();
      if (v->empty()) return r.fail(path, "must not be empty");
      (field == std::string("cert") ? cfg.http.tls_cert : cfg.http.tls_key) = *v;
    }
    r.warn_unknown(t, {"cert", "key"}, "http.tls.");
  }
  if (h.contains("open_reads_from")) {
    const json& nets = h.at("open_reads_from");
    if (!nets.is_array()) {
      return r.fail("http.open_reads_from",
                    std::string("must be a list of networks such as [\"127.0.0.0/8\"], not ") + type_name(nets));
    }
    cfg.http.open_reads_from.clear();
    for (size_t i = 0; i < nets.size(); ++i) {
      std::string path = "http.open_reads_from[" + std::to_string(i) + "]";
      if (!nets[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(nets[i]));
      auto net = server::Network::parse(nets[i].get<std::string>());
      if (!net) return r.fail(path, net.error().message);
      cfg.http.open_reads_from.push_back(nets[i].get<std::string>());
    }
  }
  r.warn_unknown(h, {"tls", "open_reads_from"}, "http.");
  return {};
}

util::Result<void> read_tcp(const Reader& r, const json& root, Config& cfg) {
  if (!root.contains("tcp")) return {};
  const json& t = root.at("tcp");
  if (!t.is_object()) return r.fail("tcp", std::string("must be an object, not ") + type_name(t));
  struct U32 {
    const char* key;
    uint32_t* dst;
    uint64_t min, max;
  };
  for (const U32& f : {U32{"idle_timeout_ms", &cfg.tcp.idle_timeout_ms, 1, 3600000},
                       U32{"max_connections", &cfg.tcp.max_connections, 1, 1000000},
                       U32{"max_buffered_output", &cfg.tcp.max_buffered_output, 65537, 1u << 30},
                       U32{"message_timeout_ms", &cfg.tcp.message_timeout_ms, 1, 3600000}}) {
    if (!t.contains(f.key)) continue;
    auto v = r.uint_field(t, f.key, std::string("tcp.") + f.key, f.min, f.max);
    if (!v) return v.error();
    *f.dst = static_cast<uint32_t>(*v);
  }
  r.warn_unknown(t, {"idle_timeout_ms", "max_connections", "max_buffered_output", "message_timeout_ms"}, "tcp.");
  return {};
}

/// A domain name field: absolute, returned in presentation form with the dot.
util::Result<std::string> read_domain(const Reader& r, const json& obj, const std::string& key, const std::string& path) {
  auto text = r.string_field(obj, key, path);
  if (!text) return text.error();
  auto name = dns::Name::from_text(*text);
  if (text->empty() || !name) {
    return r.fail(path, "'" + *text + "' is not a domain name" + (name ? std::string() : ": " + name.error().message));
  }
  return name->to_text();
}

/// The fields of a "transfer" object, or of a zone's entry, into `t`.
util::Result<void> read_transfer_fields(const Reader& r, const json& obj, const std::string& base, bool per_zone,
                                        const Config& cfg, TransferConfig& t) {
  auto key_known = [&cfg](const std::string& name) {
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (s.empty() || s.back() != '.') s += '.';
      return s;
    };
    for (const TsigKey& k : cfg.tsig_keys) {
      if (lower(k.name) == lower(name)) return true;
    }
    return false;
  };
  if (obj.contains("allow")) {
    const json& nets = obj.at("allow");
    if (!nets.is_array()) return r.fail(base + "allow", std::string("must be a list of networks such as [\"192.0.2.0/24\"], not ") + type_name(nets));
    t.allow.emplace();
    for (size_t i = 0; i < nets.size(); ++i) {
      std::string path = base + "allow[" + std::to_string(i) + "]";
      if (!nets[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(nets[i]));
      auto net = server::Network::parse(nets[i].get<std::string>());
      if (!net) return r.fail(path, net.error().message);
      t.allow->push_back(nets[i].get<std::string>());
    }
  }
  if (obj.contains("keys")) {
    const json& keys = obj.at("keys");
    if (!keys.is_array()) return r.fail(base + "keys", std::string("must be a list of TSIG key names, not ") + type_name(keys));
    t.keys.emplace();
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string path = base + "keys[" + std::to_string(i) + "]";
      if (!keys[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(keys[i]));
      std::string k = keys[i].get<std::string>();
      auto name = dns::Name::from_text(k);
      if (!name || !key_known(k)) return r.fail(path, "no key '" + k + "' in tsig_keys");
      t.keys->push_back(name->to_text());
    }
  }
  auto read_endpoints = [&](const char* field, std::vector<Endpoint>& out) -> util::Result<void> {
    const json& list = obj.at(field);
    if (!list.is_array()) return r.fail(base + field, std::string("must be a list of addresses such as [\"192.0.2.53:53\"], not ") + type_name(list));
    for (size_t i = 0; i < list.size(); ++i) {
      std::string path = base + field + "[" + std::to_string(i) + "]";
      if (!list[i].is_string()) return r.fail(path, std::string("must be a string, not ") + type_name(list[i]));
      auto ep = parse_endpoint(list[i].get<std::string>());
      if (!ep) return r.fail(path, ep.error().message);
      out.push_back(*ep);
    }
    return {};
  };
  if (obj.contains("notify")) {
    t.notify.emplace();
    if (auto e = read_endpoints("notify", *t.notify); !e) return e.error();
  }
  if (obj.contains("also_notify")) {
    if (!per_zone) return r.fail(base + "also_notify", "only in a zone's entry (at the top level, use \"notify\")");
    if (auto e = read_endpoints("also_notify", t.also_notify); !e) return e.error();
  }
  if (obj.contains("notify_key")) {
    auto k = r.string_field(obj, "notify_key", base + "notify_key");
    if (!k) return k.error();
    auto name = dns::Name::from_text(*k);
    if (!name || !key_known(*k)) return r.fail(base + "notify_key", "no key '" + *k + "' in tsig_keys");
    t.notify_key = name->to_text();
  }
  return {};
}

/// A zone's "dnssec": {"policy": "online", "algorithm": "ed25519", ...}.
util::Result<void> read_dnssec_policy(const Reader& r, const json& entry, const std::string& base, ZoneConfig& z) {
  if (entry.contains("dnssec")) {
    const json& d = entry.at("dnssec");
    const std::string path = base + ".dnssec";
    if (!d.is_object()) return r.fail(path, std::string("must be an object, not ") + type_name(d));
    if (!d.contains("policy")) return r.fail(path + ".policy", "missing (\"online\")");
    auto policy = r.string_field(d, "policy", path + ".policy");
    if (!policy) return policy.error();
    if (*policy != "online") return r.fail(path + ".policy", "unknown policy '" + *policy + "' (use \"online\")");
    DnssecPolicy p;
    if (d.contains("algorithm")) {
      auto alg = r.string_field(d, "algorithm", path + ".algorithm");
      if (!alg) return alg.error();
      std::string lower = *alg;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "ecdsap256sha256") {
        p.algorithm = 13;
      } else if (lower == "ed25519") {
        p.algorithm = 15;
      } else {
        return r.fail(path + ".algorithm", "unknown algorithm '" + *alg + "' (use \"ecdsap256sha256\" or \"ed25519\")");
      }
    }
    if (d.contains("zsk_lifetime")) {
      auto v = r.uint_field(d, "zsk_lifetime", path + ".zsk_lifetime", 10, 10u * 365 * 86400);
      if (!v) return v.error();
      p.zsk_lifetime = static_cast<uint32_t>(*v);
    }
    if (d.contains("roll_wait")) {
      auto v = r.uint_field(d, "roll_wait", path + ".roll_wait", 1, 30 * 86400);
      if (!v) return v.error();
      p.roll_wait = static_cast<uint32_t>(*v);
    }
    if (d.contains("ksk_lifetime")) {
      auto v = r.uint_field(d, "ksk_lifetime", path + ".ksk_lifetime", 0, 20u * 365 * 86400);
      if (!v) return v.error();
      p.ksk_lifetime = static_cast<uint32_t>(*v);
    }
    r.warn_unknown(d, {"policy", "algorithm", "zsk_lifetime", "roll_wait", "ksk_lifetime"}, path + ".");
    z.dnssec = p;
  }
  return {};
}

/// "transfer", "zones", "catalog" and "journal".
util::Result<void> read_transfers(const Reader& r, const json& root, Config& cfg) {
  if (root.contains("transfer")) {
    const json& t = root.at("transfer");
    if (!t.is_object()) return r.fail("transfer", std::string("must be an object, not ") + type_name(t));
    if (auto e = read_transfer_fields(r, t, "transfer.", false, cfg, cfg.transfer); !e) return e.error();
    r.warn_unknown(t, {"allow", "keys", "notify", "notify_key"}, "transfer.");
  }
  if (root.contains("zones")) {
    const json& zones = root.at("zones");
    if (!zones.is_object()) {
      return r.fail("zones", std::string("must be an object keyed by zone name, e.g. {\"example.com.\": {\"serial_policy\": \"unixtime\"}}, not ") + type_name(zones));
    }
    for (const auto& [zone_text, entry] : zones.items()) {
      std::string base = "zones.\"" + zone_text + "\"";
      auto apex = dns::Name::from_text(zone_text);
      if (zone_text.empty() || !apex) {
        return r.fail(base, "'" + zone_text + "' is not a domain name" + (apex ? std::string() : ": " + apex.error().message));
      }
      if (!entry.is_object()) return r.fail(base, std::string("must be an object, not ") + type_name(entry));
      ZoneConfig z;
      z.name = apex->to_text();
      if (auto e = read_transfer_fields(r, entry, base + ".", true, cfg, z.transfer); !e) return e.error();
      if (entry.contains("serial_policy")) {
        auto p = r.string_field(entry, "serial_policy", base + ".serial_policy");
        if (!p) return p.error();
        if (*p != "increment" && *p != "unixtime" && *p != "dateserial") {
          return r.fail(base + ".serial_policy", "unknown policy '" + *p + "' (use \"increment\", \"unixtime\" or \"dateserial\")");
        }
        z.serial_policy = *p;
      }
      if (auto d = read_dnssec_policy(r, entry, base, z); !d) return d.error();
      if (entry.contains("primary")) {
        auto text = r.string_field(entry, "primary", base + ".primary");
        if (!text) return text.error();
        auto ep = parse_endpoint(*text);
        if (!ep) return r.fail(base + ".primary", ep.error().message);
        if (ep->host == "0.0.0.0" || ep->host == "::") {
          return r.fail(base + ".primary", "'" + *text + "' is not the address of a primary (give the address it answers on)");
        }
        z.primary = *ep;
        if (z.dnssec) {
          return r.fail(base + ".dnssec", "a zone copied from a primary is served as the primary signs it; remove \"dnssec\" or \"primary\"");
        }
        if (z.serial_policy) {
          return r.fail(base + ".serial_policy", "a zone copied from a primary keeps the primary's serials; remove \"serial_policy\" or \"primary\"");
        }
      }
      if (entry.contains("primary_key")) {
        if (!z.primary) return r.fail(base + ".primary_key", "needs \"primary\": the key signs the exchanges with that primary");
        auto k = r.string_field(entry, "primary_key", base + ".primary_key");
        if (!k) return k.error();
        auto name = dns::Name::from_text(*k);
        bool known = false;
        for (const TsigKey& key : cfg.tsig_keys) {
          auto key_name = dns::Name::from_text(key.name);
          known = known || (name && key_name && *key_name == *name);
        }
        if (k->empty() || !name || !known) return r.fail(base + ".primary_key", "no key '" + *k + "' in tsig_keys");
        z.primary_key = name->to_text();
      }
      r.warn_unknown(entry, {"allow", "keys", "notify", "also_notify", "notify_key", "serial_policy", "dnssec", "primary", "primary_key"},
                     base + ".");
      std::string key = apex->lowercased().to_text();
      if (cfg.zones.count(key)) return r.fail(base, "the zone " + z.name + " is listed twice");
      cfg.zones.emplace(std::move(key), std::move(z));
    }
  }
  if (root.contains("catalog")) {
    auto c = read_domain(r, root, "catalog", "catalog");
    if (!c) return c.error();
    if (*c == ".") return r.fail("catalog", "the root cannot be a catalog zone");
    cfg.catalog = *c;
    auto secondary = cfg.zones.find(dns::Name::from_text(*c)->lowercased().to_text());
    if (secondary != cfg.zones.end() && secondary->second.primary) {
      return r.fail("catalog", "the catalog zone " + *c + " is made by the cluster; it cannot also be copied from a primary (zones.\"" + secondary->second.name + "\".primary)");
    }
  }
  if (root.contains("journal")) {
    const json& j = root.at("journal");
    if (!j.is_object()) return r.fail("journal", std::string("must be an object, not ") + type_name(j));
    if (j.contains("max_entries")) {
      auto v = r.uint_field(j, "max_entries", "journal.max_entries", 1, 1000000);
      if (!v) return v.error();
      cfg.journal.max_entries = *v;
    }
    if (j.contains("max_bytes")) {
      auto v = r.uint_field(j, "max_bytes", "journal.max_bytes", 1024, 1ull << 36);
      if (!v) return v.error();
      cfg.journal.max_bytes = *v;
    }
    r.warn_unknown(j, {"max_entries", "max_bytes"}, "journal.");
  }
  return {};
}

}  // namespace

std::string Endpoint::to_string() const {
  return ipv6 ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

util::Result<Endpoint> parse_endpoint(std::string_view text) {
  std::string t(text);
  Endpoint ep;
  std::string port_text;
  if (!t.empty() && t[0] == '[') {
    size_t close = t.find(']');
    if (close == std::string::npos) return util::make_error("address '" + t + "' has '[' without ']'");
    ep.host = t.substr(1, close - 1);
    ep.ipv6 = true;
    if (close + 1 >= t.size() || t[close + 1] != ':') {
      return util::make_error("address '" + t + "' has no port (write \"[::1]:10053\")");
    }
    port_text = t.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, ep.host.c_str(), &a6) != 1) {
      return util::make_error("'" + ep.host + "' in '" + t + "' is not an IPv6 address");
    }
  } else {
    size_t colon = t.rfind(':');
    if (colon == std::string::npos) {
      return util::make_error("address '" + t + "' has no port (write \"127.0.0.1:10053\")");
    }
    if (t.find(':') != colon) {
      return util::make_error("address '" + t + "': write IPv6 addresses in brackets, e.g. \"[::1]:10053\"");
    }
    ep.host = t.substr(0, colon);
    port_text = t.substr(colon + 1);
    if (ep.host == "localhost") ep.host = "127.0.0.1";
    in_addr a4{};
    if (ep.host.empty() || inet_pton(AF_INET, ep.host.c_str(), &a4) != 1) {
      return util::make_error("'" + ep.host + "' in '" + t + "' is not an IPv4 address (use an IP literal)");
    }
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return util::make_error("bad port '" + port_text + "' in '" + t + "' (must be 1-65535)");
  }
  ep.port = static_cast<uint16_t>(port);
  return ep;
}

util::Result<const NodeConfig*> Config::node(std::string_view id) const {
  auto it = nodes.find(std::string(id));
  if (it != nodes.end()) return &it->second;
  std::string known;
  for (const auto& [k, v] : nodes) known += (known.empty() ? "" : ", ") + k;
  return util::make_error("node \"" + std::string(id) + "\" is not in the configuration (nodes: " + known + ")");
}

util::Result<Config> parse_config(std::string_view text, const std::string& source) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // Report the position as line:column, as an editor shows it.
    size_t line = 1, col = 1;
    size_t upto = e.byte > 0 ? std::min<size_t>(e.byte - 1, text.size()) : 0;
    for (size_t i = 0; i < upto; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    size_t reason = what.find(": ", what.find("parse error"));
    std::string detail = reason == std::string::npos ? what : what.substr(reason + 2);
    return util::make_error(source + ":" + std::to_string(line) + ":" + std::to_string(col) +
                            ": not valid JSON: " + detail);
  }
  Reader r{source, nullptr};
  Config cfg;
  r.warnings = &cfg.warnings;
  if (!root.is_object()) {
    return util::make_error(source + ": the top level must be an object with \"nodes\", not " + type_name(root));
  }
  if (auto n = read_nodes(r, root, cfg); !n) return n.error();
  if (auto c = read_cluster(r, root, cfg); !c) return c.error();
  if (auto k = read_tsig_keys(r, root, cfg); !k) return k.error();
  if (auto t = read_tcp(r, root, cfg); !t) return t.error();
  if (auto u = read_update(r, root, cfg); !u) return u.error();
  if (auto h = read_http(r, root, cfg); !h) return h.error();
  if (root.contains("rrl")) {
    auto rrl = server::parse_rrl_options(root.at("rrl"));
    if (!rrl) return util::make_error(r.source + ": " + rrl.error().message);
    cfg.rrl = *rrl;
  }
  if (root.contains("udp_threads")) {
    auto v = r.uint_field(root, "udp_threads", "udp_threads", 0, 256);
    if (!v) return v.error();
    cfg.udp_threads = static_cast<uint32_t>(*v);
  }
  if (auto t = read_tsig_policy(r, root, cfg); !t) return t.error();
  if (root.contains("max_udp_payload")) {
    // 512: the classic limit every client takes (RFC 1035 §4.2.1); 4096:
    // BIND's ceiling, beyond which answers fragment on most paths.
    auto v = r.uint_field(root, "max_udp_payload", "max_udp_payload", 512, 4096);
    if (!v) return v.error();
    cfg.max_udp_payload = static_cast<uint16_t>(*v);
  }
  if (auto x = read_transfers(r, root, cfg); !x) return x.error();
  r.warn_unknown(root, {"nodes", "cluster", "tsig_keys", "tcp", "udp_threads", "update", "rrl", "max_udp_payload",
                        "tsig", "http", "transfer", "zones", "catalog", "journal"}, "");
  return cfg;
}

util::Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::make_error(path + ": cannot read the configuration file: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  auto cfg = parse_config(ss.str(), path);
  if (cfg && cfg->cluster.tls) {
    // Relative paths are relative to the configuration file, wherever the
    // node was started from.
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (std::string* p : {&cfg->cluster.tls->ca, &cfg->cluster.tls->cert, &cfg->cluster.tls->key}) {
      if (std::filesystem::path(*p).is_relative()) *p = (dir / *p).string();
    }
  }
  return cfg;
}

ClusterTlsConfig ClusterTlsConfig::for_node(const std::string& node_id) const {
  auto expand = [&](std::string p) {
    for (std::size_t at = p.find("{id}"); at != std::string::npos; at = p.find("{id}", at + node_id.size())) {
      p.replace(at, 4, node_id);
    }
    return p;
  };
  return {expand(ca), expand(cert), expand(key)};
}

}  // namespace node
