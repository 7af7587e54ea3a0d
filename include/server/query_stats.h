// Query counters: one block per listener thread, written by that thread
// only, summed on demand (for logs and /metrics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "server/responder.h"

namespace server {

/// "NOERROR", "NXDOMAIN", ..., or "RCODE<n>".
std::string rcode_name(uint16_t rcode);

/// Counters of one thread. Single writer: increments are plain load+store
/// (no locked instruction on the query path); readers on other threads see
/// a value at most a few queries old.
class QueryCounters {
 public:
  static constexpr size_t kRcodeSlots = 24;  // rcodes 0-22 each, then "other"

  /// Counts one answered (or dropped, when response_len is 0) query.
  void count(const ResponseInfo& info, size_t response_len, bool over_tcp) {
    bump(over_tcp ? tcp_ : udp_);
    if (info.signed_query) bump(by_tsig_[tsig_slot(info.tsig_error)]);
    if (response_len == 0) {
      bump(dropped_);
      return;
    }
    bump(by_qtype_[qtype_slot(info.qtype)]);
    bump(by_rcode_[info.rcode < kRcodeSlots - 1 ? info.rcode : kRcodeSlots - 1]);
    if (info.truncated) bump(truncated_);
  }

  /// Counts one UDP answer response rate limiting dropped, or sent
  /// truncated instead (slipped).
  void count_rrl(bool slipped) { bump(slipped ? rrl_slipped_ : rrl_dropped_); }

  /// Outcomes of the TSIG check of signed queries counted by name (0 is a
  /// verified signature; RFC 8945 errors, and FORMERR); anything else is
  /// "other".
  static constexpr std::array<uint16_t, 6> kTsigOutcomes = {0, 1, 16, 17, 18, 22};
  static constexpr size_t kTsigSlots = kTsigOutcomes.size() + 1;
  static size_t tsig_slot(uint16_t error) {
    for (size_t i = 0; i < kTsigOutcomes.size(); ++i) {
      if (kTsigOutcomes[i] == error) return i;
    }
    return kTsigOutcomes.size();
  }

  /// Upper bounds (nanoseconds) of the latency histogram's buckets; a last
  /// bucket takes the rest.
  static constexpr std::array<uint64_t, 9> kLatencyBoundsNs = {10'000,    25'000,    50'000,     100'000,   250'000,
                                                                500'000, 1'000'000, 5'000'000, 25'000'000};
  static constexpr size_t kLatencySlots = kLatencyBoundsNs.size() + 1;

  /// Records `queries` answers that each took at most `ns` inside the server
  /// (the UDP path measures a whole recvmmsg batch and gives every query of
  /// it the batch's time). No lock, no allocation.
  void observe_latency(uint64_t ns, uint64_t queries = 1) {
    size_t slot = 0;
    while (slot < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[slot]) ++slot;
    add(latency_[slot], queries);
    add(latency_sum_ns_, ns * queries);
  }

  /// Query types counted by name; anything else is "other".
  static constexpr std::array<uint16_t, 13> kTypes = {1, 2, 5, 6, 12, 15, 16, 28, 33, 257, 255, 252, 251};
  static constexpr size_t kTypeSlots = kTypes.size() + 1;
  static size_t qtype_slot(uint16_t qtype) {
    for (size_t i = 0; i < kTypes.size(); ++i) {
      if (kTypes[i] == qtype) return i;
    }
    return kTypes.size();
  }

 private:
  friend class QueryStats;
  static void bump(std::atomic<uint64_t>& c) { add(c, 1); }
  static void add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<uint64_t> udp_{0}, tcp_{0}, dropped_{0}, truncated_{0};
  std::array<std::atomic<uint64_t>, kTypeSlots> by_qtype_{};
  std::array<std::atomic<uint64_t>, kRcodeSlots> by_rcode_{};
  std::array<std::atomic<uint64_t>, kLatencySlots> latency_{};
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::array<std::atomic<uint64_t>, kTsigSlots> by_tsig_{};
  std::atomic<uint64_t> rrl_dropped_{0}, rrl_slipped_{0};
};

/// Sums over every thread's counters.
struct QueryTotals {
  uint64_t udp = 0, tcp = 0, dropped = 0, truncated = 0;
  std::map<std::string, uint64_t> by_qtype;  // "A", "MX", ..., "other"; only non-zero
  std::map<std::string, uint64_t> by_rcode;  // "NOERROR", ...; only non-zero
  /// Latency histogram: per bucket of QueryCounters::kLatencyBoundsNs (not
  /// cumulative; the last slot is above every bound), and the sum.
  std::array<uint64_t, QueryCounters::kLatencySlots> latency{};
  uint64_t latency_sum_ns = 0;
  /// Signed queries by the outcome of their TSIG check: "verified",
  /// "BADSIG", "BADKEY", "BADTIME", "BADTRUNC", "FORMERR", "other"; only non-zero.
  std::map<std::string, uint64_t> signed_queries;
  uint64_t rrl_dropped = 0, rrl_slipped = 0;  // UDP answers RRL dropped, sent truncated
};

/// Owns the per-thread counter blocks; blocks never move once handed out.
class QueryStats {
 public:
  /// A fresh block for one thread.
  QueryCounters& add_thread();
  QueryTotals totals() const;

 private:
  mutable std::mutex mu_;
  std::deque<QueryCounters> threads_;
};

}  // namespace server
