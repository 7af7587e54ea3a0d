// Response rate limiting: buckets per client network and response kind,
// refill, debt over the window, slip, truncation and the config object.
#include "server/rrl.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace server {
namespace {

using Clock = ResponseRateLimiter::Clock;

sockaddr_storage v4(const char* text) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  in->sin_family = AF_INET;
  inet_pton(AF_INET, text, &in->sin_addr);
  return ss;
}

sockaddr_storage v6(const char* text) {
  sockaddr_storage ss{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  in6->sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &in6->sin6_addr);
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

RrlOptions opts(uint32_t rate, uint32_t slip = 2, uint32_t window = 15) {
  RrlOptions o;
  o.responses_per_second = rate;
  o.slip = slip;
  o.window = window;
  return o;
}

struct Tally {
  int send = 0, drop = 0, slip = 0;
};

Tally run(ResponseRateLimiter& rrl, const sockaddr_storage& who, RrlKind kind, int n, Clock::time_point at) {
  Tally t;
  for (int i = 0; i < n; ++i) {
    switch (rrl.check(sa(who), kind, at)) {
      case RrlAction::Send: ++t.send; break;
      case RrlAction::Drop: ++t.drop; break;
      case RrlAction::Slip: ++t.slip; break;
    }
  }
  return t;
}

TEST(Rrl, OnByDefaultAtAHundredPerSecondWithSlipTwo) {
  ResponseRateLimiter rrl(RrlOptions{});
  EXPECT_TRUE(rrl.options().enabled());
  Tally t = run(rrl, v4("192.0.2.1"), RrlKind::Answer, 1000, Clock::now());
  EXPECT_EQ(t.send, 100);
  EXPECT_EQ(t.slip, 450);
  EXPECT_EQ(t.drop, 450);
}

TEST(Rrl, ZeroResponsesPerSecondSendsEverything) {
  ResponseRateLimiter rrl(opts(0));
  EXPECT_FALSE(rrl.options().enabled());
  Tally t = run(rrl, v4("192.0.2.1"), RrlKind::Answer, 10000, Clock::now());
  EXPECT_EQ(t.send, 10000);
  EXPECT_EQ(rrl.size(), 0u);
}

TEST(Rrl, ExemptClientsAreNeverLimitedTheirNeighboursAre) {
  RrlOptions o = opts(10);
  o.exempt_clients.push_back(Network::parse("198.51.100.7/32").value());
  o.exempt_clients.push_back(Network::parse("2001:db8::/64").value());
  ResponseRateLimiter rrl(o);
  const auto now = Clock::now();
  EXPECT_EQ(run(rrl, v4("198.51.100.7"), RrlKind::Answer, 1000, now).send, 1000);
  EXPECT_EQ(run(rrl, v6("2001:db8::53"), RrlKind::Answer, 1000, now).send, 1000);
  EXPECT_EQ(run(rrl, v4("198.51.100.8"), RrlKind::Answer, 100, now).send, 10);  // same /24, not exempt
}

TEST(Rrl, AFullTableForgetsTheLeastRecentlyUsedBucketNotTheOneInUse) {
  RrlOptions o = opts(10, 0);
  o.table_size = 64;  // four buckets in each of the 16 shards
  ResponseRateLimiter rrl(o);
  auto t = Clock::now();
  const auto flooder = v4("192.0.2.1");
  run(rrl, flooder, RrlKind::Answer, 1000, t);  // deep in debt
  // Spoofed sources from thousands of networks fill the table over and over;
  // the flooder, still sending, stays the newest of its shard and keeps its
  // debt (a table that started over when full would hand it a new burst).
  for (int i = 0; i < 5000; ++i) {
    t += std::chrono::microseconds(100);
    sockaddr_storage other = v4("10.0.0.0");
    auto* in = reinterpret_cast<sockaddr_in*>(&other);
    in->sin_addr.s_addr = htonl(0x0A000000u + (static_cast<uint32_t>(i) << 8));
    EXPECT_EQ(rrl.check(sa(other), RrlKind::Answer, t), RrlAction::Send);
    ASSERT_EQ(rrl.check(sa(flooder), RrlKind::Answer, t), RrlAction::Drop) << i;
    ASSERT_LE(rrl.size(), 64u);
  }
  EXPECT_EQ(rrl.size(), 64u);
  // Once it goes quiet, newer networks push it out, and it starts afresh.
  for (int i = 0; i < 5000; ++i) {
    sockaddr_storage other = v4("10.0.0.0");
    reinterpret_cast<sockaddr_in*>(&other)->sin_addr.s_addr = htonl(0x0B000000u + (static_cast<uint32_t>(i) << 8));
    rrl.check(sa(other), RrlKind::Answer, t);
  }
  EXPECT_EQ(rrl.check(sa(flooder), RrlKind::Answer, t), RrlAction::Send);
}

TEST(Rrl, AFloodGetsOneSecondsWorthThenEverySlipthResponseTruncated) {
  ResponseRateLimiter rrl(opts(10, 2));
  Tally t = run(rrl, v4("192.0.2.1"), RrlKind::Answer, 110, Clock::now());
  EXPECT_EQ(t.send, 10);
  EXPECT_EQ(t.slip, 50);
  EXPECT_EQ(t.drop, 50);
  EXPECT_EQ(rrl.slipped(), 50u);
  EXPECT_EQ(rrl.dropped(), 50u);
}

TEST(Rrl, SlipZeroDropsAllAndSlipOneTruncatesAll) {
  ResponseRateLimiter drop_all(opts(5, 0));
  Tally d = run(drop_all, v4("192.0.2.1"), RrlKind::Answer, 20, Clock::now());
  EXPECT_EQ(d.send, 5);
  EXPECT_EQ(d.drop, 15);
  ResponseRateLimiter slip_all(opts(5, 1));
  Tally s = run(slip_all, v4("192.0.2.1"), RrlKind::Answer, 20, Clock::now());
  EXPECT_EQ(s.send, 5);
  EXPECT_EQ(s.slip, 15);
}

TEST(Rrl, ClientsInOneSlash24ShareABucketOtherNetworksDoNot) {
  ResponseRateLimiter rrl(opts(10));
  const auto now = Clock::now();
  EXPECT_EQ(run(rrl, v4("198.51.100.1"), RrlKind::Answer, 10, now).send, 10);
  EXPECT_EQ(run(rrl, v4("198.51.100.200"), RrlKind::Answer, 5, now).send, 0);  // same /24: limited
  EXPECT_EQ(run(rrl, v4("198.51.101.1"), RrlKind::Answer, 10, now).send, 10);  // next /24: its own budget
}

TEST(Rrl, Ipv6ClientsAreGroupedBySlash56) {
  ResponseRateLimiter rrl(opts(4));
  const auto now = Clock::now();
  EXPECT_EQ(run(rrl, v6("2001:db8:0:1::1"), RrlKind::Answer, 4, now).send, 4);
  EXPECT_EQ(run(rrl, v6("2001:db8:0:ff::2"), RrlKind::Answer, 4, now).send, 0);  // same /56
  EXPECT_EQ(run(rrl, v6("2001:db8:0:100::1"), RrlKind::Answer, 4, now).send, 4);  // another /56
}

TEST(Rrl, ResponseKindsHaveSeparateBudgets) {
  ResponseRateLimiter rrl(opts(3));
  const auto now = Clock::now();
  const auto who = v4("203.0.113.9");
  EXPECT_EQ(run(rrl, who, RrlKind::NxDomain, 50, now).send, 3);
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 3, now).send, 3);
  EXPECT_EQ(run(rrl, who, RrlKind::Error, 3, now).send, 3);
}

TEST(Rrl, BucketsRefillAtTheRate) {
  ResponseRateLimiter rrl(opts(10, 2, 1));
  const auto t0 = Clock::now();
  const auto who = v4("192.0.2.7");
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 10, t0).send, 10);
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 1, t0).send, 0);
  // Debt of one response (plus the one refused) is paid back after 0.2 s; then 1 token per 0.1 s.
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 1, t0 + std::chrono::milliseconds(350)).send, 1);
}

TEST(Rrl, AFloodThatKeepsGoingStaysLimitedForTheWindow) {
  ResponseRateLimiter rrl(opts(10, 0, 5));
  const auto t0 = Clock::now();
  const auto who = v4("192.0.2.8");
  // One second of 1000 responses: the bucket falls to its floor, -5 s worth.
  run(rrl, who, RrlKind::Answer, 1000, t0);
  // After 3 s the source is still in debt: nothing is sent.
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 1, t0 + std::chrono::seconds(3)).send, 0);
  // Quiet for longer than the window: a full second's worth again.
  EXPECT_EQ(run(rrl, who, RrlKind::Answer, 10, t0 + std::chrono::seconds(12)).send, 10);
}

TEST(Rrl, ClassifyResponseByRcodeAndAnswerCount) {
  uint8_t h[12] = {0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0};
  EXPECT_EQ(classify_response(h, sizeof h), RrlKind::Answer);
  h[7] = 0;
  EXPECT_EQ(classify_response(h, sizeof h), RrlKind::NoData);
  h[3] = 3;
  EXPECT_EQ(classify_response(h, sizeof h), RrlKind::NxDomain);
  h[3] = 5;
  EXPECT_EQ(classify_response(h, sizeof h), RrlKind::Error);
  EXPECT_EQ(classify_response(h, 5), RrlKind::Error);
}

TEST(Rrl, TruncateKeepsHeaderAndQuestionSetsTc) {
  // Header, question "a.example. A IN", one answer record.
  std::vector<uint8_t> r = {0xab, 0xcd, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
                            1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
                            0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
  size_t n = truncate_response(r.data(), r.size());
  ASSERT_EQ(n, 27u);
  EXPECT_EQ(r[0], 0xab);
  EXPECT_TRUE(r[2] & 0x02);
  EXPECT_EQ(r[5], 1);  // QDCOUNT kept
  EXPECT_EQ(r[7], 0);  // ANCOUNT cleared
  // A question running past the end cannot be truncated: drop instead.
  EXPECT_EQ(truncate_response(r.data(), 20), 0u);
}

TEST(Rrl, ConfigObjectIsValidatedWithFieldNames) {
  auto absent = parse_rrl_options(nlohmann::json());
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent->enabled());
  EXPECT_EQ(absent->responses_per_second, RrlOptions::kDefaultResponsesPerSecond);
  auto off = parse_rrl_options(nlohmann::json::parse(R"({"responses_per_second": 0})"));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->enabled());
  auto exempt = parse_rrl_options(nlohmann::json::parse(R"({"exempt_clients": ["127.0.0.1", "::1/128"], "table_size": 1000})"));
  ASSERT_TRUE(exempt.ok()) << exempt.error().message;
  EXPECT_EQ(exempt->exempt_clients.size(), 2u);
  EXPECT_EQ(exempt->table_size, 1000u);
  auto bad_net = parse_rrl_options(nlohmann::json::parse(R"({"exempt_clients": ["127.0.0.1/99"]})"));
  ASSERT_FALSE(bad_net.ok());
  EXPECT_EQ(bad_net.error().message.rfind("rrl.exempt_clients[0]: ", 0), 0u) << bad_net.error().message;
  EXPECT_FALSE(parse_rrl_options(nlohmann::json::parse(R"({"exempt_clients": "127.0.0.1"})")).ok());
  EXPECT_FALSE(parse_rrl_options(nlohmann::json::parse(R"({"table_size": 0})")).ok());
  auto on = parse_rrl_options(nlohmann::json::parse(R"({"responses_per_second": 20, "slip": 3, "window": 10})"));
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_EQ(on->responses_per_second, 20u);
  EXPECT_EQ(on->slip, 3u);
  EXPECT_EQ(on->window, 10u);
  auto bad = parse_rrl_options(nlohmann::json::parse(R"({"slip": -1})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("rrl.slip"), std::string::npos) << bad.error().message;
  auto unknown = parse_rrl_options(nlohmann::json::parse(R"({"rate": 5})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("rrl.rate: unknown setting"), std::string::npos);
  EXPECT_FALSE(parse_rrl_options(nlohmann::json::parse("[1]")).ok());
}

}  // namespace
}  // namespace server
