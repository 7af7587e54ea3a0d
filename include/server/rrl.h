// Response rate limiting (RRL) for DNS over UDP, in the manner of BIND, NSD
// and Knot: a token bucket per client network and response kind, so one
// source (or a spoofed victim) cannot draw an unbounded stream of answers.
#pragma once

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/network.h"
#include "util/result.h"

namespace server {

/// RRL settings, the config's `"rrl"` object. On by default; off when
/// responses_per_second is 0.
struct RrlOptions {
  /// The default rate: Knot's mod-rrl default (100 per second) and half
  /// NSD's (200). BIND suggests 5 to 20, but per (network, name, type):
  /// our buckets count every name and type of a kind together, so a
  /// resolver farm behind one /24 needs more.
  static constexpr uint32_t kDefaultResponsesPerSecond = 100;

  /// Answers per second one client network may receive for one response
  /// kind; 0 turns RRL off.
  uint32_t responses_per_second = kDefaultResponsesPerSecond;
  /// Every slip-th limited response is sent truncated (TC=1, no records)
  /// instead of dropped, so a real client behind a flooded prefix can retry
  /// over TCP; 0: always drop, 1: always truncate.
  uint32_t slip = 2;
  /// Seconds over which a flood is remembered: a bucket may fall this many
  /// seconds' worth of responses into debt, so a source that keeps flooding
  /// stays limited rather than getting a fresh burst every second.
  uint32_t window = 15;
  /// Client addresses are grouped by these prefixes (a /24 is one network).
  uint8_t ipv4_prefix = 24;
  uint8_t ipv6_prefix = 56;
  /// Buckets remembered; when the table is full the least recently used
  /// bucket is forgotten (a bucket idle for a window is full again anyway).
  uint32_t table_size = 262144;
  /// Clients never limited (BIND's exempt-clients, Knot's whitelist): a
  /// monitoring host, a benchmark's load generator. Source addresses of UDP
  /// can be spoofed, so an exempt network can be made a reflector for
  /// anyone who can forge its addresses; list only networks whose addresses
  /// cannot be forged on the way to the server.
  std::vector<Network> exempt_clients;

  bool enabled() const { return responses_per_second > 0; }
};

/// Reads the `"rrl"` object (absent or null: the defaults above). Errors
/// name the field: "rrl.slip: must be a whole number from 0 to 10".
util::Result<RrlOptions> parse_rrl_options(const nlohmann::json& rrl);

/// Response kinds limited separately: a flood of NXDOMAIN does not use up the
/// budget of real answers to the same network.
enum class RrlKind : uint8_t { Answer = 0, NoData = 1, NxDomain = 2, Error = 3 };

/// The kind of a wire-format response (rcode and answer count).
RrlKind classify_response(const uint8_t* response, size_t len);

/// What to do with one response.
enum class RrlAction : uint8_t { Send, Drop, Slip };

/// Token buckets keyed by (client network, response kind). Thread-safe: UDP
/// workers share one limiter, sharded to keep lock contention low.
class ResponseRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ResponseRateLimiter(RrlOptions options);

  /// Decides for one response to `client` of `kind`, at time `now`.
  RrlAction check(const sockaddr* client, RrlKind kind, Clock::time_point now);
  RrlAction check(const sockaddr* client, RrlKind kind) { return check(client, kind, Clock::now()); }

  /// Counters since start: responses dropped and sent truncated.
  uint64_t dropped() const;
  uint64_t slipped() const;
  /// Buckets held now.
  size_t size() const;

  const RrlOptions& options() const { return options_; }

 private:
  /// A bucket's identity: kind, family, the address masked to its prefix.
  struct Key {
    uint8_t bytes[18] = {};
    bool operator==(const Key& o) const;
  };
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Bucket {
    Key key;
    uint64_t hash = 0;
    double tokens = 0;           // may go negative, down to -window * rate
    Clock::time_point updated;
    uint32_t limited = 0;        // limited responses so far, for slip
    uint32_t newer = kNone, older = kNone;  // the recency list
  };
  /// One lock's worth of buckets: a table with linear probing over an
  /// array that grows up to its share of table_size, and a list from the
  /// most to the least recently used bucket, whose tail is reused when full.
  /// Nothing is allocated once the table is at its size.
  struct Shard {
    std::mutex mu;
    std::vector<Bucket> buckets;
    std::vector<uint32_t> slots;  // bucket index + 1; 0 = empty
    uint32_t newest = kNone, oldest = kNone;
    uint64_t dropped = 0;
    uint64_t slipped = 0;
  };
  static constexpr size_t kShards = 16;

  Key key_of(const sockaddr* client, RrlKind kind) const;
  uint64_t hash_of(const Key& key) const;
  bool exempt(const sockaddr* client) const;
  Bucket& find_or_add(Shard& shard, const Key& key, uint64_t hash, Clock::time_point now);
  void unlink(Shard& shard, uint32_t i);
  void push_newest(Shard& shard, uint32_t i);
  void erase_slot(Shard& shard, size_t slot);
  void rebuild_slots(Shard& shard, size_t size);

  RrlOptions options_;
  std::array<uint8_t, 20> masks_{};  // per octet: the IPv4 prefix's four, then the IPv6 prefix's sixteen
  size_t per_shard_;  // most buckets a shard holds
  uint64_t seed_;     // keeps the hash, hence shards and probe chains, unpredictable
  mutable std::array<Shard, kShards> shards_;  // mutable: the counters are read under the locks
};

/// Rewrites the response in `buf[0..len)` in place into its truncated form:
/// header and question only, TC set (RFC 1035 §4.1.1). Returns the new
/// length, or 0 if the question cannot be found (then drop it).
size_t truncate_response(uint8_t* buf, size_t len);

}  // namespace server
