// Helpers for the peer transport tests: transports on loopback ephemeral
// ports driven by one io_context, and hand-driven clients (raw TCP or TLS).
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "raft/transport.h"

namespace raft::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Runs the io_context until `done` holds; fails the test after `limit`.
// The limit is a safety net against hangs, not a timing assertion.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline Message msg(MessageType type, NodeId from, NodeId to, Index index = 0) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = 3;
  m.index = index;
  return m;
}

inline std::string addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A transport plus everything it delivered.
struct Node {
  Node(asio::io_context& io, NodeId id_, std::string secret = "test-secret", Transport::Options opt = {},
       uint16_t port = 0)
      : id(id_), t(std::make_unique<Transport>(io, id, addr(port), Transport::PeerMap{}, std::move(secret), opt)) {
    t->on_message([this](Message m) { got.push_back(std::move(m)); });
    auto r = t->start();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  }
  uint16_t port() const { return t->listen_port(); }
  // Adds `other` to this node's peer set (only members may connect).
  void add_peer(const Node& other) { add_peer(other.id, other.port()); }
  void add_peer(NodeId peer, uint16_t port) {
    peers[peer] = addr(port);
    t->set_peers(peers);
  }
  NodeId id;
  std::unique_ptr<Transport> t;
  Transport::PeerMap peers;
  std::vector<Message> got;
};

// Makes each node a peer of the other.
inline void link(Node& a, Node& b) {
  a.add_peer(b);
  b.add_peer(a);
}

// A port nothing listens on (bound, then released).
inline uint16_t unused_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// A raw TCP client connection to a transport, for writing arbitrary bytes.
struct RawClient {
  RawClient(asio::io_context& io, uint16_t port) : socket(io) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void write(const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }
  // Reads (and ignores, e.g. a TLS alert) until the server closes the connection.
  void watch_close() {
    socket.async_read_some(asio::buffer(&byte, 1), [this](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        closed = true;
      } else {
        watch_close();
      }
    });
  }
  tcp::socket socket;
  char byte = 0;
  bool closed = false;
};

// The client end of a peer link driven by hand: a TLS handshake with the
// given credentials, then whatever bytes a test writes.
struct TlsClient {
  TlsClient(asio::io_context& io, uint16_t port, std::shared_ptr<PeerSecurity> sec, const std::string& server_name = "")
      : security(std::move(sec)), stream(io, security->context()) {
    security->prepare_client(stream.native_handle(), server_name);
    stream.lowest_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.lowest_layer().set_option(tcp::no_delay(true));  // as the transport does: no Nagle delay between records
    stream.async_handshake(asio::ssl::stream_base::client, [this](const boost::system::error_code& ec) {
      handshake_error = ec;
      handshake_done = true;
    });
  }
  // Runs `io` until the handshake has finished; true when it succeeded.
  bool handshake(asio::io_context& io) { return run_until(io, [&] { return handshake_done; }) && !handshake_error; }
  void write(const std::string& bytes) { asio::write(stream, asio::buffer(bytes)); }
  void watch_close() {
    stream.async_read_some(asio::buffer(&byte, 1), [this](const boost::system::error_code& ec, std::size_t) {
      closed = static_cast<bool>(ec);
    });
  }
  std::shared_ptr<PeerSecurity> security;
  asio::ssl::stream<tcp::socket> stream;
  bool handshake_done = false;
  boost::system::error_code handshake_error;
  char byte = 0;
  bool closed = false;
};

inline std::shared_ptr<PeerSecurity> psk(const std::string& secret, const std::string& name) {
  auto s = PeerSecurity::with_secret(secret, name);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : nullptr;
}

inline std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

}  // namespace raft::testing
