// Zones copied from an outside primary: "primary" and "primary_key" in
// dns-config.json (one clear error per mistake), the follower's options, and
// the guard that refuses every other change to those zones.
#include <gtest/gtest.h>

#include <string>

#include "node/change_submitter.h"
#include "node/config.h"
#include "node/secondary_zones.h"

namespace node {
namespace {

std::string with(const std::string& extra) {
  return R"({"nodes": {"0": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4321"}},
             "tsig_keys": [{"name": "xfr-key.", "secret": "MDEyMzQ1Njc4OWFiY2RlZg=="}])" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

std::string error_of(const std::string& extra) {
  auto r = parse_config(with(extra), "cfg.json");
  EXPECT_FALSE(r.ok()) << "accepted: " << extra;
  return r.ok() ? "" : r.error().message;
}

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

dns::RR record(const char* owner, uint16_t type, const char* rdata, uint32_t ttl = 300) {
  return dns::RR{name(owner), type, dns::rrclass::IN, ttl, dns::rdata_from_text(type, rdata, dns::Name()).value()};
}

TEST(SecondaryConfig, APrimaryAndItsKeyBecomeTheFollowersOptions) {
  auto r = parse_config(with(R"("zones": {"Sec.Example": {"primary": "192.0.2.53:5353", "primary_key": "XFR-KEY",
                                                            "also_notify": ["127.0.0.1:5302"]},
                                         "own.example.": {"serial_policy": "unixtime"}})"),
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->warnings.empty());
  auto o = make_follower_options(*r);
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(o->zones.size(), 1u);
  EXPECT_EQ(o->zones[0].zone, name("sec.example."));
  EXPECT_EQ(o->zones[0].host, "192.0.2.53");
  EXPECT_EQ(o->zones[0].port, 5353);
  ASSERT_TRUE(o->zones[0].key.has_value());
  EXPECT_EQ(o->zones[0].key->name, name("xfr-key."));
  EXPECT_EQ(o->keys.size(), 1u);
  auto zones = secondary_zones(*r);
  ASSERT_EQ(zones.size(), 1u);
  EXPECT_EQ(zones.begin()->second, "192.0.2.53:5353");
}

TEST(SecondaryConfig, EveryMistakeNamesItsField) {
  EXPECT_EQ(error_of(R"("zones": {"sec.example.": {"primary": "192.0.2.53"}})"),
            "cfg.json: zones.\"sec.example.\".primary: address '192.0.2.53' has no port (write \"127.0.0.1:10053\")");
  EXPECT_NE(error_of(R"("zones": {"sec.example.": {"primary": "ns1.example.com:53"}})").find("zones.\"sec.example.\".primary: "),
            std::string::npos);
  EXPECT_NE(error_of(R"("zones": {"sec.example.": {"primary": 53}})").find("zones.\"sec.example.\".primary: "),
            std::string::npos);
  EXPECT_EQ(error_of(R"("zones": {"sec.example.": {"primary": "0.0.0.0:53"}})"),
            "cfg.json: zones.\"sec.example.\".primary: '0.0.0.0:53' is not the address of a primary (give the "
            "address it answers on)");
  EXPECT_EQ(error_of(R"("zones": {"sec.example.": {"primary": "192.0.2.53:53", "primary_key": "nokey."}})"),
            "cfg.json: zones.\"sec.example.\".primary_key: no key 'nokey.' in tsig_keys");
  EXPECT_EQ(error_of(R"("zones": {"sec.example.": {"primary_key": "xfr-key."}})"),
            "cfg.json: zones.\"sec.example.\".primary_key: needs \"primary\": the key signs the exchanges with that "
            "primary");
  EXPECT_EQ(error_of(R"("zones": {"sec.example.": {"primary": "192.0.2.53:53", "serial_policy": "unixtime"}})"),
            "cfg.json: zones.\"sec.example.\".serial_policy: a zone copied from a primary keeps the primary's "
            "serials; remove \"serial_policy\" or \"primary\"");
  EXPECT_EQ(error_of(R"("zones": {"cat.example.": {"primary": "192.0.2.53:53"}}, "catalog": "cat.example.")"),
            "cfg.json: catalog: the catalog zone cat.example. is made by the cluster; it cannot also be copied from a "
            "primary (zones.\"cat.example.\".primary)");
}

/// Records what reaches the cluster and answers every op with success.
class Recorder final : public ChangeSubmitter {
 public:
  void submit(store::Change change, std::function<void(SubmitResult)> done) override {
    seen.push_back(change);
    store::ApplyResult r;
    r.op_errors.assign(change.ops.size(), "");
    if (change.update) r.rcode = dns::rcode::NOERROR;
    done(r);
  }
  std::vector<store::Change> seen;
};

class GuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The cluster serves own.example. and, nested in the secondary zone, its
    // own sub.sec.example.; sec.example. itself has not arrived yet.
    store::Change c;
    c.ops = {{store::OpKind::Add, record("own.example.", dns::rrtype::SOA, "ns. h. 1 3600 600 86400 300")},
             {store::OpKind::Add, record("sub.sec.example.", dns::rrtype::SOA, "ns. h. 1 3600 600 86400 300")}};
    ASSERT_TRUE(store_.apply(c, 1).all_ok());
  }
  SubmitResult submit(store::Change c) {
    SubmitResult out = util::make_error("not called");
    guard_.submit(std::move(c), [&](SubmitResult r) { out = std::move(r); });
    return out;
  }
  store::Store store_;
  Recorder inner_;
  SecondaryZoneGuard guard_{inner_, store_, {{name("sec.example."), "192.0.2.53:53"}}};
};

TEST_F(GuardTest, OpsOnASecondaryZoneAreRefusedAndTheRestGoesOn) {
  store::Change c;
  c.ops = {{store::OpKind::Add, record("a.own.example.", dns::rrtype::A, "192.0.2.1")},
           {store::OpKind::Add, record("a.sec.example.", dns::rrtype::A, "192.0.2.2")},
           {store::OpKind::Add, record("a.sub.sec.example.", dns::rrtype::A, "192.0.2.3")},
           {store::OpKind::Add, record("sec.example.", dns::rrtype::SOA, "ns. h. 9 3600 600 86400 300")},
           {store::OpKind::RemoveZone, record("sec.example.", dns::rrtype::SOA, "ns. h. 9 3600 600 86400 300")}};
  SubmitResult r = submit(c);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->op_errors.size(), 5u);
  EXPECT_EQ(r->op_errors[0], "");
  EXPECT_EQ(r->op_errors[1],
            "zone sec.example. is a copy of the primary 192.0.2.53:53 (\"primary\" in the config): change it on that "
            "primary");
  EXPECT_EQ(r->op_errors[2], "");  // a zone nested in it that the cluster serves itself
  EXPECT_EQ(r->op_errors[3], r->op_errors[1]);
  EXPECT_EQ(r->op_errors[4], r->op_errors[1]);
  ASSERT_EQ(inner_.seen.size(), 1u);
  ASSERT_EQ(inner_.seen[0].ops.size(), 2u);
  EXPECT_EQ(inner_.seen[0].ops[1].rr.owner, name("a.sub.sec.example."));
}

TEST_F(GuardTest, AChangeWhollyInASecondaryZoneNeverReachesTheCluster) {
  store::Change c;
  c.ops = {{store::OpKind::Remove, record("a.sec.example.", dns::rrtype::A, "192.0.2.2")}};
  SubmitResult r = submit(c);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->first_error(), "");
  EXPECT_TRUE(inner_.seen.empty());
}

TEST_F(GuardTest, AnUpdateOfASecondaryZoneIsRefused) {
  store::Change c;
  c.update = store::Update{name("sec.example."), {}, {{store::UpdateKind::Add, record("a.sec.example.", dns::rrtype::A, "192.0.2.2")}}};
  SubmitResult r = submit(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rcode, dns::rcode::REFUSED);
  EXPECT_TRUE(inner_.seen.empty());
  c.update->zone = name("own.example.");
  ASSERT_TRUE(submit(c).ok());
  EXPECT_EQ(inner_.seen.size(), 1u);
}

TEST_F(GuardTest, TheFollowersTransfersPassUntouched) {
  store::Change c;
  c.ops = {{store::OpKind::Add, record("sec.example.", dns::rrtype::SOA, "ns. h. 9 3600 600 86400 300")},
           {store::OpKind::Add, record("a.sec.example.", dns::rrtype::A, "192.0.2.2")}};
  c.transfer = store::TransferIn{name("sec.example."), std::nullopt};
  SubmitResult r = submit(c);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->all_ok());
  ASSERT_EQ(inner_.seen.size(), 1u);
  EXPECT_EQ(inner_.seen[0].ops.size(), 2u);
}

}  // namespace
}  // namespace node
