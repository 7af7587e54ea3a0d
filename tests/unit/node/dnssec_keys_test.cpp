// The KSK roll of online-signed zones: each step one compare-and-set change
// of the key set, its state held by the key records (so a new leader, or a
// node restored from a snapshot, carries it on), and the operator's
// confirmation refused out of turn.
#include "node/dnssec_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "applying_submitter.h"
#include "dns/dnssec_sign.h"
#include "dns/message.h"
#include "node/stdin_commands.h"
#include "store/store.h"

namespace node {
namespace {

constexpr uint64_t kStart = 1'800'000'000;
constexpr uint32_t kWait = 30;  // roll_wait

dns::Name name(const char* text) { return dns::Name::from_text(text).value(); }

std::map<std::string, ZoneConfig> online_zone() {
  DnssecPolicy policy;
  policy.roll_wait = kWait;
  ZoneConfig zc;
  zc.dnssec = policy;
  return {{"example.com.", zc}};
}

/// A store serving example.com., with a keeper that leads while `leading`.
class KskRollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Change c;
    c.ops.push_back({store::OpKind::Add,
                     dns::RR{name("example.com."), dns::rrtype::SOA, dns::rrclass::IN, 3600,
                             dns::rdata_from_text(dns::rrtype::SOA, "ns1.example.com. h.example.com. 1 3600 900 604800 300",
                                                  dns::Name())
                                 .value()}});
    ASSERT_TRUE(apply(c).all_ok());
  }

  store::ApplyResult apply(const store::Change& c) { return store_->apply(c, store_->applied_index() + 1); }

  std::unique_ptr<DnssecKeeper> keeper(store::Store& st, bool* leading) {
    return std::make_unique<DnssecKeeper>(
        online_zone(), st,
        [&st](store::Change c, std::function<void(SubmitResult)> done) {
          done(st.apply(c, st.applied_index() + 1));
        },
        [leading] { return *leading; }, 1);
  }

  std::vector<std::string> apex(uint16_t type) {
    auto snap = store_->snapshot();
    const zone::Node* n = snap->find_zone(name("example.com."))->apex_node();
    const zone::RRset* s = n ? n->find(type) : nullptr;
    std::vector<std::string> out;
    if (s) out.assign(s->rdatas.begin(), s->rdatas.end());
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<dns::SigningKeyRecord> keys() {
    auto snap = store_->snapshot();
    return decode_key_set(*snap->find_zone(name("example.com."))->apex_node()->find(dns::rrtype::SIGNING_KEY))
        .value();
  }
  KskRollPhase phase() { return ksk_roll_phase(keys()); }
  /// The DNSKEY rdata of the KSKs (flags 257), sorted.
  std::vector<std::string> ksk_dnskeys() {
    std::vector<std::string> out;
    for (const std::string& k : apex(dns::rrtype::DNSKEY)) {
      if (static_cast<uint8_t>(k[1]) == 1) out.push_back(k);
    }
    return out;
  }
  util::Result<store::Change> command(KskAction action, uint64_t now) {
    return ksk_command_change(*store_->snapshot(), name("example.com."), action, now, 1);
  }

  std::unique_ptr<store::Store> store_ = std::make_unique<store::Store>();
};

TEST_F(KskRollTest, EachStepIsOneChangeAndTheOldKeyLeavesOnlyAfterTheConfirmation) {
  bool leading = true;
  auto k = keeper(*store_, &leading);
  k->tick(kStart);  // the first keys
  ASSERT_EQ(apex(dns::rrtype::DNSKEY).size(), 2u);
  const std::vector<std::string> old_ksk = ksk_dnskeys();
  const std::vector<std::string> old_cds = apex(dns::rrtype::CDS);
  ASSERT_EQ(old_ksk.size(), 1u);
  EXPECT_EQ(phase(), KskRollPhase::None);

  // 1. KSK ROLL: the new KSK is in DNSKEY; the CDS still names the old one.
  auto start = command(KskAction::Roll, kStart + 100);
  ASSERT_TRUE(start.ok()) << start.error().message;
  ASSERT_EQ(start->ops.size(), 1u);
  EXPECT_EQ(start->ops[0].kind, store::OpKind::SetSigningKeys);
  ASSERT_TRUE(apply(*start).all_ok());
  EXPECT_EQ(phase(), KskRollPhase::Published);
  EXPECT_EQ(ksk_dnskeys().size(), 2u);
  EXPECT_EQ(apex(dns::rrtype::CDS), old_cds);
  // A second start, or a confirmation before the new CDS is out: refused.
  auto again = command(KskAction::Roll, kStart + 101);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, util::ErrorKind::Conflict);
  EXPECT_NE(again.error().message.find("already under way"), std::string::npos) << again.error().message;
  auto early = command(KskAction::Submitted, kStart + 101);
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message.find("not ready"), std::string::npos) << early.error().message;

  // 2. roll_wait later the new KSK is ready: the CDS and CDNSKEY name it alone.
  k->tick(kStart + 100 + kWait - 1);
  EXPECT_EQ(phase(), KskRollPhase::Published);
  k->tick(kStart + 100 + kWait);
  EXPECT_EQ(phase(), KskRollPhase::WaitingForDs);
  const std::vector<std::string> both = ksk_dnskeys();
  std::vector<std::string> new_ksk;
  std::set_difference(both.begin(), both.end(), old_ksk.begin(), old_ksk.end(), std::back_inserter(new_ksk));
  ASSERT_EQ(new_ksk.size(), 1u);
  EXPECT_EQ(apex(dns::rrtype::CDNSKEY), new_ksk);
  EXPECT_EQ(apex(dns::rrtype::CDS), std::vector<std::string>{dns::ds_rdata(name("example.com."), new_ksk[0])});
  // The roll waits for the operator however long it takes.
  k->tick(kStart + 100 * kWait);
  EXPECT_EQ(phase(), KskRollPhase::WaitingForDs);
  EXPECT_EQ(ksk_dnskeys().size(), 2u);

  // 3. KSK SUBMITTED: the new KSK is active, the old one retired but still published.
  const uint64_t confirmed = kStart + 200 * kWait;
  auto confirm = command(KskAction::Submitted, confirmed);
  ASSERT_TRUE(confirm.ok()) << confirm.error().message;
  ASSERT_TRUE(apply(*confirm).all_ok());
  EXPECT_EQ(phase(), KskRollPhase::Retiring);
  EXPECT_EQ(ksk_dnskeys().size(), 2u);
  auto twice = command(KskAction::Submitted, confirmed + 1);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("confirmed already"), std::string::npos) << twice.error().message;

  // 4. The DS wait later the old KSK is gone.
  k->tick(confirmed + kWait - 1);
  EXPECT_EQ(ksk_dnskeys().size(), 2u);
  k->tick(confirmed + kWait);
  EXPECT_EQ(phase(), KskRollPhase::None);
  EXPECT_EQ(ksk_dnskeys(), new_ksk);
  EXPECT_EQ(apex(dns::rrtype::CDNSKEY), new_ksk);
  EXPECT_EQ(apex(dns::rrtype::DNSKEY).size(), 2u);  // the ZSK stayed
  auto none = command(KskAction::Submitted, confirmed + kWait + 1);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no KSK roll is in progress"), std::string::npos) << none.error().message;
}

TEST_F(KskRollTest, AStepMadeFromAnOlderKeySetIsRefusedWhole) {
  bool leading = true;
  keeper(*store_, &leading)->tick(kStart);
  // Two nodes take the operator's KSK ROLL from the same key set: one applies.
  auto first = command(KskAction::Roll, kStart + 1);
  auto second = command(KskAction::Roll, kStart + 1);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(apply(*first).all_ok());
  auto r = apply(*second);
  EXPECT_FALSE(r.all_ok());
  EXPECT_NE(r.first_error().find("changed meanwhile"), std::string::npos) << r.first_error();
  EXPECT_EQ(ksk_dnskeys().size(), 2u);  // one new KSK, not two
}

TEST_F(KskRollTest, ARollSurvivesALeaderChangeAndARestoreFromASnapshot) {
  bool a_leads = true, b_leads = false;
  auto a = keeper(*store_, &a_leads);
  a->tick(kStart);
  ASSERT_TRUE(apply(command(KskAction::Roll, kStart + 1).value()).all_ok());
  // The leader changes: the new one, which never saw the roll start, makes the new KSK ready.
  a_leads = false;
  auto b = keeper(*store_, &b_leads);
  b_leads = true;
  a->tick(kStart + 1 + kWait);
  EXPECT_EQ(phase(), KskRollPhase::Published);  // a follower takes no step
  b->tick(kStart + 1 + kWait);
  EXPECT_EQ(phase(), KskRollPhase::WaitingForDs);
  ASSERT_TRUE(apply(command(KskAction::Submitted, kStart + 1000).value()).all_ok());

  // A node restored from a snapshot has the roll's state and finishes it.
  a.reset();
  b.reset();
  auto copy = std::make_unique<store::Store>();
  ASSERT_TRUE(copy->restore(store_->serialize()));
  store_ = std::move(copy);
  EXPECT_EQ(phase(), KskRollPhase::Retiring);
  bool c_leads = true;
  keeper(*store_, &c_leads)->tick(kStart + 1000 + kWait);
  EXPECT_EQ(phase(), KskRollPhase::None);
  EXPECT_EQ(ksk_dnskeys().size(), 1u);
}

TEST_F(KskRollTest, KskLifetimeStartsTheRollButTheConfirmationIsStillTheOperators) {
  auto zones = online_zone();
  zones["example.com."].dnssec->ksk_lifetime = 1000;
  bool leading = true;
  store::Store& st = *store_;
  DnssecKeeper k(
      zones, st,
      [&st](store::Change c, std::function<void(SubmitResult)> done) { done(st.apply(c, st.applied_index() + 1)); },
      [&leading] { return leading; }, 1);
  k.tick(kStart);
  k.tick(kStart + 999);
  EXPECT_EQ(phase(), KskRollPhase::None);
  k.tick(kStart + 1000);
  EXPECT_EQ(phase(), KskRollPhase::Published);
  k.tick(kStart + 1000 + kWait);
  EXPECT_EQ(phase(), KskRollPhase::WaitingForDs);
  for (uint64_t t = kStart + 2000; t < kStart + 100000; t += 5000) k.tick(t);
  EXPECT_EQ(phase(), KskRollPhase::WaitingForDs);
}

TEST_F(KskRollTest, TheKskCommandsThroughStdin) {
  test_support::ApplyingSubmitter sub(*store_);
  StdinCommands cmds(sub, *store_, 1, [] { return nlohmann::json::object(); });
  EXPECT_EQ(cmds.handle_line("KSK SUBMITTED nothere.example."), "ERROR: no zone nothere.example. is served");
  // A zone without an online policy has no keys to roll.
  std::string r = cmds.handle_line("KSK ROLL example.com");
  EXPECT_EQ(r.rfind("ERROR: zone example.com. is not signed online", 0), 0u) << r;

  bool leading = true;
  keeper(*store_, &leading)->tick(kStart);
  r = cmds.handle_line("KSK SUBMITTED example.com");
  EXPECT_EQ(r, "ERROR: zone example.com.: no KSK roll is in progress (KSK ROLL starts one)");
  r = cmds.handle_line("KSK STATUS example.com.");
  ASSERT_EQ(r.rfind("OK ", 0), 0u) << r;
  auto status = nlohmann::json::parse(r.substr(3));
  EXPECT_EQ(status["ksk_roll"], "none");
  EXPECT_EQ(status["keys"].size(), 2u);

  r = cmds.handle_line("ksk roll example.com.");
  EXPECT_EQ(r.rfind("OK zone example.com.: KSK roll started", 0), 0u) << r;
  EXPECT_EQ(phase(), KskRollPhase::Published);
  r = cmds.handle_line("KSK SUBMITTED example.com");
  EXPECT_EQ(r.rfind("ERROR: zone example.com.: the new KSK is published but not ready", 0), 0u) << r;
  EXPECT_EQ(nlohmann::json::parse(cmds.handle_line("KSK STATUS example.com").substr(3))["ksk_roll"], "published");
}

TEST_F(KskRollTest, MetricsShowTheKeysTheRollPhaseAndTheNextRolls) {
  bool leading = true;
  keeper(*store_, &leading)->tick(kStart);
  ASSERT_TRUE(apply(command(KskAction::Roll, kStart + 1).value()).all_ok());
  auto zones = online_zone();
  zones["example.org."] = zones["example.com."];  // configured, not served: no samples
  server::PrometheusWriter w;
  render_dnssec_key_metrics(w, *store_, zones);
  const std::string& text = w.text();
  for (const std::string& line : std::vector<std::string>{
           "dnsnode_dnssec_keys{zone=\"example.com.\",kind=\"ksk\",state=\"active\"} 1",
        "dnsnode_dnssec_keys{zone=\"example.com.\",kind=\"ksk\",state=\"published\"} 1",
        "dnsnode_dnssec_keys{zone=\"example.com.\",kind=\"zsk\",state=\"active\"} 1",
        "dnsnode_dnssec_ksk_roll{zone=\"example.com.\",phase=\"published\"} 1",
        "dnsnode_dnssec_next_roll_timestamp_seconds{zone=\"example.com.\",kind=\"zsk\"} " +
            std::to_string(kStart + 30 * 86400)}) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << " not in:\n" << text;
  }
  EXPECT_EQ(text.find("example.org."), std::string::npos) << text;
  EXPECT_EQ(text.find("kind=\"ksk\"} "), std::string::npos) << "no ksk_lifetime, no next KSK roll:\n" << text;
}

TEST(KskConfig, KskLifetimeIsOptionalAndItsErrorsNameTheField) {
  const std::string base = R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}, )";
  auto cfg = parse_config(base + R"("zones": {"a.": {"dnssec": {"policy": "online", "ksk_lifetime": 31536000}},
                                              "b.": {"dnssec": {"policy": "online"}}}})",
                          "cfg.json");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->zones.at("a.").dnssec->ksk_lifetime, 31536000u);
  EXPECT_EQ(cfg->zones.at("b.").dnssec->ksk_lifetime, 0u);  // only KSK ROLL starts a roll
  auto bad = parse_config(base + R"("zones": {"a.": {"dnssec": {"policy": "online", "ksk_lifetime": -1}}}})", "cfg.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("zones.\"a.\".dnssec.ksk_lifetime: value -1 is out of range"), std::string::npos)
      << bad.error().message;
}

TEST(KskParse, TheThreeCommandsAndTheirErrors) {
  auto c = parse_command("KSK ROLL example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, Command::Kind::Ksk);
  EXPECT_EQ(c->ksk, KskAction::Roll);
  EXPECT_EQ(c->zone.to_text(), "example.com.");
  c = parse_command("  ksk:  Submitted\texample.com.  ");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ksk, KskAction::Submitted);
  c = parse_command("KSK STATUS example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ksk, KskAction::Status);

  auto error = [](const char* line) {
    auto r = parse_command(line);
    EXPECT_FALSE(r.ok()) << line;
    return r.ok() ? std::string() : r.error().message;
  };
  const std::string usage = " (KSK ROLL zone | KSK SUBMITTED zone | KSK STATUS zone)";
  EXPECT_EQ(error("KSK"), "KSK needs ROLL, SUBMITTED or STATUS" + usage);
  EXPECT_EQ(error("KSK RETIRE example.com"), "KSK needs ROLL, SUBMITTED or STATUS" + usage);
  EXPECT_EQ(error("KSK ROLL"), "missing zone name" + usage);
  EXPECT_EQ(error("KSK SUBMITTED example.com now"), "unexpected 'now'" + usage);
  EXPECT_EQ(error("KSK ROLL bad..name").rfind("bad zone name 'bad..name': ", 0), 0u);
}

}  // namespace
}  // namespace node
