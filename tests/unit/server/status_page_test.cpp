// The status page's data: the node-local record of recent changes and
// dynamic hosts, zone change times, and the JSON document the page reads.
#include "server/status_page.h"

#include <gtest/gtest.h>

#include "dns/rr.h"
#include "server/http_api.h"

namespace server {
namespace {

dns::Name name(const char* text) { return *dns::Name::from_text(text); }

store::Op op(store::OpKind kind, const char* owner, uint16_t type, const char* data, uint32_t ttl = 300) {
  store::Op o;
  o.kind = kind;
  o.rr.owner = name(owner);
  o.rr.type = type;
  o.rr.ttl = ttl;
  if (*data) o.rr.rdata = *dns::rdata_from_text(type, data, dns::Name());
  return o;
}

store::Change change_of(std::vector<store::Op> ops) {
  store::Change c;
  c.ops = std::move(ops);
  return c;
}

util::Result<store::ApplyResult> applied(size_t ops) {
  store::ApplyResult r;
  r.op_errors.assign(ops, "");
  return r;
}

/// A clock the test moves.
struct Clock {
  int64_t ms = 1'700'000'000'000;
  std::function<int64_t()> fn() {
    return [this] { return ms; };
  }
};

TEST(RecentChanges, KeepsTheNewestChangesWithTheirSourceAndOutcome) {
  Clock clock;
  RecentChanges recent(3, 10, clock.fn());
  for (int i = 0; i < 5; ++i) {
    clock.ms += 1000;
    std::string ip = "192.0.2." + std::to_string(i);
    recent.record(ChangeSource::Stdin, change_of({op(store::OpKind::Add, "www.example.com.", dns::rrtype::A, ip.c_str())}),
                  applied(1));
  }
  auto changes = recent.changes();
  ASSERT_EQ(changes.size(), 3u);  // bounded
  EXPECT_EQ(changes[0].summary, "add www.example.com. 300 A 192.0.2.4");  // newest first
  EXPECT_EQ(changes[2].summary, "add www.example.com. 300 A 192.0.2.2");
  EXPECT_EQ(changes[0].time_ms, clock.ms);
  EXPECT_TRUE(changes[0].ok);
  EXPECT_EQ(changes[0].outcome, "applied");
  EXPECT_STREQ(change_source_name(changes[0].source), "stdin");
  EXPECT_STREQ(change_source_name(ChangeSource::Control), "dns-nodectl");
  // stdin is an edit, not a dynamic host.
  EXPECT_TRUE(recent.hosts().empty());
}

TEST(RecentChanges, OutcomesSayWhyAChangeFailed) {
  RecentChanges recent;
  recent.record(ChangeSource::Rest, change_of({op(store::OpKind::Add, "a.example.com.", dns::rrtype::A, "192.0.2.1")}),
                util::make_error("no quorum: the change was not committed"));
  store::ApplyResult rejected;
  rejected.op_errors = {"a CNAME cannot coexist with other data"};
  recent.record(ChangeSource::Rest, change_of({op(store::OpKind::Add, "a.example.com.", dns::rrtype::A, "192.0.2.1")}),
                rejected);
  store::ApplyResult nxrrset;
  nxrrset.rcode = 8;
  store::Change update;
  update.update = store::Update{name("example.com."), {}, {}};
  recent.record(ChangeSource::Update, update, nxrrset);
  auto changes = recent.changes();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(changes[0].ok);
  EXPECT_EQ(changes[0].outcome, "NXRRSET");
  EXPECT_EQ(changes[1].outcome, "a CNAME cannot coexist with other data");
  EXPECT_EQ(changes[2].outcome, "no quorum: the change was not committed");
}

TEST(RecentChanges, ALargeChangeIsSummarisedByItsFirstOps) {
  RecentChanges recent;
  std::vector<store::Op> ops;
  for (int i = 0; i < 1000; ++i) ops.push_back(op(store::OpKind::Add, "x.example.com.", dns::rrtype::A, "192.0.2.1"));
  recent.record(ChangeSource::ZoneFile, change_of(std::move(ops)), applied(1000));
  auto changes = recent.changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].ops, 1000u);
  EXPECT_NE(changes[0].summary.find("and 997 more"), std::string::npos) << changes[0].summary;
  EXPECT_LT(changes[0].summary.size(), 300u);
  EXPECT_TRUE(recent.hosts().empty());  // a zone file is no dynamic host
}

TEST(RecentChanges, DynDnsAndUpdateAddressChangesMakeDynamicHosts) {
  Clock clock;
  RecentChanges recent(50, 2, clock.fn());
  recent.record(ChangeSource::DynDns,
                change_of({op(store::OpKind::RemoveRRset, "home.example.com.", dns::rrtype::A, ""),
                           op(store::OpKind::Add, "home.example.com.", dns::rrtype::A, "198.51.100.7")}),
                applied(2));
  clock.ms += 5000;
  store::Change update;
  update.update = store::Update{name("example.com."), {}, {}};
  store::UpdateOp u;
  u.kind = store::UpdateKind::Add;
  u.rr = op(store::OpKind::Add, "desk.example.com.", dns::rrtype::AAAA, "2001:db8::7").rr;
  update.update->updates.push_back(u);
  u.rr = op(store::OpKind::Add, "_acme-challenge.example.com.", dns::rrtype::TXT, "\"token\"").rr;
  update.update->updates.push_back(u);
  recent.record(ChangeSource::Update, update, applied(0));
  auto hosts = recent.hosts();
  ASSERT_EQ(hosts.size(), 2u);  // the TXT name is no host
  EXPECT_EQ(hosts[0].name, name("desk.example.com."));
  EXPECT_EQ(hosts[0].source, ChangeSource::Update);
  EXPECT_EQ(hosts[1].name, name("home.example.com."));
  EXPECT_EQ(hosts[0].time_ms - hosts[1].time_ms, 5000);
  // Bounded: a third host pushes out the least recently changed.
  clock.ms += 1000;
  recent.record(ChangeSource::DynDns, change_of({op(store::OpKind::Add, "new.example.com.", dns::rrtype::A, "192.0.2.9")}),
                applied(1));
  hosts = recent.hosts();
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].name, name("new.example.com."));
  EXPECT_EQ(hosts[1].name, name("desk.example.com."));
}

TEST(RecentChanges, WrapRecordsWhatItSubmitsOnceTheOutcomeIsBack) {
  RecentChanges recent;
  std::function<void(util::Result<store::ApplyResult>)> pending;
  SubmitFn inner = [&](store::Change, std::function<void(util::Result<store::ApplyResult>)> done) {
    pending = std::move(done);
  };
  bool answered = false;
  recent.wrap(inner, ChangeSource::Rest)(
      change_of({op(store::OpKind::Add, "a.example.com.", dns::rrtype::A, "192.0.2.1")}),
      [&](util::Result<store::ApplyResult> r) { answered = r.ok(); });
  EXPECT_TRUE(recent.changes().empty());  // not before its outcome
  ASSERT_TRUE(pending);
  pending(applied(1));
  EXPECT_TRUE(answered);
  ASSERT_EQ(recent.changes().size(), 1u);
  EXPECT_EQ(recent.changes()[0].source, ChangeSource::Rest);
}

store::Change soa_change(uint32_t serial) {
  std::string soa = "ns1.example.com. hostmaster.example.com. " + std::to_string(serial) + " 3600 600 86400 300";
  return change_of({op(store::OpKind::Add, "example.com.", dns::rrtype::SOA, soa.c_str()),
                    op(store::OpKind::Add, "example.com.", dns::rrtype::NS, "ns1.example.com."),
                    op(store::OpKind::Add, "ns1.example.com.", dns::rrtype::A, "127.0.0.1")});
}

TEST(RecentChanges, AZoneIsStampedWhenItsSerialMoves) {
  Clock clock;
  RecentChanges recent(50, 10, clock.fn());
  store::Store store;
  store.apply(soa_change(5), 1);
  recent.observe_zones(store);
  EXPECT_EQ(recent.zone_changed_ms(name("example.com.")), std::nullopt);  // not seen changing yet
  clock.ms += 1000;
  recent.observe_zones(store);
  EXPECT_EQ(recent.zone_changed_ms(name("example.com.")), std::nullopt);
  store.apply(change_of({op(store::OpKind::Add, "www.example.com.", dns::rrtype::A, "192.0.2.1")}), 2);
  clock.ms += 1000;
  recent.observe_zones(store);
  EXPECT_EQ(recent.zone_changed_ms(name("example.com.")), clock.ms);
  const int64_t changed = clock.ms;
  clock.ms += 1000;
  recent.observe_zones(store);
  EXPECT_EQ(recent.zone_changed_ms(name("example.com.")), changed);
}

// --- the document ---

nlohmann::json leader_status() {
  return nlohmann::json::parse(R"({"node": "0", "role": "leader", "term": 4, "leader": "0", "commit_index": 50,
    "applied_index": 50, "voters": ["0", "1", "2"], "learners": [],
    "peers": {"1": {"connected": true, "match_index": 50, "applied_index": 47},
              "2": {"connected": false, "match_index": 30, "applied_index": 30}}})");
}

nlohmann::json members() {
  return nlohmann::json::parse(R"({"0": {"query_loc": "127.0.0.1:10053", "role": "voter"},
    "1": {"query_loc": "127.0.0.1:10063", "role": "voter"}, "2": {"query_loc": "127.0.0.1:10073", "role": "voter"}})");
}

TEST(StatusDocument, TheLeaderShowsEveryNodesFigures) {
  store::Store store;
  store.apply(soa_change(7), 1);
  StatusInputs in;
  in.status = leader_status();
  in.members = members();
  auto snap = store.snapshot();
  in.zones = snap.get();
  in.now_ms = 123;
  nlohmann::json doc = status_document(in);
  EXPECT_EQ(doc["node"], "0");
  EXPECT_EQ(doc["healthy"], true);
  ASSERT_EQ(doc["nodes"].size(), 3u);
  const auto& n0 = doc["nodes"][0];
  EXPECT_EQ(n0["id"], "0");
  EXPECT_EQ(n0["self"], true);
  EXPECT_EQ(n0["role"], "leader");
  EXPECT_EQ(n0["term"], 4);
  EXPECT_EQ(n0["lag"], 0);
  EXPECT_EQ(n0["peers_connected"], 1);
  EXPECT_EQ(n0["peers_total"], 2);
  const auto& n1 = doc["nodes"][1];
  EXPECT_EQ(n1["role"], "follower");
  EXPECT_EQ(n1["applied_index"], 47);
  EXPECT_EQ(n1["match_index"], 50);
  EXPECT_EQ(n1["lag"], 0);  // it holds every committed entry
  EXPECT_EQ(n1["connected"], true);
  EXPECT_EQ(n1["query_loc"], "127.0.0.1:10063");
  EXPECT_EQ(doc["nodes"][2]["lag"], 20);
  EXPECT_EQ(doc["nodes"][2]["connected"], false);
  ASSERT_EQ(doc["zones"].size(), 1u);
  EXPECT_EQ(doc["zones"][0]["name"], "example.com.");
  EXPECT_EQ(doc["zones"][0]["serial"], 7);
  EXPECT_EQ(doc["zones"][0]["records"], 3);
  EXPECT_EQ(doc["zones_total"], 1);
}

TEST(StatusDocument, ListsAtMostFiveHundredZones) {
  store::Store store;
  store::Change c;
  for (int i = 0; i < 600; ++i) {
    std::string apex = "z" + std::to_string(i) + ".example.";
    c.ops.push_back(op(store::OpKind::Add, apex.c_str(), dns::rrtype::SOA, "ns. host. 1 3600 600 86400 300"));
  }
  store.apply(c, 1);
  StatusInputs in;
  in.status = leader_status();
  auto snap = store.snapshot();
  in.zones = snap.get();
  nlohmann::json doc = status_document(in);
  EXPECT_EQ(doc["zones"].size(), 500u);
  EXPECT_EQ(doc["zones_total"], 600);
}

TEST(StatusDocument, AFollowerShowsItsOwnFiguresAndPointsAtTheLeader) {
  StatusInputs in;
  in.status = nlohmann::json::parse(R"({"node": "1", "role": "follower", "term": 4, "leader": "0",
    "commit_index": 50, "applied_index": 48, "peers": {"0": {"connected": true, "match_index": null},
    "2": {"connected": true, "match_index": null}}})");
  in.members = members();
  in.node_urls = {{"0", "http://127.0.0.1:8053/"}, {"1", "http://127.0.0.1:8063/"}};
  nlohmann::json doc = status_document(in);
  ASSERT_EQ(doc["nodes"].size(), 3u);
  EXPECT_EQ(doc["nodes"][0]["role"], "leader");
  EXPECT_EQ(doc["nodes"][0]["applied_index"], nullptr);  // only the leader knows
  EXPECT_EQ(doc["nodes"][0]["lag"], nullptr);
  EXPECT_EQ(doc["nodes"][1]["self"], true);
  EXPECT_EQ(doc["nodes"][1]["lag"], 2);
  EXPECT_EQ(doc["nodes"][2]["role"], nullptr);
  EXPECT_EQ(doc["leader_url"], "http://127.0.0.1:8053/");
  EXPECT_TRUE(doc["zones"].empty());
}

TEST(StatusDocument, DynamicHostsShowTheirCurrentAddresses) {
  store::Store store;
  store.apply(soa_change(7), 1);
  store.apply(change_of({op(store::OpKind::Add, "home.example.com.", dns::rrtype::A, "198.51.100.7"),
                         op(store::OpKind::Add, "home.example.com.", dns::rrtype::AAAA, "2001:db8::7")}),
              2);
  RecentChanges recent;
  recent.record(ChangeSource::DynDns,
                change_of({op(store::OpKind::Add, "home.example.com.", dns::rrtype::A, "198.51.100.7")}), applied(1));
  StatusInputs in;
  in.status = leader_status();
  auto snap = store.snapshot();
  in.zones = snap.get();
  in.recent = &recent;
  nlohmann::json doc = status_document(in);
  ASSERT_EQ(doc["hosts"].size(), 1u);
  EXPECT_EQ(doc["hosts"][0]["name"], "home.example.com.");
  EXPECT_EQ(doc["hosts"][0]["addresses"], (nlohmann::json{"198.51.100.7", "2001:db8::7"}));
  EXPECT_EQ(doc["hosts"][0]["source"], "DynDNS");
  ASSERT_EQ(doc["changes"].size(), 1u);
  EXPECT_EQ(doc["changes"][0]["source"], "DynDNS");
}

TEST(StatusPage, IsSelfContainedAndItsScriptIsAllowedByHash) {
  const std::string& html = status_page_html();
  EXPECT_NE(html.find("<meta name=\"viewport\""), std::string::npos);
  EXPECT_NE(html.find("/api/v1/status"), std::string::npos);
  // Nothing from elsewhere: no absolute URL, no external script or style.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("stylesheet"), std::string::npos);
  const std::string& csp = status_page_csp();
  EXPECT_EQ(csp.rfind("default-src 'none'; script-src 'sha256-", 0), 0u) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
}

}  // namespace
}  // namespace server
