// The cluster configuration file (dns-config.json): nodes and their
// addresses, cluster settings, TSIG keys and listener limits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/rrl.h"
#include "util/result.h"

namespace node {

/// An IP literal and a port: "127.0.0.1:10053" or "[::1]:10053".
struct Endpoint {
  std::string host;  // IP literal without brackets ("127.0.0.1", "::1")
  uint16_t port = 0;
  bool ipv6 = false;

  /// "127.0.0.1:10053" or "[::1]:10053", the form the config uses.
  std::string to_string() const;
  bool operator==(const Endpoint& o) const { return host == o.host && port == o.port; }
};

/// Parses "host:port". The host is an IPv4 literal, a bracketed IPv6 literal
/// or "localhost" (taken as 127.0.0.1); the port is 1-65535.
util::Result<Endpoint> parse_endpoint(std::string_view text);

/// One node of the cluster, keyed by its id in "nodes".
struct NodeConfig {
  std::string id;                 // "0", "1", ... as written in the file
  uint32_t numeric_id = 0;        // the same id as a number (origin of changes)
  Endpoint query;                 // DNS over UDP and TCP
  Endpoint raft;                  // peer traffic
  std::optional<Endpoint> http;   // HTTP API and metrics, when configured
};

/// Certificate mode of the peer links ("cluster": {"tls": {...}}): PEM
/// files. "{id}" in a path stands for the node's id, so that nodes sharing
/// one file on one machine each find their own; relative paths are taken
/// from the directory of the configuration file.
struct ClusterTlsConfig {
  std::string ca;    // the cluster CA that signs every node's certificate
  std::string cert;  // this node's certificate, naming "dns-node-<id>"
  std::string key;   // its private key

  /// The paths with "{id}" replaced by `node_id`.
  ClusterTlsConfig for_node(const std::string& node_id) const;
};

/// Settings shared by every node of the cluster ("cluster" object).
struct ClusterConfig {
  std::string secret;                  // peer links' shared secret (TLS PSK); empty = none given
  std::optional<ClusterTlsConfig> tls; // peer links' certificates; when set, they authenticate peers
  uint32_t propose_timeout_ms = 3000;  // how long a change waits for commit
  uint64_t prune_lag_entries = 10000;  // log entries kept for a lagging node
  uint64_t checkpoint_every_entries = 1000;  // applied entries between two checkpoints
  uint64_t wal_segment_bytes = 8u << 20;     // log segment size; compaction drops whole segments
  uint32_t heartbeat_ms = 100;
  uint32_t election_timeout_ms = 1000;
  nlohmann::json raw = nlohmann::json::object();  // the whole object, for settings added later
};

/// One rule of a TSIG key's update policy (in the spirit of BIND's
/// update-policy), an entry of the key's "policy" list:
///   {"grant": "subdomain", "name": "dyn.example.com.", "types": ["A", "AAAA"]}
///       the name and every name below it
///   {"grant": "name", "name": "host.example.com."}   exactly that name
///   {"grant": "self", "types": ["A", "AAAA"]}        exactly the key's own name
/// "types" absent, or ["ANY"], allows every type. An update is allowed when
/// every record it changes matches some rule; otherwise it is REFUSED.
struct UpdatePolicyRule {
  std::string grant;               // "subdomain", "name" or "self"
  std::string name;                // absolute, with the trailing dot; empty for "self"
  std::vector<std::string> types;  // upper-case mnemonics; empty = every type
};

/// A TSIG key (RFC 8945) for UPDATE and transfers.
struct TsigKey {
  std::string name;                      // key name, e.g. "update-key."
  std::string algorithm = "hmac-sha256"; // hmac-md5, hmac-sha1, hmac-sha224/256/384/512
  std::string secret;                    // base64, as in BIND's key statements
  /// The key's "policy" list; absent = the key may update every zone.
  std::optional<std::vector<UpdatePolicyRule>> policy;
  /// What the key may do on the HTTP API ("role"): "update" (change records
  /// its policy allows), "admin" (every zone and the cluster's members), or
  /// "" when absent (read only). RFC 2136 UPDATE follows the policy alone.
  std::string role;
};

/// RFC 2136 UPDATE settings (top-level "update" object):
///   "update": {"allow_unsigned_from": ["127.0.0.0/8", "::1/128"]}
/// Unsigned updates are REFUSED unless they come from one of these networks.
struct UpdateConfig {
  std::vector<std::string> allow_unsigned_from;  // "addr/len" or a bare address
};

/// The HTTP API's settings (top-level "http" object):
///   "http": {"tls": {"cert": "/etc/dns-node/http.pem", "key": "/etc/dns-node/http.key"},
///            "open_reads_from": ["127.0.0.0/8", "::1/128"]}
struct HttpConfig {
  std::string tls_cert;  // PEM certificate chain; with tls_key, http_loc speaks HTTPS only
  std::string tls_key;   // PEM private key of tls_cert
  /// Networks whose requests may read without a key (/health, /metrics, the
  /// status page, record listings); "addr/len" or a bare address.
  std::vector<std::string> open_reads_from = {"127.0.0.0/8", "::1/128"};
};

/// DNS over TCP limits (RFC 7766 §6.2.3 leaves them to the operator).
struct TcpConfig {
  uint32_t idle_timeout_ms = 10000;
  uint32_t max_connections = 1000;
  uint32_t max_buffered_output = 256 * 1024;  // bytes queued per connection before reading pauses
  uint32_t message_timeout_ms = 5000;  // from a message's first byte to its last, or the connection is closed
};

/// Zone transfer settings (RFC 5936 AXFR, RFC 1995 IXFR, RFC 1996 NOTIFY):
/// the top-level "transfer" object applies to every zone; a zone's entry in
/// "zones" overrides each field it gives.
///   "transfer": {"allow": ["192.0.2.0/24"], "keys": ["xfr-key."],
///                "notify": ["192.0.2.53:53"], "notify_key": "xfr-key."}
/// A transfer is allowed when its source is in "allow" (when given) and it is
/// signed with one of "keys" (when given); with neither, it is refused.
struct TransferConfig {
  std::optional<std::vector<std::string>> allow;  // networks ("addr/len" or an address)
  std::optional<std::vector<std::string>> keys;   // TSIG key names, absolute
  std::optional<std::vector<Endpoint>> notify;    // secondaries sent NOTIFY after each change
  std::vector<Endpoint> also_notify;              // notified besides "notify" (per zone only)
  std::optional<std::string> notify_key;          // TSIG key that signs NOTIFY messages
};

/// A zone's DNSSEC policy: "dnssec": {"policy": "online", "algorithm": ...}.
/// The cluster makes the zone's keys once and every node signs at query time
/// (docs/dnssec.md).
struct DnssecPolicy {
  /// "ecdsap256sha256" (13, the default) or "ed25519" (15).
  uint8_t algorithm = 13;
  /// "zsk_lifetime": seconds a zone-signing key signs before it is rolled.
  uint32_t zsk_lifetime = 30 * 86400;
  /// "roll_wait": seconds a new ZSK is published before it signs, and an old
  /// one kept after; 0 (the default): the DNSKEY TTL plus ten minutes.
  uint32_t roll_wait = 0;
  /// "ksk_lifetime": seconds a key-signing key serves before the cluster
  /// starts its roll by itself; 0 (the default): only the KSK ROLL command does.
  uint32_t ksk_lifetime = 0;
};

/// One entry of "zones": {"example.com.": {...}}.
struct ZoneConfig {
  std::string name;                          // the apex, absolute ("example.com.")
  TransferConfig transfer;                   // fields given here override "transfer"
  std::optional<std::string> serial_policy;  // "increment" (default), "unixtime", "dateserial"
  std::optional<DnssecPolicy> dnssec;        // "dnssec": signed online by the cluster
  /// "primary": the outside primary the cluster copies this zone from (the
  /// cluster is then its secondary: docs/config.md); "primary_key": the TSIG
  /// key (a name in tsig_keys, absolute) that signs the exchanges with it.
  std::optional<Endpoint> primary;
  std::optional<std::string> primary_key;
};

/// How much IXFR journal each zone keeps on this node ("journal" object).
struct JournalConfig {
  uint64_t max_entries = 1000;
  uint64_t max_bytes = 16u << 20;
};

/// The whole configuration file.
struct Config {
  std::map<std::string, NodeConfig> nodes;
  ClusterConfig cluster;
  std::vector<TsigKey> tsig_keys;
  TcpConfig tcp;
  UpdateConfig update;
  server::RrlOptions rrl;    // "rrl": response rate limiting over UDP; on by default
  HttpConfig http;           // "http": HTTPS and who may read without a key
  uint32_t udp_threads = 0;  // 0 = one per usable CPU (affinity, cgroup quota; at most 8)
  TransferConfig transfer;                  // "transfer": for every zone
  std::map<std::string, ZoneConfig> zones;  // "zones", by lower-cased apex text
  std::optional<std::string> catalog;       // "catalog": the RFC 9432 catalog zone's name
  JournalConfig journal;                    // "journal"
  /// "max_udp_payload": the largest UDP answer whatever EDNS size a client
  /// advertises (512-4096); larger answers are sent truncated (TC).
  uint16_t max_udp_payload = 1232;
  /// "tsig": {"refuse_algorithms": [...]}: TSIG algorithms a site policy
  /// forbids (e.g. "hmac-md5"); a key using one stops the node at start.
  std::vector<std::string> tsig_refuse_algorithms;
  /// Keys the reader did not recognise; logged at startup, not fatal, so an
  /// older binary can read a newer file.
  std::vector<std::string> warnings;

  /// The node with this id, or an error listing the known ids.
  util::Result<const NodeConfig*> node(std::string_view id) const;
};

/// Parses configuration text. `source` (the file name) prefixes every error:
/// "dns-config.json: nodes.\"1\".query_loc: bad port '99999' (must be 1-65535)".
util::Result<Config> parse_config(std::string_view text, const std::string& source);

/// Reads and parses a configuration file.
util::Result<Config> load_config(const std::string& path);

}  // namespace node
