// The UPDATE front end: section checks (RFC 2136 §3.1, §3.2, §3.4.1), TSIG
// outcomes (RFC 8945 §5.2-§5.3), key policy and the unsigned-update rule,
// against a real store with a submitter that applies at once.
#include "server/update.h"

#include <gtest/gtest.h>

#include <cstring>
#include <netinet/in.h>

#include "dns/message.h"
#include "dns/tsig.h"

namespace server {
namespace {

constexpr uint64_t kNow = 1700000000;
const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

dns::RR record(const char* owner, uint16_t type, const char* rdata_text, uint32_t ttl = 300,
               uint16_t rclass = dns::rrclass::IN) {
  dns::RR rr;
  rr.owner = name(owner);
  rr.type = type;
  rr.rclass = rclass;
  rr.ttl = ttl;
  if (rdata_text) rr.rdata = dns::rdata_from_text(type, rdata_text, dns::Name()).value();
  return rr;
}

/// Builds an UPDATE message: zone section, prerequisites, updates.
std::string update_message(const char* zone, const std::vector<dns::RR>& prereqs, const std::vector<dns::RR>& updates,
                           uint16_t zone_type = dns::rrtype::SOA, uint16_t zone_class = dns::rrclass::IN,
                           int zones = 1) {
  uint8_t buf[4096];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = 0x4242;
  h.flags = static_cast<uint16_t>(dns::opcode::UPDATE << 11);
  w.set_header(h);
  for (int i = 0; i < zones; ++i) w.add_question(name(zone), zone_type, zone_class);
  for (const dns::RR& rr : prereqs) w.add_rr(dns::Section::Answer, rr.owner, rr.type, rr.rclass, rr.ttl, rr.rdata);
  for (const dns::RR& rr : updates) w.add_rr(dns::Section::Authority, rr.owner, rr.type, rr.rclass, rr.ttl, rr.rdata);
  size_t n = w.finish();
  return std::string(reinterpret_cast<char*>(buf), n);
}

sockaddr_in loopback() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

class UpdateHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Change seed;
    for (const dns::RR& rr :
         {record("example.com.", dns::rrtype::SOA, "ns1.example.com. host.example.com. 1 3600 900 604800 300"),
          record("example.com.", dns::rrtype::NS, "ns1.example.com."),
          record("www.example.com.", dns::rrtype::A, "192.0.2.1")}) {
      seed.ops.push_back({store::OpKind::Add, rr});
    }
    ASSERT_TRUE(store_.apply(seed, ++index_).all_ok());
    key_ = dns::tsig::make_key("ddns-key.", "hmac-sha256", kSecret).value();
  }

  UpdateHandler make(UpdateOptions options) {
    return UpdateHandler(
        store_,
        [this](store::Change c, std::function<void(util::Result<store::ApplyResult>)> done) {
          ++submitted_;
          if (!submit_error_.empty()) return done(util::make_error(submit_kind_, submit_error_));
          done(store_.apply(c, ++index_));
        },
        std::move(options), [this] { return now_; });
  }

  UpdateOptions signed_only() {
    UpdateOptions o;
    o.keys.push_back(UpdateKey{key_, false, {}});
    return o;
  }

  /// Sends `msg` and returns the parsed answer.
  dns::Message send(UpdateHandler& h, const std::string& msg, std::string* raw = nullptr) {
    sockaddr_in peer = loopback();
    std::string answer;
    bool called = false;
    h.handle(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), reinterpret_cast<sockaddr*>(&peer),
             [&](std::string a) {
               answer = std::move(a);
               called = true;
             });
    EXPECT_TRUE(called);
    if (raw) *raw = answer;
    auto parsed = dns::parse_message(reinterpret_cast<const uint8_t*>(answer.data()), answer.size());
    EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
    return parsed ? parsed.value() : dns::Message{};
  }

  bool has_a(const char* owner) {
    auto snap = store_.snapshot();
    const zone::Zone* z = snap->find_zone(name(owner));
    const zone::Node* n = z ? z->find(name(owner)) : nullptr;
    return n && n->find(dns::rrtype::A);
  }

  store::Store store_;
  uint64_t index_ = 0;
  uint64_t now_ = kNow;
  int submitted_ = 0;
  std::string submit_error_;
  util::ErrorKind submit_kind_ = util::ErrorKind::NoQuorum;
  dns::tsig::Key key_;
};

TEST_F(UpdateHandlerTest, SignedUpdateCommitsAndTheAnswerIsSignedWithTheRequestMac) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7", 60)});
  std::string request_mac = dns::tsig::sign(msg, key_, kNow);
  std::string raw;
  dns::Message answer = send(h, msg, &raw);
  EXPECT_EQ(answer.rcode(), dns::rcode::NOERROR);
  EXPECT_EQ(answer.header.id, 0x4242);
  EXPECT_EQ(answer.header.opcode(), dns::opcode::UPDATE);
  EXPECT_TRUE(answer.header.flags & dns::flag::QR);
  ASSERT_EQ(answer.questions.size(), 1u);  // the zone section is echoed
  EXPECT_TRUE(has_a("new.example.com."));
  ASSERT_TRUE(answer.tsig);
  std::vector<dns::tsig::Key> keys = {key_};
  auto v = dns::tsig::verify(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), answer, keys, kNow, request_mac);
  EXPECT_EQ(v.error, 0) << v.reason;
}

TEST_F(UpdateHandlerTest, UnsignedUpdateIsRefusedUnlessFromAnAllowedNetwork) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  EXPECT_EQ(send(h, msg).rcode(), dns::rcode::REFUSED);
  EXPECT_EQ(submitted_, 0);
  UpdateOptions o = signed_only();
  o.allow_unsigned_from.push_back(Network::parse("127.0.0.0/8").value());
  UpdateHandler open = make(o);
  EXPECT_EQ(send(open, msg).rcode(), dns::rcode::NOERROR);
  EXPECT_TRUE(has_a("new.example.com."));
  UpdateOptions elsewhere = signed_only();
  elsewhere.allow_unsigned_from.push_back(Network::parse("10.0.0.0/8").value());
  UpdateHandler closed = make(elsewhere);
  EXPECT_EQ(send(closed, msg).rcode(), dns::rcode::REFUSED);
}

TEST_F(UpdateHandlerTest, UnknownKeyIsNotAuthWithAnUnsignedBadKey) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  dns::tsig::Key other = dns::tsig::make_key("other-key.", "hmac-sha256", kSecret).value();
  dns::tsig::sign(msg, other, kNow);
  dns::Message answer = send(h, msg);
  EXPECT_EQ(answer.rcode(), dns::rcode::NOTAUTH);
  ASSERT_TRUE(answer.tsig);
  auto rd = dns::tsig::parse_rdata(answer.tsig->rdata).value();
  EXPECT_EQ(rd.error, dns::rcode::BADKEY);
  EXPECT_TRUE(rd.mac.empty());
  EXPECT_EQ(submitted_, 0);
}

TEST_F(UpdateHandlerTest, AlteredMessageIsNotAuthWithAnUnsignedBadSig) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  dns::tsig::sign(msg, key_, kNow);
  size_t at = msg.find(std::string("\xc0\x00\x02\x07", 4));
  ASSERT_NE(at, std::string::npos);
  msg[at + 3] = 8;
  dns::Message answer = send(h, msg);
  EXPECT_EQ(answer.rcode(), dns::rcode::NOTAUTH);
  ASSERT_TRUE(answer.tsig);
  auto rd = dns::tsig::parse_rdata(answer.tsig->rdata).value();
  EXPECT_EQ(rd.error, dns::rcode::BADSIG);
  EXPECT_TRUE(rd.mac.empty());
  EXPECT_FALSE(has_a("new.example.com."));
}

TEST_F(UpdateHandlerTest, ClockSkewIsNotAuthWithASignedBadTime) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  std::string request_mac = dns::tsig::sign(msg, key_, kNow);
  now_ = kNow + 1000;
  std::string raw;
  dns::Message answer = send(h, msg, &raw);
  EXPECT_EQ(answer.rcode(), dns::rcode::NOTAUTH);
  ASSERT_TRUE(answer.tsig);
  auto rd = dns::tsig::parse_rdata(answer.tsig->rdata).value();
  EXPECT_EQ(rd.error, dns::rcode::BADTIME);
  EXPECT_EQ(rd.time_signed, kNow);  // the request's time; ours in other data
  ASSERT_EQ(rd.other.size(), 6u);
  std::vector<dns::tsig::Key> keys = {key_};
  auto v = dns::tsig::verify(reinterpret_cast<const uint8_t*>(raw.data()), raw.size(), answer, keys, kNow, request_mac);
  EXPECT_EQ(v.error, 0) << v.reason;  // signed with the request's key
  EXPECT_FALSE(has_a("new.example.com."));
}

TEST_F(UpdateHandlerTest, ZoneSectionChecks) {
  UpdateOptions o;
  o.allow_unsigned_from.push_back(Network::parse("127.0.0.1").value());
  UpdateHandler h = make(o);
  EXPECT_EQ(send(h, update_message("example.com.", {}, {}, dns::rrtype::SOA, dns::rrclass::IN, 2)).rcode(),
            dns::rcode::FORMERR);
  EXPECT_EQ(send(h, update_message("example.com.", {}, {}, dns::rrtype::SOA, dns::rrclass::IN, 0)).rcode(),
            dns::rcode::FORMERR);
  EXPECT_EQ(send(h, update_message("example.com.", {}, {}, dns::rrtype::A)).rcode(), dns::rcode::FORMERR);
  EXPECT_EQ(send(h, update_message("example.com.", {}, {}, dns::rrtype::SOA, dns::rrclass::CH)).rcode(),
            dns::rcode::NOTAUTH);
  EXPECT_EQ(send(h, update_message("example.org.", {}, {})).rcode(), dns::rcode::NOTAUTH);
  EXPECT_EQ(send(h, update_message("www.example.com.", {}, {})).rcode(), dns::rcode::NOTAUTH);
  EXPECT_EQ(submitted_, 0);
}

TEST_F(UpdateHandlerTest, SectionFormsThatAreNotAllowedAreFormErr) {
  UpdateOptions o;
  o.allow_unsigned_from.push_back(Network::parse("127.0.0.1").value());
  UpdateHandler h = make(o);
  auto rcode = [&](std::vector<dns::RR> prereqs, std::vector<dns::RR> updates) {
    return send(h, update_message("example.com.", prereqs, updates)).rcode();
  };
  // §3.2: prerequisites have TTL 0; ANY/NONE carry no rdata; other classes are wrong.
  EXPECT_EQ(rcode({record("www.example.com.", dns::rrtype::A, nullptr, 5, dns::rrclass::ANY)}, {}), dns::rcode::FORMERR);
  EXPECT_EQ(rcode({record("www.example.com.", dns::rrtype::A, "192.0.2.1", 0, dns::rrclass::ANY)}, {}),
            dns::rcode::FORMERR);
  EXPECT_EQ(rcode({record("www.example.com.", dns::rrtype::A, nullptr, 0, dns::rrclass::CH)}, {}), dns::rcode::FORMERR);
  // §3.4.1.3: adds of meta types, deletions with a TTL, a bad class.
  EXPECT_EQ(rcode({}, {record("www.example.com.", dns::rrtype::ANY, nullptr, 0)}), dns::rcode::FORMERR);
  EXPECT_EQ(rcode({}, {record("www.example.com.", dns::rrtype::A, nullptr, 60, dns::rrclass::ANY)}), dns::rcode::FORMERR);
  EXPECT_EQ(rcode({}, {record("www.example.com.", dns::rrtype::AXFR, nullptr, 0, dns::rrclass::ANY)}),
            dns::rcode::FORMERR);
  EXPECT_EQ(rcode({}, {record("www.example.com.", dns::rrtype::A, "192.0.2.1", 60, dns::rrclass::NONE)}),
            dns::rcode::FORMERR);
  EXPECT_EQ(rcode({}, {record("www.example.com.", dns::rrtype::A, "192.0.2.1", 60, dns::rrclass::CH)}),
            dns::rcode::FORMERR);
  // Names outside the zone.
  EXPECT_EQ(rcode({record("www.example.org.", dns::rrtype::ANY, nullptr, 0, dns::rrclass::ANY)}, {}),
            dns::rcode::NOTZONE);
  EXPECT_EQ(rcode({}, {record("www.example.org.", dns::rrtype::A, "192.0.2.1")}), dns::rcode::NOTZONE);
  EXPECT_EQ(submitted_, 0);
  // Well-formed: each update kind reaches apply.
  EXPECT_EQ(rcode({record("www.example.com.", dns::rrtype::ANY, nullptr, 0, dns::rrclass::ANY)},
                  {record("www.example.com.", dns::rrtype::A, "192.0.2.1", 0, dns::rrclass::NONE),
                   record("www.example.com.", dns::rrtype::TXT, nullptr, 0, dns::rrclass::ANY),
                   record("gone.example.com.", dns::rrtype::ANY, nullptr, 0, dns::rrclass::ANY)}),
            dns::rcode::NOERROR);
  EXPECT_EQ(submitted_, 1);
  EXPECT_FALSE(has_a("www.example.com."));
}

TEST_F(UpdateHandlerTest, PrerequisiteFailureComesBackFromApply) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {record("nothing.example.com.", dns::rrtype::ANY, nullptr, 0, dns::rrclass::ANY)},
                                   {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  dns::tsig::sign(msg, key_, kNow);
  EXPECT_EQ(send(h, msg).rcode(), dns::rcode::NXDOMAIN);
  EXPECT_FALSE(has_a("new.example.com."));
}

TEST_F(UpdateHandlerTest, SubmitErrorIsServFail) {
  UpdateHandler h = make(signed_only());
  submit_error_ = "no quorum: 1 of 3 nodes reachable";
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  dns::tsig::sign(msg, key_, kNow);
  EXPECT_EQ(send(h, msg).rcode(), dns::rcode::SERVFAIL);
}

TEST_F(UpdateHandlerTest, TheRcodeOfASubmitErrorFollowsItsKind) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {record("new.example.com.", dns::rrtype::A, "192.0.2.7")});
  dns::tsig::sign(msg, key_, kNow);
  submit_error_ = "timeout: not committed within 3000 ms; its outcome is unknown";
  submit_kind_ = util::ErrorKind::OutcomeUnknown;
  EXPECT_EQ(send(h, msg).rcode(), dns::rcode::SERVFAIL);
  submit_error_ = "this node was removed from the cluster; send changes to a member";
  submit_kind_ = util::ErrorKind::Refused;
  EXPECT_EQ(send(h, msg).rcode(), dns::rcode::REFUSED);
}

TEST_F(UpdateHandlerTest, PolicyLimitsNamesAndTypes) {
  UpdateOptions o;
  UpdateGrant sub;
  sub.match = UpdateGrant::Match::Subdomain;
  sub.name = name("dyn.example.com.");
  sub.types = {dns::rrtype::A};
  UpdateGrant self;
  self.match = UpdateGrant::Match::Self;
  o.keys.push_back(UpdateKey{key_, true, {sub, self}});
  UpdateHandler h = make(o);
  auto rcode = [&](std::vector<dns::RR> updates) {
    std::string msg = update_message("example.com.", {}, updates);
    dns::tsig::sign(msg, key_, kNow);
    return send(h, msg).rcode();
  };
  EXPECT_EQ(rcode({record("pc.dyn.example.com.", dns::rrtype::A, "192.0.2.9")}), dns::rcode::NOERROR);
  EXPECT_EQ(rcode({record("pc.dyn.example.com.", dns::rrtype::TXT, "\"x\"")}), dns::rcode::REFUSED);
  EXPECT_EQ(rcode({record("pc.example.com.", dns::rrtype::A, "192.0.2.9")}), dns::rcode::REFUSED);
  EXPECT_EQ(rcode({record("pc.dyn.example.com.", dns::rrtype::ANY, nullptr, 0, dns::rrclass::ANY)}), dns::rcode::REFUSED);
  // One refused record refuses the whole update.
  EXPECT_EQ(rcode({record("b.dyn.example.com.", dns::rrtype::A, "192.0.2.9"), record("b.example.com.", dns::rrtype::A, "192.0.2.9")}),
            dns::rcode::REFUSED);
  EXPECT_FALSE(has_a("b.dyn.example.com."));
  // "self": the key's own name, any type.
  EXPECT_EQ(rcode({record("ddns-key.example.com.", dns::rrtype::A, "192.0.2.9")}), dns::rcode::REFUSED);
}

TEST_F(UpdateHandlerTest, GarbageIsFormErrOrSilence) {
  UpdateHandler h = make(signed_only());
  std::string msg = update_message("example.com.", {}, {});
  std::string cut = msg.substr(0, msg.size() - 3);
  EXPECT_EQ(send(h, cut).rcode(), dns::rcode::FORMERR);
  sockaddr_in peer = loopback();
  std::string answer = "x";
  std::string response = msg;
  response[2] = static_cast<char>(response[2] | 0x80);  // a response: never answered
  h.handle(reinterpret_cast<const uint8_t*>(response.data()), response.size(), reinterpret_cast<sockaddr*>(&peer),
           [&](std::string a) { answer = a; });
  EXPECT_TRUE(answer.empty());
}

TEST(Network, ParsesAndMatchesPrefixes) {
  EXPECT_FALSE(Network::parse("10.0.0.0/33"));
  EXPECT_FALSE(Network::parse("::/129"));
  EXPECT_FALSE(Network::parse("10.0.0.0/"));
  EXPECT_FALSE(Network::parse("host"));
  Network v4 = Network::parse("10.1.0.0/15").value();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(0x0A01FFFF);
  EXPECT_TRUE(v4.contains(reinterpret_cast<sockaddr*>(&a)));
  a.sin_addr.s_addr = htonl(0x0A020000);
  EXPECT_FALSE(v4.contains(reinterpret_cast<sockaddr*>(&a)));
  // An IPv4-mapped IPv6 peer is matched as IPv4.
  sockaddr_in6 m{};
  m.sin6_family = AF_INET6;
  uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 1, 2, 3};
  std::memcpy(&m.sin6_addr, mapped, 16);
  EXPECT_TRUE(v4.contains(reinterpret_cast<sockaddr*>(&m)));
  Network v6 = Network::parse("::1").value();
  EXPECT_FALSE(v6.contains(reinterpret_cast<sockaddr*>(&m)));
  m.sin6_addr = in6addr_loopback;
  EXPECT_TRUE(v6.contains(reinterpret_cast<sockaddr*>(&m)));
}

}  // namespace
}  // namespace server
