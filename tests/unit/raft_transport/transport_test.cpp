// Loopback tests of the Raft peer transport: two or more transports in one
// process on 127.0.0.1 ephemeral ports, driven by one io_context.
#include "raft/transport.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>

#include "transport_harness.h"

namespace raft {
namespace {

using namespace raft::testing;  // NOLINT(google-build-using-namespace)
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

TEST(Transport, ExchangesMessagesBothWays) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  link(a, b);

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
  link(a, b);
  for (Index i = 1; i <= 200; ++i) a.t->send(msg(MessageType::Append, 1, 2, i));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 200; }));
  for (Index i = 1; i <= 200; ++i) EXPECT_EQ(b.got[i - 1].index, i);
}

TEST(Transport, InsecureModeWorksWhenEnabled) {
  asio::io_context io;
  Transport::Options opt;
  opt.insecure = true;
  Node a(io, 1, "", opt), b(io, 2, "", opt);
  link(a, b);
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

TEST(Transport, WrongSecretFailsTheHandshakeAndIsCounted) {
  asio::io_context io;
  Node a(io, 1, "secret-a"), b(io, 2, "secret-b");
  link(a, b);
  a.t->send(msg(MessageType::Vote, 1, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.t->stats().auth_failures >= 2 && a.t->stats().auth_failures >= 2; }));
  EXPECT_TRUE(b.got.empty());
  EXPECT_EQ(b.t->stats().frames_received, 0u);
  EXPECT_FALSE(a.t->connected(2));
  EXPECT_EQ(a.t->stats().frames_sent, 0u);
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
  link(a, *b);
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b->got.size() == 1; }));

  b.reset();  // peer goes away
  Transport::Options opt;
  b = std::make_unique<Node>(io, 2, "test-secret", opt, port);  // and comes back on the same port
  b->add_peer(a);
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
  b.add_peer(a);
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
  link(a, b);
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
  link(a, b);
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

// ---- hostile input on an inbound connection ------------------------------

// Makes node 1 a peer of `b` (so that it may connect) and returns b's port.
uint16_t admitting_node_1(asio::io_context& io, Node& b) {
  b.add_peer(1, unused_port(io));
  return b.port();
}

// A node 2 that knows node 1, plus an authenticated client speaking as node 1.
struct Node2WithClient1 {
  explicit Node2WithClient1(asio::io_context& io, Transport::Options opt = {})
      : b(io, 2, "test-secret", opt), c(io, admitting_node_1(io, b), psk("test-secret", "dns-node-1")) {
    EXPECT_TRUE(c.handshake(io)) << c.handshake_error.message();
  }
  Node b;
  TlsClient c;
};

TEST(TransportInbound, PlaintextFramesNeverReachTheNode) {
  // What an attacker without the secret can send: a well-formed Append with
  // a higher term, in clear. The handshake fails; nothing is delivered.
  asio::io_context io;
  Node b(io, 2);
  b.add_peer(1, unused_port(io));
  RawClient c(io, b.port());
  c.watch_close();
  Message forged = msg(MessageType::Append, 1, 2, 10);
  forged.term = 99;
  forged.entries = {Entry{99, 11, EntryType::Normal, "evil"}};
  c.write(codec::encode_frame(forged));
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_TRUE(b.got.empty());
  EXPECT_EQ(b.t->stats().auth_failures, 1u);
  EXPECT_EQ(b.t->stats().frames_received, 0u);
}

TEST(TransportInbound, PskIdentityOfANonMemberIsRefused) {
  asio::io_context io;
  Node b(io, 2);
  b.add_peer(1, unused_port(io));
  TlsClient c(io, b.port(), psk("test-secret", "dns-node-7"));  // right secret, unknown node
  EXPECT_FALSE(c.handshake(io));
  ASSERT_TRUE(run_until(io, [&] { return b.t->stats().auth_failures == 1; }));
  EXPECT_TRUE(b.got.empty());
}

TEST(TransportInbound, LyingLengthClosesConnection) {
  asio::io_context io;
  Node2WithClient1 n(io);
  n.c.watch_close();
  n.c.write(le32(0xfffffff0u) + "xxxx");
  ASSERT_TRUE(run_until(io, [&] { return n.c.closed; }));
  EXPECT_EQ(n.b.t->stats().decode_failures, 1u);
  EXPECT_TRUE(n.b.got.empty());
}

TEST(TransportInbound, TooShortLengthClosesConnection) {
  asio::io_context io;
  Node2WithClient1 n(io);
  n.c.watch_close();
  n.c.write(le32(1) + "a");
  ASSERT_TRUE(run_until(io, [&] { return n.c.closed; }));
  EXPECT_EQ(n.b.t->stats().decode_failures, 1u);
}

TEST(TransportInbound, UndecodablePayloadIsADecodeFailureAndTheStreamContinues) {
  asio::io_context io;
  Node2WithClient1 n(io);
  std::string payload = codec::encode(msg(MessageType::Vote, 1, 2, 5));
  payload[0] = 42;  // unknown codec version
  n.c.write(le32(static_cast<uint32_t>(payload.size())) + payload);
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 6)));
  ASSERT_TRUE(run_until(io, [&] { return n.b.got.size() == 1; }));
  EXPECT_EQ(n.b.got[0].index, 6u);
  EXPECT_EQ(n.b.t->stats().decode_failures, 1u);
  EXPECT_EQ(n.b.t->stats().auth_failures, 0u);
}

TEST(TransportInbound, MisaddressedFrameIsDropped) {
  asio::io_context io;
  Node2WithClient1 n(io);
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 1, 3, 5)));  // meant for node 3
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 2, 2, 5)));  // claims to be from b itself
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 6)));
  ASSERT_TRUE(run_until(io, [&] { return n.b.got.size() == 1; }));
  EXPECT_EQ(n.b.got[0].index, 6u);
  EXPECT_EQ(n.b.t->stats().decode_failures, 2u);
}

TEST(TransportInbound, FrameClaimingAnotherSenderCutsTheLink) {
  // The link authenticated node 1; a frame from "node 3" on it is forged.
  asio::io_context io;
  Node2WithClient1 n(io);
  n.b.add_peer(3, unused_port(io));
  n.c.watch_close();
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 1)));
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 3, 2, 2)));
  n.c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 3)));
  ASSERT_TRUE(run_until(io, [&] { return n.c.closed; }));
  ASSERT_EQ(n.b.got.size(), 1u);
  EXPECT_EQ(n.b.got[0].index, 1u);
  EXPECT_EQ(n.b.t->stats().auth_failures, 1u);
}

TEST(TransportInbound, FrameAboveConfiguredLimitClosesConnection) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_frame_size = 1024;
  Node2WithClient1 n(io, opt);
  n.c.watch_close();
  Message big = msg(MessageType::Snapshot, 1, 2, 1);
  big.data.assign(2048, 'x');
  n.c.write(codec::encode_frame(big));
  ASSERT_TRUE(run_until(io, [&] { return n.c.closed; }));
  EXPECT_EQ(n.b.t->stats().decode_failures, 1u);
  EXPECT_TRUE(n.b.got.empty());
}

TEST(TransportInbound, MultiMegabyteFrameArrivesIntact) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  link(a, b);
  Message big = msg(MessageType::Snapshot, 1, 2, 1);
  big.data.resize((3u << 20) + 12345);
  for (std::size_t i = 0; i < big.data.size(); ++i) big.data[i] = static_cast<char>(i * 131 + (i >> 13));
  a.t->send(big);
  a.t->send(msg(MessageType::Append, 1, 2, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 2; }));
  EXPECT_TRUE(b.got[0].data == big.data);
  EXPECT_EQ(b.got[1].index, 2u);
}

// Frames that wait in the socket together are all delivered before anything
// the handler posts runs: the node steps them all and then makes one Ready,
// with one fsync, for the lot (group commit), not one Ready each. Over TLS
// they arrive as several records, which are drained together.
TEST(TransportInbound, FramesWaitingTogetherAreDeliveredBeforeAnythingPostedRuns) {
  asio::io_context io;
  Node2WithClient1 n(io);
  int readies = 0;
  bool scheduled = false;
  n.b.t->on_message([&](Message m) {
    n.b.got.push_back(std::move(m));
    // As the node schedules a Ready: one post for whatever arrives before it runs.
    if (scheduled) return;
    scheduled = true;
    asio::post(io, [&] {
      scheduled = false;
      ++readies;
    });
  });
  constexpr std::size_t kFrames = 400;  // about 40 KiB: three TLS records or more
  std::string bytes;
  for (std::size_t i = 1; i <= kFrames; ++i) {
    Message m = msg(MessageType::Forward, 1, 2, i);
    m.data.assign(80, 'f');
    bytes += codec::encode_frame(m);
  }
  ASSERT_GT(bytes.size(), 32u << 10);
  n.c.write(bytes);  // all in the socket before the transport next reads
  ASSERT_TRUE(run_until(io, [&] { return n.b.got.size() == kFrames && !scheduled; }));
  EXPECT_EQ(n.b.got.back().index, kFrames);
  EXPECT_EQ(readies, 1);
}

// ---- connections that never authenticate ---------------------------------

TEST(TransportInbound, AHandshakeMustFinishBeforeItsDeadline) {
  asio::io_context io;
  Transport::Options opt;
  opt.handshake_timeout = std::chrono::milliseconds(200);
  Node b(io, 2, "test-secret", opt);
  RawClient idle(io, b.port());
  idle.watch_close();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(io, [&] { return idle.closed; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  EXPECT_EQ(b.t->stats().handshake_timeouts, 1u);
  EXPECT_EQ(b.t->stats().auth_failures, 0u);
}

TEST(TransportInbound, BytesBeforeAuthenticationAreBounded) {
  // A ClientHello announcing 100,000 bytes, then filler: it could be a
  // legal size, so only the byte bound stops it.
  asio::io_context io;
  Transport::Options opt;
  opt.max_handshake_bytes = 4096;
  Node b(io, 2, "test-secret", opt);
  RawClient c(io, b.port());
  c.watch_close();
  std::string hello = std::string("\x16\x03\x01\x40\x00", 5) + std::string("\x01\x01\x86\xa0\x03\x03", 6);
  hello.resize(5 + 0x4000, '\0');
  boost::system::error_code ec;
  for (int i = 0; i < 4 && !ec; ++i) {
    std::string record = i == 0 ? hello : std::string("\x16\x03\x03\x40\x00", 5) + std::string(0x4000, '\0');
    asio::write(c.socket, asio::buffer(record), ec);  // may fail once the server has closed
    io.restart();
    io.poll();
  }
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(b.t->stats().handshake_timeouts, 1u);
  EXPECT_TRUE(b.got.empty());
}

TEST(TransportInbound, IdleConnectionsCannotKeepAMemberOut) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_pending_handshakes = 8;
  Node a(io, 1), b(io, 2, "test-secret", opt);
  b.add_peer(a);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<RawClient>(io, b.port()));
  ASSERT_TRUE(run_until(io, [&] { return b.t->stats().handshake_timeouts >= 92; }));
  // The member arrives after the flood and gets through at once.
  a.add_peer(b);
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }, std::chrono::seconds(2)));
  // More idle connections do not cut its link: authenticated links are kept apart.
  for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<RawClient>(io, b.port()));
  ASSERT_TRUE(run_until(io, [&] { return b.t->stats().handshake_timeouts >= 192; }));
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 2));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 2; }, std::chrono::seconds(2)));
  EXPECT_EQ(a.t->stats().reconnects, 0u);
}

// Runs `io` for a while, for events that must not happen.
void settle(asio::io_context& io) {
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
}

TEST(TransportInbound, AnIdleConnectionIsDisplacedBeforeOneThatHasSpoken) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_pending_handshakes = 2;
  Node b(io, 2, "test-secret", opt);
  // One that has begun a handshake (the start of a record), then an idle
  // one, then a newcomer: the idle one goes, though not the oldest.
  RawClient speaking(io, b.port());
  speaking.watch_close();
  speaking.write(std::string("\x16\x03\x01", 3));
  settle(io);
  RawClient idle(io, b.port());
  idle.watch_close();
  settle(io);
  RawClient newcomer(io, b.port());
  newcomer.watch_close();
  ASSERT_TRUE(run_until(io, [&] { return idle.closed; }));
  settle(io);
  EXPECT_FALSE(speaking.closed);
  EXPECT_FALSE(newcomer.closed);
  EXPECT_EQ(b.t->stats().handshake_timeouts, 1u);
}

TEST(TransportInbound, ANewConnectionAlwaysGetsItsChance) {
  // With no idle one to spare, the oldest goes: connections that stall in
  // their handshake cannot hold the door shut against a peer arriving now.
  asio::io_context io;
  Transport::Options opt;
  opt.max_pending_handshakes = 1;
  Node b(io, 2, "test-secret", opt);
  RawClient stalling(io, b.port());
  stalling.watch_close();
  stalling.write(std::string("\x16\x03\x01", 3));
  settle(io);
  RawClient newcomer(io, b.port());
  newcomer.watch_close();
  ASSERT_TRUE(run_until(io, [&] { return stalling.closed; }));
  settle(io);
  EXPECT_FALSE(newcomer.closed);
}

TEST(Transport, SendFromAnotherThreadIsPostedToTheIoThread) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  link(a, b);
  constexpr int kCount = 300;
  std::promise<void> all_arrived;
  std::thread::id delivered_on;
  int n = 0;
  b.t->on_message([&](Message) {
    delivered_on = std::this_thread::get_id();
    if (++n == kCount) all_arrived.set_value();
  });
  auto guard = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  for (int i = 1; i <= kCount; ++i) a.t->send(msg(MessageType::Append, 1, 2, static_cast<Index>(i)));
  auto arrived = all_arrived.get_future().wait_for(std::chrono::seconds(20));
  guard.reset();
  io.stop();
  std::thread::id io_id = io_thread.get_id();
  io_thread.join();
  // Write completions already queued when the io thread stopped.
  io.restart();
  io.poll();
  ASSERT_EQ(arrived, std::future_status::ready);
  EXPECT_EQ(delivered_on, io_id);
  EXPECT_EQ(a.t->stats().frames_sent, static_cast<uint64_t>(kCount));
}

TEST(Transport, SplitsHostAndPort) {
  auto r = split_host_port("10.0.0.2:7000");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, "10.0.0.2");
  EXPECT_EQ(r->second, 7000);
  r = split_host_port("[::1]:65535");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first, "::1");
  EXPECT_EQ(r->second, 65535);
  for (const char* bad : {"", "host", ":80", "host:", "host:65536", "host:8x", "::1:80", "[::1]80", "[::1"}) {
    auto e = split_host_port(bad);
    EXPECT_FALSE(e.ok()) << bad;
    if (!e.ok()) {
      EXPECT_NE(e.error().message.find("bad address"), std::string::npos) << e.error().message;
    }
  }
}

TEST(Transport, ClassifiesControlAndBulk) {
  EXPECT_TRUE(is_control_message(MessageType::Heartbeat));
  EXPECT_TRUE(is_control_message(MessageType::Vote));
  EXPECT_TRUE(is_control_message(MessageType::PreVote));
  EXPECT_TRUE(is_control_message(MessageType::AppendResp));
  EXPECT_FALSE(is_control_message(MessageType::Append));
  EXPECT_FALSE(is_control_message(MessageType::Snapshot));
  EXPECT_FALSE(is_control_message(MessageType::Forward));
}

TEST(Transport, StopFromInsideTheHandlerIsSafe) {
  asio::io_context io;
  Node b(io, 2);
  Node a(io, 1);
  link(a, b);
  int calls = 0;
  b.t->on_message([&](Message) {
    ++calls;
    b.t.reset();  // destroy the transport while it is delivering
  });
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 2));
  ASSERT_TRUE(run_until(io, [&] { return calls == 1; }));
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace raft
