// The zone follower end to end on loopback, against a primary made of the
// node's own listeners and transfer handler: the first AXFR, a NOTIFY
// followed by IXFR, an IXFR that does not fit the copy falling back to
// AXFR, a TSIG-required primary, a primary that is down, and leadership.
#include "server/zone_follower.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "dns/message.h"
#include "server/query_stats.h"
#include "server/tcp_server.h"
#include "server/udp_server.h"
#include "server/xfr.h"

namespace server {
namespace {

const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

dns::Name name(const std::string& text) { return dns::Name::from_text(text).value(); }

dns::RR record(const std::string& owner, uint16_t type, const std::string& rdata_text, uint32_t ttl = 300) {
  return dns::RR{name(owner), type, dns::rrclass::IN, ttl, dns::rdata_from_text(type, rdata_text, dns::Name()).value()};
}

dns::RR soa(uint32_t serial) {
  // refresh 3600: only NOTIFY and leadership make checks in these tests.
  return record("sec.example.", dns::rrtype::SOA,
                "ns1.sec.example. host.sec.example. " + std::to_string(serial) + " 3600 1 86400 300");
}

store::Op add(dns::RR rr) { return {store::OpKind::Add, std::move(rr)}; }
store::Op remove(dns::RR rr) { return {store::OpKind::Remove, std::move(rr)}; }

/// A loopback port free for UDP and TCP right now.
uint16_t free_port() {
  static std::mt19937 rng{std::random_device{}()};
  for (int i = 0; i < 200; ++i) {
    uint16_t port = static_cast<uint16_t>(20000 + rng() % 12000);
    bool ok = true;
    for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
      int fd = ::socket(AF_INET, type, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
      ok = ok && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
    }
    if (ok) return port;
  }
  return 0;
}

std::set<std::string> zone_texts(const store::Store& s) {
  std::set<std::string> out;
  s.snapshot()->for_each_record([&](const dns::RR& rr) {
    if (!rr.owner.is_subdomain_of(name("sec.example."))) return;
    out.insert(rr.owner.lowercased().to_text() + " " + dns::type_to_text(rr.type) + " " + std::to_string(rr.ttl) +
               " " + dns::rdata_to_text(rr.type, rr.rdata));
  });
  return out;
}

std::optional<uint32_t> serial_of(const store::Store& s) {
  const zone::Zone* z = s.snapshot()->find_zone(name("sec.example."));
  if (!z || z->apex() != name("sec.example.")) return std::nullopt;
  return dns::soa_decode(z->soa()->rdatas.front())->serial;
}

/// An outside primary on loopback: the node's UDP and TCP listeners with a
/// transfer handler over a store of its own.
class Primary {
 public:
  explicit Primary(std::optional<dns::tsig::Key> key = std::nullopt) : port_(free_port()) {
    XfrOptions xo;
    std::vector<dns::tsig::Key> keys;
    if (key) {
      keys.push_back(*key);
      xo.keys = keys;
      xo.acl.keys = std::vector<dns::Name>{key->name};
    } else {
      xo.acl.allow = std::vector<Network>{Network::parse("127.0.0.0/8").value()};
    }
    xfr_ = std::make_unique<XfrHandler>(store, std::move(xo));
    UdpOptions uo;
    uo.address = ListenAddress{"127.0.0.1", port_, false};
    uo.rrl.responses_per_second = 0;
    uo.tsig_keys = keys;
    udp_ = std::make_unique<UdpServer>(store, stats_, uo);
    TcpOptions to;
    to.address = ListenAddress{"127.0.0.1", port_, false};
    to.tsig_keys = keys;
    tcp_ = std::make_unique<TcpServer>(store, stats_, to);
    tcp_->set_xfr_handler(xfr_.get());
  }
  ~Primary() { stop(); }
  void start() {
    ASSERT_TRUE(udp_->bind().ok());
    ASSERT_TRUE(tcp_->bind().ok());
    udp_->start();
    tcp_->start();
    running_ = true;
  }
  void stop() {
    if (!running_) return;
    running_ = false;
    tcp_->stop();
    udp_->stop();
  }
  void apply(std::vector<store::Op> ops) {
    store::Change c;
    c.origin = 9;
    c.ops = std::move(ops);
    ASSERT_TRUE(store.apply(c, ++index_).all_ok());
  }
  uint16_t port() const { return port_; }
  store::Store store;

 private:
  uint16_t port_;
  QueryStats stats_;
  std::unique_ptr<XfrHandler> xfr_;
  std::unique_ptr<UdpServer> udp_;
  std::unique_ptr<TcpServer> tcp_;
  uint64_t index_ = 0;
  bool running_ = false;
};

/// The cluster's side: a store, a follower over it whose changes are applied
/// at once, and a leadership switch.
class Cluster {
 public:
  Cluster(uint16_t primary_port, std::optional<dns::tsig::Key> key = std::nullopt) {
    FollowerOptions o;
    FollowedZone z;
    z.zone = name("sec.example.");
    z.host = "127.0.0.1";
    z.port = primary_port;
    z.key = key;
    o.zones.push_back(z);
    o.leader_poll_ms = 20;
    o.timeout_ms = 1000;
    follower = std::make_unique<ZoneFollower>(
        store, std::move(o), [this] { return leading.load(); },
        [this](store::Change c, std::function<void(util::Result<store::ApplyResult>)> done) {
          std::lock_guard<std::mutex> lock(mu_);
          done(store.apply(c, ++index_));
        });
  }
  ~Cluster() { follower->stop(); }

  /// Waits (5 s at most) for the zone to reach `serial`.
  bool wait_serial(uint32_t serial) {
    for (int i = 0; i < 500; ++i) {
      if (serial_of(store) == serial) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  /// The primary's NOTIFY, delivered as the listener would.
  uint16_t notify(uint32_t serial, const dns::tsig::Key* key = nullptr) {
    uint8_t buf[512];
    dns::MessageWriter w(buf, sizeof buf);
    dns::Header h;
    h.id = 77;
    h.flags = static_cast<uint16_t>((dns::opcode::NOTIFY << 11) | dns::flag::AA);
    w.set_header(h);
    w.add_question(name("sec.example."), dns::rrtype::SOA, dns::rrclass::IN);
    dns::RR s = soa(serial);
    w.add_rr(dns::Section::Answer, s.owner, s.type, s.rclass, s.ttl, s.rdata);
    std::string msg(reinterpret_cast<char*>(buf), w.finish());
    if (key) dns::tsig::sign(msg, *key, static_cast<uint64_t>(::time(nullptr)));
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    uint8_t out[1024];
    size_t n = follower->answer_notify(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(),
                                       reinterpret_cast<const sockaddr*>(&peer), out, sizeof out);
    return n >= 4 ? out[3] & 0xF : 0xFFFF;
  }
  std::string metrics() const {
    PrometheusWriter w;
    follower->render_metrics(w);
    return w.text();
  }

  store::Store store;
  std::atomic<bool> leading{true};
  std::unique_ptr<ZoneFollower> follower;

 private:
  std::mutex mu_;
  uint64_t index_ = 0;
};

std::vector<store::Op> base_zone() {
  return {add(soa(1)), add(record("sec.example.", dns::rrtype::NS, "ns1.sec.example.")),
          add(record("ns1.sec.example.", dns::rrtype::A, "127.0.0.1")),
          add(record("www.sec.example.", dns::rrtype::A, "192.0.2.1")),
          add(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example."))};
}

bool has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

TEST(ZoneFollower, CopiesThePrimaryThenFollowsItsNotifiesByIxfr) {
  Primary p;
  p.apply(base_zone());
  p.start();
  Cluster c(p.port());
  c.follower->start();
  ASSERT_TRUE(c.wait_serial(1));
  EXPECT_EQ(zone_texts(c.store), zone_texts(p.store));
  p.apply({add(soa(2)), add(record("new.sec.example.", dns::rrtype::A, "192.0.2.7"))});
  EXPECT_EQ(c.notify(2), dns::rcode::NOERROR);
  ASSERT_TRUE(c.wait_serial(2));
  EXPECT_EQ(zone_texts(c.store), zone_texts(p.store));
  const std::string m = c.metrics();
  EXPECT_TRUE(has(m, "dnsnode_transfers_in_total{zone=\"sec.example.\",kind=\"axfr\",result=\"committed\"} 1")) << m;
  EXPECT_TRUE(has(m, "dnsnode_transfers_in_total{zone=\"sec.example.\",kind=\"ixfr\",result=\"committed\"} 1")) << m;
  EXPECT_TRUE(has(m, "dnsnode_secondary_refresh_state{zone=\"sec.example.\",state=\"current\"} 1")) << m;
  EXPECT_TRUE(has(m, "dnsnode_secondary_primary_serial{zone=\"sec.example.\"} 2")) << m;
  EXPECT_TRUE(has(m, "dnsnode_notify_received_total{result=\"accepted\"} 1")) << m;
}

TEST(ZoneFollower, AnIxfrThatDoesNotFitTheCopyFallsBackToAxfr) {
  Primary p;
  p.apply(base_zone());
  p.start();
  Cluster c(p.port());
  c.follower->start();
  ASSERT_TRUE(c.wait_serial(1));
  // The copy lost the MX at the same serial; the primary's next diff removes it.
  store::Change lose;
  lose.ops = {add(soa(1)), remove(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example."))};
  lose.transfer = store::TransferIn{name("sec.example."), 1u};
  ASSERT_TRUE(c.store.apply(lose, 1000).all_ok());
  p.apply({add(soa(2)), remove(record("mail.sec.example.", dns::rrtype::MX, "10 mx.sec.example.")),
           add(record("www.sec.example.", dns::rrtype::A, "192.0.2.8"))});
  c.notify(2);
  ASSERT_TRUE(c.wait_serial(2));
  EXPECT_EQ(zone_texts(c.store), zone_texts(p.store));
  const std::string m = c.metrics();
  EXPECT_TRUE(has(m, "kind=\"ixfr\",result=\"diverged\"} 1")) << m;
  EXPECT_TRUE(has(m, "kind=\"axfr\",result=\"committed\"} 2")) << m;
}

TEST(ZoneFollower, FollowsAPrimaryThatRequiresTsig) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  Primary p(key);
  p.apply(base_zone());
  p.start();
  Cluster c(p.port(), key);
  c.follower->start();
  ASSERT_TRUE(c.wait_serial(1));
  p.apply({add(soa(2)), add(record("new.sec.example.", dns::rrtype::A, "192.0.2.7"))});
  EXPECT_EQ(c.notify(2), dns::rcode::REFUSED);  // unsigned
  EXPECT_EQ(c.notify(2, &key), dns::rcode::NOERROR);
  ASSERT_TRUE(c.wait_serial(2));
  EXPECT_EQ(zone_texts(c.store), zone_texts(p.store));
}

TEST(ZoneFollower, WithoutTheKeyAPrimaryRequiringTsigGivesNothing) {
  const dns::tsig::Key key = dns::tsig::make_key("xfr-key.", "hmac-sha256", kSecret).value();
  Primary p(key);
  p.apply(base_zone());
  p.start();
  Cluster c(p.port());  // no key: the SOA answers, the transfer is refused
  c.follower->start();
  std::string m;
  for (int i = 0; i < 300 && !has(m, "result=\"rcode\""); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m = c.metrics();
  }
  EXPECT_TRUE(has(m, "dnsnode_transfers_in_total{zone=\"sec.example.\",kind=\"axfr\",result=\"rcode\"} 1")) << m;
  EXPECT_TRUE(has(m, "state=\"retrying\"} 1")) << m;
  EXPECT_FALSE(serial_of(c.store).has_value());
}

TEST(ZoneFollower, OnlyTheLeaderFollowsAndANewLeaderChecksAtOnce) {
  Primary p;
  p.apply(base_zone());
  p.start();
  Cluster c(p.port());
  c.leading = false;
  c.follower->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(serial_of(c.store).has_value());
  EXPECT_EQ(c.notify(1), dns::rcode::NOERROR);  // answered, not acted on
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(serial_of(c.store).has_value());
  EXPECT_TRUE(has(c.metrics(), "state=\"standby\"} 1"));
  c.leading = true;
  ASSERT_TRUE(c.wait_serial(1));
}

TEST(ZoneFollower, WhenThePrimaryIsDownTheCopyStaysAndChecksAreRetried) {
  Primary p;
  p.apply(base_zone());
  p.start();
  Cluster c(p.port());
  c.follower->start();
  ASSERT_TRUE(c.wait_serial(1));
  p.stop();
  c.notify(2);
  std::string m;
  for (int i = 0; i < 300 && !has(m, "result=\"network\""); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m = c.metrics();
  }
  EXPECT_TRUE(has(m, "dnsnode_secondary_soa_checks_total{zone=\"sec.example.\",result=\"network\"}")) << m;
  EXPECT_TRUE(has(m, "state=\"retrying\"} 1")) << m;
  EXPECT_EQ(serial_of(c.store), 1u);
  EXPECT_EQ(zone_texts(c.store).size(), 5u);
}

}  // namespace
}  // namespace server
