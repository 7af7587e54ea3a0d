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

// ---- hostile input on an inbound connection ------------------------------

// A raw client connection to a transport, for writing arbitrary bytes.
struct RawClient {
  RawClient(asio::io_context& io, uint16_t port) : socket(io) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void write(const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }
  // Starts a read that completes when the server closes the connection.
  void watch_close() {
    socket.async_read_some(asio::buffer(&byte, 1), [this](const boost::system::error_code& ec, std::size_t) {
      closed = static_cast<bool>(ec);
    });
  }
  tcp::socket socket;
  char byte = 0;
  bool closed = false;
};

std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

TEST(TransportInbound, LyingLengthClosesConnection) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  c.watch_close();
  c.write(le32(0xfffffff0u) + "xxxx");
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(b.t->stats().decode_failures, 1u);
  EXPECT_TRUE(b.got.empty());
}

TEST(TransportInbound, TooShortLengthClosesConnection) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  c.watch_close();
  c.write(le32(3) + "abc");
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(b.t->stats().decode_failures, 1u);
}

TEST(TransportInbound, ForgedFrameIsDroppedButStreamContinues) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  codec::FrameKey key("test-secret");
  std::string garbage(100, 'g');
  c.write(le32(static_cast<uint32_t>(garbage.size())) + garbage);           // bad MAC
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 5), codec::FrameKey("other")));  // wrong key
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 6), key));       // good
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  EXPECT_EQ(b.got[0].index, 6u);
  EXPECT_EQ(b.t->stats().auth_failures, 2u);
  EXPECT_EQ(b.t->stats().frames_received, 1u);
}

TEST(TransportInbound, AuthenticatedGarbageIsADecodeFailure) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  codec::FrameKey key("test-secret");
  std::string payload = codec::encode(msg(MessageType::Vote, 1, 2, 5));
  payload[0] = 42;  // unknown codec version, correctly authenticated
  auto tag = key.mac(payload);
  std::string body = payload + std::string(tag.begin(), tag.end());
  c.write(le32(static_cast<uint32_t>(body.size())) + body);
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 6), key));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  EXPECT_EQ(b.t->stats().decode_failures, 1u);
  EXPECT_EQ(b.t->stats().auth_failures, 0u);
}

TEST(TransportInbound, MisaddressedFrameIsDropped) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  codec::FrameKey key("test-secret");
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 3, 5), key));  // meant for node 3
  c.write(codec::encode_frame(msg(MessageType::Vote, 2, 2, 5), key));  // claims to be from b itself
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 6), key));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  EXPECT_EQ(b.got[0].index, 6u);
  EXPECT_EQ(b.t->stats().decode_failures, 2u);
}

TEST(TransportInbound, SenderChangingMidConnectionIsCutOff) {
  asio::io_context io;
  Node b(io, 2);
  RawClient c(io, b.port());
  c.watch_close();
  codec::FrameKey key("test-secret");
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 1), key));
  c.write(codec::encode_frame(msg(MessageType::Vote, 3, 2, 2), key));
  c.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 3), key));
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  ASSERT_EQ(b.got.size(), 1u);
  EXPECT_EQ(b.got[0].index, 1u);
  EXPECT_EQ(b.t->stats().auth_failures, 1u);
}

TEST(TransportInbound, FrameAboveConfiguredLimitClosesConnection) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_frame_size = 1024;
  Node b(io, 2, "test-secret", opt);
  RawClient c(io, b.port());
  c.watch_close();
  Message big = msg(MessageType::Snapshot, 1, 2, 1);
  big.data.assign(2048, 'x');
  c.write(codec::encode_frame(big, codec::FrameKey("test-secret")));
  ASSERT_TRUE(run_until(io, [&] { return c.closed; }));
  EXPECT_EQ(b.t->stats().decode_failures, 1u);
  EXPECT_TRUE(b.got.empty());
}

TEST(TransportInbound, MultiMegabyteFrameArrivesIntact) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
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
// with one fsync, for the lot (group commit), not one Ready each.
TEST(TransportInbound, FramesWaitingTogetherAreDeliveredBeforeAnythingPostedRuns) {
  asio::io_context io;
  Node b(io, 2);
  int readies = 0;
  bool scheduled = false;
  b.t->on_message([&](Message m) {
    b.got.push_back(std::move(m));
    // As the node schedules a Ready: one post for whatever arrives before it runs.
    if (scheduled) return;
    scheduled = true;
    asio::post(io, [&] {
      scheduled = false;
      ++readies;
    });
  });
  RawClient c(io, b.port());
  codec::FrameKey key("test-secret");
  constexpr std::size_t kFrames = 50;
  std::string bytes;
  for (std::size_t i = 1; i <= kFrames; ++i) bytes += codec::encode_frame(msg(MessageType::Forward, 1, 2, i), key);
  c.write(bytes);  // all in the socket before the transport first reads
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == kFrames && !scheduled; }));
  EXPECT_EQ(b.got.back().index, kFrames);
  EXPECT_EQ(readies, 1);
}

TEST(TransportInbound, ConnectionsBeyondTheCapAreRefused) {
  asio::io_context io;
  Transport::Options opt;
  opt.max_inbound_connections = 1;
  Node b(io, 2, "test-secret", opt);
  RawClient first(io, b.port());
  first.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 1), codec::FrameKey("test-secret")));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  RawClient second(io, b.port());
  second.watch_close();
  ASSERT_TRUE(run_until(io, [&] { return second.closed; }));
  // The first connection is unaffected.
  first.write(codec::encode_frame(msg(MessageType::Vote, 1, 2, 2), codec::FrameKey("test-secret")));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 2; }));
}

TEST(Transport, SendFromAnotherThreadIsPostedToTheIoThread) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  a.t->set_peers({{2, addr(b.port())}});
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
  a.t->set_peers({{2, addr(b.port())}});
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
