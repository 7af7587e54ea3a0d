// Summing the per-thread query counters.
#include "server/query_stats.h"

#include "dns/rr.h"

namespace server {

std::string rcode_name(uint16_t rcode) {
  static const char* const kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                       "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",  "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == 16) return "BADVERS";
  return "RCODE" + std::to_string(rcode);
}

namespace {

std::string tsig_outcome_name(size_t slot) {
  if (slot >= QueryCounters::kTsigOutcomes.size()) return "other";
  switch (QueryCounters::kTsigOutcomes[slot]) {
    case 0: return "verified";
    case 1: return "FORMERR";
    case 16: return "BADSIG";
    case 17: return "BADKEY";
    case 18: return "BADTIME";
    case 22: return "BADTRUNC";
  }
  return "other";
}

}  // namespace

QueryCounters& QueryStats::add_thread() {
  std::lock_guard lock(mu_);
  return threads_.emplace_back();
}

QueryTotals QueryStats::totals() const {
  std::lock_guard lock(mu_);
  QueryTotals t;
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  for (const QueryCounters& c : threads_) {
    t.udp += get(c.udp_);
    t.tcp += get(c.tcp_);
    t.dropped += get(c.dropped_);
    t.truncated += get(c.truncated_);
    for (size_t i = 0; i < QueryCounters::kTypeSlots; ++i) {
      if (uint64_t n = get(c.by_qtype_[i])) {
        std::string name = i < QueryCounters::kTypes.size() ? dns::type_to_text(QueryCounters::kTypes[i]) : "other";
        t.by_qtype[name] += n;
      }
    }
    for (size_t i = 0; i < QueryCounters::kLatencySlots; ++i) t.latency[i] += get(c.latency_[i]);
    t.latency_sum_ns += get(c.latency_sum_ns_);
    for (size_t i = 0; i < QueryCounters::kTsigSlots; ++i) {
      if (uint64_t n = get(c.by_tsig_[i])) t.signed_queries[tsig_outcome_name(i)] += n;
    }
    t.rrl_dropped += get(c.rrl_dropped_);
    t.rrl_slipped += get(c.rrl_slipped_);
    for (size_t i = 0; i < QueryCounters::kRcodeSlots; ++i) {
      if (uint64_t n = get(c.by_rcode_[i])) {
        t.by_rcode[i + 1 < QueryCounters::kRcodeSlots ? rcode_name(static_cast<uint16_t>(i)) : "other"] += n;
      }
    }
  }
  return t;
}

}  // namespace server
