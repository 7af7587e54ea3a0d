// NOTIFY out (RFC 1996) against a fake secondary on loopback: retried until
// answered, sent again while the secondary still serves an older serial,
// and sent by the leader only.
#include "server/notify.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "dns/message.h"

namespace server {
namespace {

dns::RR soa(uint32_t serial) {
  return dns::RR{dns::Name::from_text("example.com.").value(), dns::rrtype::SOA, dns::rrclass::IN, 300,
                 dns::rdata_from_text(dns::rrtype::SOA,
                                      "ns1.example.com. host.example.com. " + std::to_string(serial) + " 3600 900 604800 300",
                                      dns::Name())
                     .value()};
}

/// A secondary that answers NOTIFY and SOA queries as `decide` says.
class FakeSecondary {
 public:
  /// decide(opcode, n-th message of that opcode) -> answer it, and the serial an SOA answer carries.
  using Decide = std::function<bool(uint8_t opcode, int index, uint32_t* serial)>;
  explicit FakeSecondary(Decide decide) : decide_(std::move(decide)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeSecondary() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int notifies() const { return notifies_.load(); }
  int queries() const { return queries_.load(); }

 private:
  void run() {
    uint8_t buf[2048];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) continue;
      auto m = dns::parse_message(buf, static_cast<size_t>(n));
      if (!m || m->questions.empty()) continue;
      const uint8_t opcode = m->header.opcode();
      const int index = opcode == dns::opcode::NOTIFY ? notifies_++ : queries_++;
      uint32_t serial = 0;
      if (!decide_(opcode, index, &serial)) continue;
      uint8_t out[512];
      dns::MessageWriter w(out, sizeof out);
      dns::Header h;
      h.id = m->header.id;
      h.flags = static_cast<uint16_t>(dns::flag::QR | (opcode << 11) | (opcode == 0 ? dns::flag::AA : 0));
      w.set_header(h);
      w.add_question(m->questions[0].name, dns::rrtype::SOA, dns::rrclass::IN);
      if (opcode == dns::opcode::QUERY) {
        dns::RR s = soa(serial);
        w.add_rr(dns::Section::Answer, s.owner, s.type, s.rclass, s.ttl, s.rdata);
      }
      size_t len = w.finish();
      ::sendto(fd_, out, len, 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }
  Decide decide_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> notifies_{0}, queries_{0};
  std::thread thread_;
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Change c;
    c.ops.push_back({store::OpKind::Add, soa(10)});
    ASSERT_TRUE(store_.apply(c, 1).all_ok());
  }
  NotifyOptions options(uint16_t port) {
    NotifyOptions o;
    o.policy.targets = {NotifyTarget{"127.0.0.1", port}};
    o.first_retry_ms = 40;
    o.max_retry_ms = 200;
    o.verify_after_ms = 20;
    o.leader_poll_ms = 10;
    return o;
  }
  static bool wait_for(const std::function<bool()>& done, int ms = 5000) {
    for (int waited = 0; waited < ms; waited += 10) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }
  store::Store store_;
};

TEST_F(NotifierTest, ANotifyIsSentAgainUntilTheSecondaryAnswers) {
  FakeSecondary secondary([](uint8_t opcode, int index, uint32_t* serial) {
    *serial = 10;
    return opcode != dns::opcode::NOTIFY || index >= 2;  // the first two NOTIFYs go unanswered
  });
  Notifier n(store_, options(secondary.port()), [] { return true; });
  ASSERT_TRUE(n.start());
  ASSERT_TRUE(wait_for([&] { return n.counters().answered.load() == 1; }));
  EXPECT_EQ(secondary.notifies(), 3);
  EXPECT_EQ(n.counters().sent.load(), 3u);
  EXPECT_EQ(n.counters().failed.load(), 2u);
  n.stop();
}

TEST_F(NotifierTest, ASecondaryStillServingAnOlderSerialIsNotifiedAgain) {
  // It answers each NOTIFY, but the first time it is asked its SOA it still
  // has serial 9 (it checked a primary that had not applied the change).
  FakeSecondary secondary([](uint8_t opcode, int index, uint32_t* serial) {
    *serial = opcode == dns::opcode::QUERY && index == 0 ? 9 : 10;
    return true;
  });
  Notifier n(store_, options(secondary.port()), [] { return true; });
  ASSERT_TRUE(n.start());
  ASSERT_TRUE(wait_for([&] { return secondary.queries() >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(secondary.notifies(), 2);  // once, then again after the old serial
  EXPECT_EQ(secondary.queries(), 2);   // and nothing more once it serves 10
  n.stop();
}

TEST_F(NotifierTest, OnlyTheLeaderNotifiesAndANewLeaderNotifiesEveryZoneOnce) {
  FakeSecondary secondary([](uint8_t, int, uint32_t* serial) {
    *serial = 10;
    return true;
  });
  std::atomic<bool> leader{false};
  Notifier n(store_, options(secondary.port()), [&] { return leader.load(); });
  ASSERT_TRUE(n.start());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(secondary.notifies(), 0);
  leader = true;
  ASSERT_TRUE(wait_for([&] { return secondary.notifies() == 1; }));
  n.stop();
}

TEST_F(NotifierTest, ANewSerialIsAnnouncedOnceEveryNodeServesIt) {
  // A node that answers the SOA with serial 9 three times, then 10.
  FakeSecondary member([](uint8_t, int index, uint32_t* serial) {
    *serial = index < 3 ? 9 : 10;
    return true;
  });
  FakeSecondary secondary([](uint8_t, int, uint32_t* serial) {
    *serial = 10;
    return true;
  });
  NotifyOptions o = options(secondary.port());
  o.members = {NotifyTarget{"127.0.0.1", member.port()}};
  o.member_wait_ms = 5000;
  Notifier n(store_, o, [] { return true; });
  ASSERT_TRUE(n.start());
  ASSERT_TRUE(wait_for([&] { return secondary.notifies() == 1; }));
  EXPECT_GE(member.queries(), 4);  // asked until it served serial 10
  n.stop();
}

}  // namespace
}  // namespace server
