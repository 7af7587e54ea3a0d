// Peer link authentication: certificates that name node ids, PSK identities,
// removed members, replayed traffic, the joining node's open door, and the
// checks made on a node's own certificate files at start.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <random>
#include <sstream>

#include "test_pki.h"
#include "transport_harness.h"

namespace raft {
namespace {

using namespace raft::testing;  // NOLINT(google-build-using-namespace)
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
  TempDir() {
    std::random_device rd;
    const std::string name = "dnsnode-peer-auth-" + std::to_string(rd()) + std::to_string(rd());
    path = std::filesystem::temp_directory_path() / name;
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::filesystem::path path;
};

std::shared_ptr<PeerSecurity> certs(const PeerTlsFiles& files, const std::string& name) {
  auto s = PeerSecurity::with_certificates(files, name);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : nullptr;
}

Transport::Options using_security(std::shared_ptr<PeerSecurity> s) {
  Transport::Options o;
  o.security = std::move(s);
  return o;
}

Message forged_append(NodeId from, NodeId to) {
  Message m = msg(MessageType::Append, from, to, 10);
  m.term = 99;
  m.entries = {Entry{99, 11, EntryType::Normal, "evil.example.com A 6.6.6.6"}};
  return m;
}

// A cluster CA with certificates for nodes 1, 2 and 3 ("dns-node-<id>").
struct Pki {
  TempDir dir;
  TestPki ca{dir.path};
  std::shared_ptr<PeerSecurity> node(NodeId id) {
    std::string name = "dns-node-" + std::to_string(id);
    return certs(ca.issue(name, "DNS:" + name), name);
  }
};

// ---- certificates ---------------------------------------------------------

TEST(PeerCertificates, MembersWithCertificatesExchangeMessages) {
  Pki pki;
  asio::io_context io;
  Node a(io, 1, "", using_security(pki.node(1))), b(io, 2, "", using_security(pki.node(2)));
  link(a, b);
  a.t->send(msg(MessageType::Append, 1, 2, 5));
  b.t->send(msg(MessageType::VoteResp, 2, 1, 6));
  ASSERT_TRUE(run_until(io, [&] { return a.got.size() == 1 && b.got.size() == 1; }));
  EXPECT_EQ(b.got[0].index, 5u);
  EXPECT_EQ(a.got[0].index, 6u);
  EXPECT_EQ(a.t->stats().auth_failures + b.t->stats().auth_failures, 0u);
}

TEST(PeerCertificates, ACertificateForNode2CannotSpeakAsNode1) {
  Pki pki;
  asio::io_context io;
  Node c(io, 3, "", using_security(pki.node(3)));
  c.add_peer(1, unused_port(io));
  c.add_peer(2, unused_port(io));
  TlsClient evil(io, c.port(), pki.node(2), "dns-node-3");
  ASSERT_TRUE(evil.handshake(io)) << evil.handshake_error.message();
  evil.watch_close();
  evil.write(codec::encode_frame(forged_append(1, 3)));
  ASSERT_TRUE(run_until(io, [&] { return evil.closed; }));
  EXPECT_TRUE(c.got.empty());
  EXPECT_EQ(c.t->stats().auth_failures, 1u);
  EXPECT_EQ(c.t->stats().frames_received, 0u);
}

TEST(PeerCertificates, ACertificateOfANonMemberIsRefusedAtTheHandshake) {
  Pki pki;
  asio::io_context io;
  Node c(io, 3, "", using_security(pki.node(3)));
  c.add_peer(1, unused_port(io));
  TlsClient stranger(io, c.port(), pki.node(2), "dns-node-3");
  stranger.watch_close();  // TLS 1.3: the client may finish first; the refusal then arrives as an alert
  stranger.handshake(io);
  if (!stranger.handshake_error) stranger.write(codec::encode_frame(forged_append(2, 3)));
  ASSERT_TRUE(run_until(io, [&] { return c.t->stats().auth_failures == 1; }));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(c.got.empty());
}

TEST(PeerCertificates, ACertificateFromAnotherCaIsRefused) {
  Pki pki;
  TestPki other(pki.dir.path / "other", "other-ca");
  asio::io_context io;
  Node c(io, 3, "", using_security(pki.node(3)));
  c.add_peer(1, unused_port(io));
  // Node 1's name, signed by another CA (the client trusts that CA only, so
  // it refuses too; either way nothing gets through).
  TlsClient stranger(io, c.port(), certs(other.issue("dns-node-1", "DNS:dns-node-1"), "dns-node-1"));
  stranger.handshake(io);
  if (!stranger.handshake_error) stranger.write(codec::encode_frame(forged_append(1, 3)));
  ASSERT_TRUE(run_until(io, [&] { return c.t->stats().auth_failures == 1; }));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(c.got.empty());
}

TEST(PeerCertificates, TheConnectingNodeChecksWhoAnswers) {
  // Node 1 thinks node 2 is at node 3's address: node 3's certificate does
  // not name node 2, so node 1 sends it nothing.
  Pki pki;
  asio::io_context io;
  Node a(io, 1, "", using_security(pki.node(1))), c(io, 3, "", using_security(pki.node(3)));
  c.add_peer(a);
  a.add_peer(2, c.port());
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return a.t->stats().auth_failures >= 1; }));
  EXPECT_FALSE(a.t->connected(2));
  EXPECT_EQ(a.t->stats().frames_sent, 0u);
  EXPECT_TRUE(c.got.empty());
}

TEST(PeerCertificates, ARemovedMemberIsRefusedWithItsStillValidCertificate) {
  Pki pki;
  asio::io_context io;
  Node a(io, 1, "", using_security(pki.node(1))), b(io, 2, "", using_security(pki.node(2)));
  link(a, b);
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  b.t->set_peers({});  // node 1 removed: its link is closed at once
  Index i = 1;
  ASSERT_TRUE(run_until(io, [&] {
    a.t->send(msg(MessageType::Heartbeat, 1, 2, ++i));
    return b.t->stats().auth_failures >= 2;  // two reconnections refused
  }));
  EXPECT_EQ(b.got.size(), 1u);
}

// ---- shared secret ----------------------------------------------------------

TEST(PeerSecret, ARemovedMemberIsRefused) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  link(a, b);
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
  b.t->set_peers({});
  Index i = 1;
  ASSERT_TRUE(run_until(io, [&] {
    a.t->send(msg(MessageType::Heartbeat, 1, 2, ++i));
    return b.t->stats().auth_failures >= 2;
  }));
  EXPECT_EQ(b.got.size(), 1u);
}

// ---- long-lived links ---------------------------------------------------------

TEST(PeerLinks, ABusyLinkRenewsItsKeysAndKeepsDelivering) {
  asio::io_context io;
  Transport::Options often;
  often.key_update_records = 8;
  Node a(io, 1, "test-secret", often), b(io, 2);
  link(a, b);
  // One message at a time, so that each goes in a batch of its own.
  for (Index i = 1; i <= 60; ++i) {
    Message m = msg(MessageType::Append, 1, 2, i);
    m.entries = {Entry{3, i, EntryType::Normal, std::string(3000, static_cast<char>('a' + i % 26))}};
    a.t->send(m);
    ASSERT_TRUE(run_until(io, [&] { return b.got.size() == i; }));
  }
  EXPECT_GE(a.t->stats().key_updates, 5u);
  EXPECT_EQ(b.got.back().entries.at(0).data, std::string(3000, static_cast<char>('a' + 60 % 26)));
  EXPECT_EQ(a.t->stats().reconnects, 0u);
  EXPECT_EQ(b.t->stats().auth_failures + b.t->stats().decode_failures, 0u);
}

// ---- replay -------------------------------------------------------------

// Sits between a node and its peer, forwarding both ways and recording what
// the connecting side sent.
struct Tap {
  Tap(asio::io_context& io, uint16_t upstream_port)
      : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), down(io), up(io) {
    acceptor.async_accept(down, [this, upstream_port](const boost::system::error_code& ec) {
      if (ec) return;
      up.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_port),
                       [this](const boost::system::error_code& ec2) {
                         if (ec2) return;
                         pump(down, up, to_up, true);
                         pump(up, down, to_down, false);
                       });
    });
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 4096>& buf, bool record) {
    from.async_read_some(asio::buffer(buf), [this, &from, &to, &buf, record](const boost::system::error_code& ec,
                                                                             std::size_t n) {
      if (ec) return;
      if (record) recorded.append(buf.data(), n);
      asio::async_write(to, asio::buffer(buf.data(), n), [this, &from, &to, &buf, record](
                                                              const boost::system::error_code& ec2, std::size_t) {
        if (!ec2) pump(from, to, buf, record);
      });
    });
  }
  tcp::acceptor acceptor;
  tcp::socket down, up;
  std::array<char, 4096> to_up{}, to_down{};
  std::string recorded;
};

TEST(PeerLinks, TrafficReplayedOnANewConnectionIsRejected) {
  asio::io_context io;
  Node a(io, 1), b(io, 2);
  b.add_peer(a);
  Tap tap(io, b.port());
  a.add_peer(2, tap.port());
  for (Index i = 1; i <= 3; ++i) {
    Message m = msg(MessageType::Append, 1, 2, i);
    m.entries = {Entry{3, i, EntryType::Normal, "record " + std::to_string(i)}};
    a.t->send(m);
  }
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 3; }));
  ASSERT_GT(tap.recorded.size(), 200u);
  const uint64_t failures = b.t->stats().auth_failures;

  // The whole recorded conversation (handshake and records), on a new connection.
  RawClient replay(io, b.port());
  replay.watch_close();
  replay.write(tap.recorded);
  ASSERT_TRUE(run_until(io, [&] { return replay.closed; }));
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(b.got.size(), 3u);
  EXPECT_EQ(b.t->stats().auth_failures, failures + 1);
}

// ---- joining --------------------------------------------------------------

constexpr NodeId kPlaceholder = ~NodeId{0};

TEST(PeerLinks, AJoiningNodeTakesMembersItDoesNotKnowYetByTheirCredential) {
  asio::io_context io;
  Transport::Options jo;
  jo.node_label = [](NodeId id) { return id == kPlaceholder ? std::string() : std::to_string(id); };
  Node joiner(io, 4, "test-secret", jo), member(io, 1);
  joiner.add_peer(kPlaceholder, member.port());  // only the --join address is known
  member.add_peer(joiner);                       // the member was told of it (MEMBER ADD)
  joiner.t->send(msg(MessageType::JoinRequest, 4, kPlaceholder));
  ASSERT_TRUE(run_until(io, [&] { return member.got.size() == 1; }));
  EXPECT_EQ(member.got[0].to, kNoNode);
  member.t->send(msg(MessageType::JoinResponse, 1, 4));
  ASSERT_TRUE(run_until(io, [&] { return joiner.got.size() == 1; }));
  EXPECT_EQ(joiner.got[0].from, 1u);

  // Its credential must still prove the sender its first frame names.
  TlsClient liar(io, joiner.port(), psk("test-secret", "dns-node-5"));
  ASSERT_TRUE(liar.handshake(io));
  liar.watch_close();
  liar.write(codec::encode_frame(forged_append(6, 4)));
  ASSERT_TRUE(run_until(io, [&] { return liar.closed; }));
  EXPECT_EQ(joiner.got.size(), 1u);
  EXPECT_EQ(joiner.t->stats().auth_failures, 1u);
}

// ---- listening ------------------------------------------------------------

TEST(PeerLinks, ANodeThatDoesNotListenOpensNoPortButStillConnects) {
  asio::io_context io;
  Transport::Options quiet;
  quiet.listen = false;
  Node a(io, 1, "test-secret", quiet), b(io, 2);
  EXPECT_EQ(a.port(), 0u);
  b.add_peer(1, unused_port(io));
  a.add_peer(b);
  a.t->send(msg(MessageType::Heartbeat, 1, 2, 1));
  ASSERT_TRUE(run_until(io, [&] { return b.got.size() == 1; }));
}

TEST(PeerLinks, TheLogNamesTheNodeByItsConfigId) {
  // Raft ids are config ids plus one; the log speaks of config ids.
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  {
    asio::io_context io;
    Transport::Options o;
    o.node_label = [](NodeId id) { return std::to_string(id - 1); };
    Node n(io, 1, "test-secret", o);
  }
  spdlog::set_default_logger(previous);
  EXPECT_NE(out.str().find("node 0 listening on"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("node 1 listening on"), std::string::npos) << out.str();
}

// ---- the node's own files ---------------------------------------------------

TEST(PeerSecurityFiles, TheCertificateMustNameThisNode) {
  TempDir dir;
  TestPki ca(dir.path);
  auto r = PeerSecurity::with_certificates(ca.issue("n1", "DNS:dns-node-1"), "dns-node-2");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cluster.tls.cert"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("dns-node-2"), std::string::npos) << r.error().message;
}

TEST(PeerSecurityFiles, TheKeyMustBelongToTheCertificate) {
  TempDir dir;
  TestPki ca(dir.path);
  PeerTlsFiles one = ca.issue("n1", "DNS:dns-node-1");
  PeerTlsFiles two = ca.issue("n2", "DNS:dns-node-2");
  auto r = PeerSecurity::with_certificates({one.ca, one.cert, two.key}, "dns-node-1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cluster.tls.key"), std::string::npos) << r.error().message;
}

TEST(PeerSecurityFiles, AMissingFileIsNamed) {
  TempDir dir;
  TestPki ca(dir.path);
  PeerTlsFiles f = ca.issue("n1", "DNS:dns-node-1");
  f.ca = (dir.path / "nowhere.pem").string();
  auto r = PeerSecurity::with_certificates(f, "dns-node-1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cluster.tls.ca: " + f.ca + ": cannot read"), std::string::npos)
      << r.error().message;
}

TEST(PeerSecurityFiles, TheCertificateMustVerifyUnderTheCa) {
  TempDir dir;
  TestPki ca(dir.path), other(dir.path / "other", "other-ca");
  PeerTlsFiles f = other.issue("n1", "DNS:dns-node-1");
  f.ca = ca.ca_path();
  auto r = PeerSecurity::with_certificates(f, "dns-node-1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not verify under the CA"), std::string::npos) << r.error().message;
}

TEST(PeerSecurityFiles, AnExpiredCertificateIsRefused) {
  TempDir dir;
  TestPki ca(dir.path);
  auto r = PeerSecurity::with_certificates(ca.issue("n1", "DNS:dns-node-1", 1800), "dns-node-1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
}

TEST(PeerSecurityFiles, AServerOnlyCertificateIsRefused) {
  TempDir dir;
  TestPki ca(dir.path);
  auto r = PeerSecurity::with_certificates(ca.issue("n1", "DNS:dns-node-1", 86400, "serverAuth"), "dns-node-1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("clientAuth"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace raft
