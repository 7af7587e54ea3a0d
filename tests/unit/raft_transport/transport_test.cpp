// Loopback tests of the Raft peer transport: two or more transports in one
// process on 127.0.0.1 ephemeral ports, driven by one io_context.
#include "raft/transport.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace raft {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Runs the io_context until `done` holds; fails the test after `limit`.
// The limit is a safety net against hangs, not a timing assertion.
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

Message msg(MessageType type, NodeId from, NodeId to, Index index = 0) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = 3;
  m.index = index;
  return m;
}

std::string addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A transport plus everything it delivered.
struct Node {
  Node(asio::io_context& io, NodeId id, std::string secret = "test-secret", Transport::Options opt = {},
       uint16_t port = 0)
      : t(std::make_unique<Transport>(io, id, addr(port), Transport::PeerMap{}, std::move(secret), opt)) {
    t->on_message([this](Message m) { got.push_back(std::move(m)); });
    auto r = t->start();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  }
  uint16_t port() const { return t->listen_port(); }
  std::unique_ptr<Transport> t;
  std::vector<Message> got;
};

// A port nothing listens on (bound, then released).
uint16_t unused_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

TEST(Transport, ExchangesMessagesBothWays) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
  b.t->set_peers({{1, addr(a.port())}});

  Message to_b = msg(MessageType::Append, 1, 2, 10);
  to_b.entries = {Entry{3, 11, EntryType::Normal, "rec"}};
  a.t->send(to_b);
  b.t->send(msg(MessageType::VoteResp, 2, 1, 7));
  ASSERT_TRUE(run_until(io, [&] { return a.got.size() == 1 && b.got.size() == 1; }));

  EXPECT_EQ(codec::encode(b.got[0]), codec::encode(to_b));
  EXPECT_EQ(a.got[0].type, MessageType::VoteResp);
  EXPECT_EQ(a.got[0].from, 2u);
  EXPECT_EQ(a.got[0].index, 7u);
  EXPECT_EQ(a.t->stats().frames_sent, 1u);
  EXPECT_EQ(b.t->stats().frames_received, 1u);
  EXPECT_EQ(b.t->stats().auth_failures, 0u);
}

TEST(Transport, PreservesOrderWithinAClass) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
  for (Index i = 1; i <= 200; ++i) a.t->send(msg(MessageType::Append, 1, 2, i));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 200; }));
  for (Index i = 1; i <= 200; ++i) EXPECT_EQ(b.got[i - 1].index, i);
}

TEST(Transport, InsecureModeWorksWhenEnabled) {
  asio::io_context io;
  Transport::Options opt;
  opt.insecure = true;
  Node a(io, 1, "", opt), b(io, 2, "", opt);
  a.t->set_peers({{2, addr(b.port())}});
  a.t->send(msg(MessageType::Heartbeat, 1, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
}

TEST(Transport, RefusesToStartWithoutSecretUnlessInsecure) {
  asio::io_context io;
  Transport t(io, 1, "127.0.0.1:0", {}, "", {});
  auto r = t.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("--insecure-peers"), std::string::npos) << r.error().message;
}

TEST(Transport, ReportsPortInUse) {
  asio::io_context io;
  Node a(io, 1);
  Transport t(io, 2, addr(a.port()), {}, "s", {});
  auto r = t.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(addr(a.port())), std::string::npos) << r.error().message;
}

TEST(Transport, ReportsBadListenAddress) {
  asio::io_context io;
  Transport t(io, 1, "127.0.0.1", {}, "s", {});
  auto r = t.start();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("host:port"), std::string::npos) << r.error().message;
}

TEST(Transport, WrongSecretIsDroppedAndCounted) {
  asio::io_context io;
  Node a(io, 1, "secret-a"), b(io, 2, "secret-b");
  a.t->set_peers({{2, addr(b.port())}});
  a.t->send(msg(MessageType::Vote, 1, 2));
  a.t->send(msg(MessageType::Vote, 1, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.t->stats().auth_failures == 2; }));
  EXPECT_TRUE(b.got.empty());
  EXPECT_EQ(b.t->stats().frames_received, 0u);
}

TEST(Transport, SendToUnknownPeerIsCounted) {
  asio::io_context io;
  Node a(io, 1);
  a.t->send(msg(MessageType::Vote, 1, 9));
  io.poll();
  EXPECT_EQ(a.t->stats().dropped_no_peer, 1u);
}

TEST(Transport, ReconnectsAfterPeerRestart) {
  asio::io_context io;
  Node a(io, 1);
  auto b = std::make_unique<Node>(io, 2);
  uint16_t port = b->port();
  a.t->set_peers({{2, addr(port)}});
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b->got.size() == 1; }));

  b.reset();  // peer goes away
  Transport::Options opt;
  b = std::make_unique<Node>(io, 2, "test-secret", opt, port);  // and comes back on the same port
  // Messages written into the dead connection before it is noticed are lost,
  // as on a real network; keep sending until one arrives.
  Index i = 1;
  ASSERT_TRUE(run_until(io, [&] {
    a.t->send(msg(MessageType::Heartbeat, 1, 2, ++i));
    return !b->got.empty();
  }));
  EXPECT_GE(a.t->stats().reconnects, 1u);
  EXPECT_TRUE(a.t->connected(2));
}

TEST(Transport, FullQueueDropsOldestBulkFirstAndCounts) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_queue_frames = 10;
  Node a(io, 1, "test-secret", opt);
  uint16_t port = unused_port(io);  // the peer is down: everything queues
  a.t->set_peers({{2, addr(port)}});
  for (Index i = 1; i <= 5; ++i) a.t->send(msg(MessageType::Heartbeat, 1, 2, i));
  for (Index i = 1; i <= 10; ++i) a.t->send(msg(MessageType::Append, 1, 2, 100 + i));
  io.poll();
  EXPECT_EQ(a.t->stats().dropped_queue_full, 5u);
  EXPECT_EQ(a.t->queued_frames(2), 10u);

  // The peer comes up: what survived is every heartbeat and the newest appends.
  Node b(io, 2, "test-secret", {}, port);
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 10; }));
  std::vector<Index> heartbeats, appends;
  for (const Message& m : b.got) (m.type == MessageType::Heartbeat ? heartbeats : appends).push_back(m.index);
  EXPECT_EQ(heartbeats, (std::vector<Index>{1, 2, 3, 4, 5}));
  EXPECT_EQ(appends, (std::vector<Index>{106, 107, 108, 109, 110}));
}

TEST(Transport, FullQueueOfControlDropsOldestControl) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_queue_frames = 3;
  Node a(io, 1, "test-secret", opt);
  a.t->set_peers({{2, addr(unused_port(io))}});
  for (Index i = 1; i <= 5; ++i) a.t->send(msg(MessageType::Vote, 1, 2, i));
  io.poll();
  EXPECT_EQ(a.t->stats().dropped_queue_full, 2u);
  EXPECT_EQ(a.t->queued_frames(2), 3u);
}

TEST(Transport, ByteBoundDropsOversizedMessage) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_queue_bytes = 1000;
  Node a(io, 1, "test-secret", opt);
  a.t->set_peers({{2, addr(unused_port(io))}});
  Message big = msg(MessageType::Snapshot, 1, 2);
  big.data.assign(2000, 'x');
  a.t->send(big);
  a.t->send(msg(MessageType::Heartbeat, 1, 2));
  io.poll();
  EXPECT_EQ(a.t->stats().dropped_queue_full, 1u);
  EXPECT_EQ(a.t->queued_frames(2), 1u);
}

TEST(Transport, HeartbeatOvertakesSnapshotBacklog) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 0));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1 && a.t->connected(2); }));
  b.got.clear();

  // 100 chunks of 64 KiB queued, then one heartbeat. Sends from this thread
  // are posted, so all 101 are queued before the first write completes.
  constexpr int kChunks = 100;
  for (int i = 1; i <= kChunks; ++i) {
    Message chunk = msg(MessageType::Snapshot, 1, 2, static_cast<Index>(i));
    chunk.offset = static_cast<uint64_t>(i - 1) * 65536;
    chunk.data.assign(65536, static_cast<char>(i));
    chunk.done = i == kChunks;
    a.t->send(chunk);
  }
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 999));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == kChunks + 1; }));

  std::size_t heartbeat_at = 0, last_chunk_at = 0;
  for (std::size_t i = 0; i < b.got.size(); ++i) {
    if (b.got[i].type == MessageType::Heartbeat) heartbeat_at = i;
    if (b.got[i].type == MessageType::Snapshot && b.got[i].done) last_chunk_at = i;
  }
  EXPECT_LT(heartbeat_at, last_chunk_at);
  // At most one write batch (256 KiB + one frame = 5 chunks) can precede it.
  EXPECT_LE(heartbeat_at, 5u);
}

TEST(Transport, RemovedPeerIsDisconnectedAndItsMessagesDropped) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
  a.t->send(msg(MessageType::Heartbeat, 1, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  a.t->set_peers({});
  EXPECT_FALSE(a.t->connected(2));
  a.t->send(msg(MessageType::Heartbeat, 1, 2));
  io.poll();
  EXPECT_EQ(a.t->stats().dropped_no_peer, 1u);
  // Adding it back reconnects.
  a.t->set_peers({{2, addr(b.port())}});
  a.t->send(msg(MessageType::Heartbeat, 1, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 2; }));
}

}  // namespace
}  // namespace raft
