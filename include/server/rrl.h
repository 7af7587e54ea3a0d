// Response rate limiting (RRL) for DNS over UDP, in the manner of BIND, NSD
// and Knot: a token bucket per client network and response kind, so one
// source (or a spoofed victim) cannot draw an unbounded stream of answers.
#pragma once

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <nlohmann/json_fwd.hpp>

#include "util/result.h"

namespace server {

/// RRL settings, the config's `"rrl"` object. Off unless responses_per_second > 0.
struct RrlOptions {
  /// Answers per second one client network may receive for one response
  /// kind; 0 turns RRL off.
  uint32_t responses_per_second = 0;
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

  bool enabled() const { return responses_per_second > 0; }
};

/// Reads the `"rrl"` object (absent or null: RRL off). Errors name the field:
/// "rrl.slip: must be a whole number from 0 to 10".
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

  const RrlOptions& options() const { return options_; }

 private:
  struct Bucket {
    double tokens = 0;           // may go negative, down to -window * rate
    Clock::time_point updated;
    uint32_t limited = 0;        // limited responses so far, for slip
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
    uint64_t dropped = 0;
    uint64_t slipped = 0;
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxBucketsPerShard = 16384;  // beyond this, idle buckets are forgotten

  std::string key_of(const sockaddr* client, RrlKind kind) const;
  void forget_idle(Shard& shard, Clock::time_point now);

  RrlOptions options_;
  mutable std::array<Shard, kShards> shards_;  // mutable: the counters are read under the locks
};

/// Rewrites the response in `buf[0..len)` in place into its truncated form:
/// header and question only, TC set (RFC 1035 §4.1.1). Returns the new
/// length, or 0 if the question cannot be found (then drop it).
size_t truncate_response(uint8_t* buf, size_t len);

}  // namespace server
