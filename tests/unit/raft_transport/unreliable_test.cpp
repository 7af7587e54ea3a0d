// Tests for fault injection: parsing `--unreliable` specs, and drop/dup/delay
// applied to real loopback traffic.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "raft/transport.h"

namespace raft {
namespace {

namespace asio = boost::asio;

// ---- parse_unreliable_spec ------------------------------------------------

TEST(UnreliableSpec, ParsesEveryKey) {
  auto r = parse_unreliable_spec("drop=0.2,dup=0.05,delay=5-50ms,seed=7");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->drop, 0.2);
  EXPECT_DOUBLE_EQ(r->dup, 0.05);
  EXPECT_EQ(r->delay_min_ms, 5u);
  EXPECT_EQ(r->delay_max_ms, 50u);
  EXPECT_EQ(r->seed, 7u);
  EXPECT_TRUE(r->enabled());
}

TEST(UnreliableSpec, AcceptsSubsetsInAnyOrderAndDelayForms) {
  auto r = parse_unreliable_spec("delay=10ms,drop=1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->delay_min_ms, 10u);
  EXPECT_EQ(r->delay_max_ms, 10u);
  EXPECT_DOUBLE_EQ(r->drop, 1.0);
  EXPECT_DOUBLE_EQ(r->dup, 0.0);

  r = parse_unreliable_spec("delay=3-4");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->delay_min_ms, 3u);
  EXPECT_EQ(r->delay_max_ms, 4u);

  r = parse_unreliable_spec("dup=0");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->enabled());
}

TEST(UnreliableSpec, DefaultIsOff) { EXPECT_FALSE(UnreliableOptions{}.enabled()); }

// Each bad spec must fail with a message containing the given text.
TEST(UnreliableSpec, RejectsBadSpecsWithClearErrors) {
  const std::map<std::string, std::string> cases = {
      {"", "empty"},
      {"drop=1.5", "drop must be in [0,1]"},
      {"drop=-0.1", "drop must be in [0,1]"},
      {"dup=2", "dup must be in [0,1]"},
      {"drop=abc", "drop must be in [0,1]"},
      {"drop=nan", "drop must be in [0,1]"},
      {"drop=", "drop must be in [0,1]"},
      {"loss=0.1", "unknown key 'loss'"},
      {"drop", "expected key=value"},
      {"drop=0.1,", "empty item"},
      {"drop=0.1,,dup=0.1", "empty item"},
      {"drop=0.1,drop=0.2", "drop given twice"},
      {"delay=50-5ms", "maximum below its minimum"},
      {"delay=5-xms", "delay must be milliseconds"},
      {"delay=ms", "delay must be milliseconds"},
      {"delay=-5ms", "delay must be milliseconds"},
      {"seed=-1", "seed must be"},
  };
  for (const auto& [spec, expected] : cases) {
    auto r = parse_unreliable_spec(spec);
    ASSERT_FALSE(r.ok()) << "'" << spec << "' was accepted";
    EXPECT_NE(r.error().message.find(expected), std::string::npos)
        << "'" << spec << "' -> " << r.error().message;
    EXPECT_EQ(r.error().message.rfind("unreliable: ", 0), 0u) << r.error().message;
  }
}

// ---- fault injection on the wire ------------------------------------------

bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

Message msg(MessageType type, NodeId from, NodeId to, Index index) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.index = index;
  return m;
}

struct Pair {
  explicit Pair(const std::string& spec) {
    auto u = parse_unreliable_spec(spec);
    EXPECT_TRUE(u.ok()) << u.error().message;
    Transport::Options faulty;
    faulty.unreliable = *u;
    a = std::make_unique<Transport>(io, 1, "127.0.0.1:0", Transport::PeerMap{}, "k", faulty);
    b = std::make_unique<Transport>(io, 2, "127.0.0.1:0", Transport::PeerMap{}, "k", Transport::Options{});
    a->on_message([this](Message m) { at_a.push_back(std::move(m)); });
    b->on_message([this](Message m) { at_b.push_back(std::move(m)); });
    EXPECT_TRUE(a->start().ok());
    EXPECT_TRUE(b->start().ok());
    a->set_peers({{2, "127.0.0.1:" + std::to_string(b->listen_port())}});
    b->set_peers({{1, "127.0.0.1:" + std::to_string(a->listen_port())}});
  }
  asio::io_context io;
  std::unique_ptr<Transport> a, b;
  std::vector<Message> at_a, at_b;
};

TEST(Unreliable, DropAllDeliversNothing) {
  Pair p("drop=1.0");
  for (Index i = 1; i <= 50; ++i) p.a->send(msg(MessageType::Append, 1, 2, i));
  // The reverse direction is reliable: once b's message reached a, a's sends
  // have all been processed (they were posted first).
  p.b->send(msg(MessageType::Heartbeat, 2, 1, 0));
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_a.size() == 1; }));
  EXPECT_TRUE(p.at_b.empty());
  EXPECT_EQ(p.a->stats().dropped_unreliable, 50u);
  EXPECT_EQ(p.a->stats().frames_sent, 0u);
  EXPECT_EQ(p.a->queued_frames(2), 0u);
}

TEST(Unreliable, DupAllDeliversEveryMessageTwice) {
  Pair p("dup=1.0");
  for (Index i = 1; i <= 20; ++i) p.a->send(msg(MessageType::Vote, 1, 2, i));
  ASSERT_TRUE(run_until(p.io, [&] { return p.a->stats().frames_sent == 40; }));
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_b.size() == 40; }));
  std::map<Index, int> seen;
  for (const Message& m : p.at_b) ++seen[m.index];
  ASSERT_EQ(seen.size(), 20u);
  for (const auto& [index, n] : seen) EXPECT_EQ(n, 2) << "index " << index;
}

TEST(Unreliable, DelayedMessagesAllArrive) {
  Pair p("delay=1-20ms,seed=3");
  for (Index i = 1; i <= 30; ++i) p.a->send(msg(MessageType::Heartbeat, 1, 2, i));
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_b.size() == 30; }));
  std::map<Index, int> seen;
  for (const Message& m : p.at_b) ++seen[m.index];
  EXPECT_EQ(seen.size(), 30u);
}

TEST(Unreliable, PartialDropIsSeededAndCounted) {
  Pair p("drop=0.5,seed=11");
  for (Index i = 1; i <= 200; ++i) p.a->send(msg(MessageType::Heartbeat, 1, 2, i));
  p.b->send(msg(MessageType::Heartbeat, 2, 1, 0));
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_a.size() == 1; }));
  uint64_t dropped = p.a->stats().dropped_unreliable;
  EXPECT_GT(dropped, 50u);
  EXPECT_LT(dropped, 150u);
  ASSERT_TRUE(run_until(p.io, [&] { return p.at_b.size() == 200 - dropped; }));
}

}  // namespace
}  // namespace raft
