// Query counters: per-thread blocks summed by type and rcode.
#include "server/query_stats.h"

#include <gtest/gtest.h>

namespace server {
namespace {

TEST(QueryStats, SumsAcrossThreadsByTypeAndRcode) {
  QueryStats stats;
  QueryCounters& a = stats.add_thread();
  QueryCounters& b = stats.add_thread();
  a.count(ResponseInfo{1, 0, false}, 50, false);   // A NOERROR udp
  b.count(ResponseInfo{1, 3, false}, 50, true);    // A NXDOMAIN tcp
  b.count(ResponseInfo{15, 0, true}, 512, false);  // MX NOERROR truncated
  a.count(ResponseInfo{65280, 1, false}, 12, false);  // unnamed type FORMERR
  a.count(ResponseInfo{}, 0, false);                // dropped
  QueryTotals t = stats.totals();
  EXPECT_EQ(t.udp, 4u);
  EXPECT_EQ(t.tcp, 1u);
  EXPECT_EQ(t.dropped, 1u);
  EXPECT_EQ(t.truncated, 1u);
  EXPECT_EQ(t.by_qtype["A"], 2u);
  EXPECT_EQ(t.by_qtype["MX"], 1u);
  EXPECT_EQ(t.by_qtype["other"], 1u);
  EXPECT_EQ(t.by_rcode["NOERROR"], 2u);
  EXPECT_EQ(t.by_rcode["NXDOMAIN"], 1u);
  EXPECT_EQ(t.by_rcode["FORMERR"], 1u);
  EXPECT_EQ(t.by_rcode.count("SERVFAIL"), 0u);
}

TEST(QueryStats, RcodeNames) {
  EXPECT_EQ(rcode_name(0), "NOERROR");
  EXPECT_EQ(rcode_name(5), "REFUSED");
  EXPECT_EQ(rcode_name(16), "BADVERS");
  EXPECT_EQ(rcode_name(20), "RCODE20");
}

}  // namespace
}  // namespace server
