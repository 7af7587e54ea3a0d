// HTTP API handlers: query strings, basic auth, DynDNS2 answers and the REST
// records API, against a real store with an in-process submit.
#include "server/http_api.h"

#include <gtest/gtest.h>

#include <optional>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "dns/rr.h"
#include "server/status_page.h"
#include "zone/zone_set.h"

namespace server {
namespace {

std::string basic(const std::string& user, const std::string& pass) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + pass, out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (in.size() - i == 1) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return "Basic " + out;
}

dns::Name name(const char* text) { return *dns::Name::from_text(text); }

dns::RR rr(const char* owner, uint16_t type, const char* data, uint32_t ttl = 300) {
  dns::RR r;
  r.owner = name(owner);
  r.type = type;
  r.ttl = ttl;
  auto rd = dns::rdata_from_text(type, data, dns::Name());
  EXPECT_TRUE(rd.ok()) << data;
  r.rdata = *rd;
  return r;
}

/// A node in a test: a real store, changes applied at once (or failed with a
/// chosen error, or held until released).
struct Fixture {
  store::Store store;
  Metrics metrics;
  uint64_t index = 0;
  std::optional<util::Error> submit_error;
  size_t submits = 0;
  /// When set, submitted changes wait in `held` until the test applies them
  /// (in any order, as a cluster may commit concurrent changes).
  bool hold = false;
  std::vector<std::pair<store::Change, std::function<void(HttpSubmitResult)>>> held;
  size_t barriers = 0;
  RecentChanges recent;
  std::unique_ptr<HttpApi> api;
  std::string key_secret = "c2VjcmV0LWtleS1ieXRlcw==";
  std::string admin_secret = "YWRtaW4ta2V5LWJ5dGVz";
  std::string reader_secret = "cmVhZGVyLWtleS1ieXRlcw==";  // a key with no role
  std::vector<MemberChange> member_changes;  // what MEMBER changes reached the node
  std::optional<util::Error> member_error;   // the node's answer: this error,
  std::string member_refusal;                // or the member list's refusal, or success

  explicit Fixture(std::function<bool(const dns::Name&, const dns::Name&, uint16_t)> policy = {}) {
    store::Change seed;
    auto add = [&](dns::RR r) { seed.ops.push_back(store::Op{store::OpKind::Add, std::move(r)}); };
    add(rr("example.com.", dns::rrtype::SOA, "ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300"));
    add(rr("example.com.", dns::rrtype::NS, "ns1.example.com."));
    add(rr("ns1.example.com.", dns::rrtype::A, "127.0.0.1"));
    add(rr("old.example.com.", dns::rrtype::A, "192.0.2.1", 120));
    add(rr("alias.example.com.", dns::rrtype::CNAME, "old.example.com."));
    store.apply(seed, ++index);

    HttpApiDeps deps;
    deps.store = &store;
    deps.submit = [this](store::Change c, std::function<void(HttpSubmitResult)> done) {
      ++submits;
      if (submit_error) return done(*submit_error);
      if (hold) {
        held.emplace_back(std::move(c), std::move(done));
        return;
      }
      done(store.apply(c, ++index));
    };
    deps.read_barrier = [this](std::function<void(util::Result<void>)> done) {
      ++barriers;
      if (submit_error) return done(*submit_error);
      done(util::Result<void>());
    };
    deps.status = [] {
      return nlohmann::json{{"node", "0"}, {"role", "leader"}, {"leader", "0"}, {"term", 3},
                            {"commit_index", 10}, {"applied_index", 8}};
    };
    deps.origin = 1;
    deps.credentials.push_back(HttpCredential{"ddns-key.", key_secret, std::move(policy), HttpRole::Update});
    // An admin's policy is never consulted: this one would refuse everything.
    deps.credentials.push_back(HttpCredential{"admin-key.", admin_secret,
                                              [](const dns::Name&, const dns::Name&, uint16_t) { return false; },
                                              HttpRole::Admin});
    deps.credentials.push_back(HttpCredential{"reader-key.", reader_secret, {}, HttpRole::None});
    deps.open_reads_from = {*Network::parse("127.0.0.0/8"), *Network::parse("::1/128")};
    deps.recent = &recent;
    deps.metrics = &metrics;
    deps.members = [] { return nlohmann::json{{"0", {{"role", "voter"}}}, {"1", {{"role", "learner"}}}}; };
    deps.change_members = [this](MemberChange change, std::function<void(HttpSubmitResult)> done) {
      member_changes.push_back(change);
      if (member_error) return done(*member_error);
      store::ApplyResult r;
      r.op_errors.push_back(member_refusal);
      done(r);
    };
    DynDnsOptions opts;
    opts.max_changes_per_minute = 3;
    api = std::make_unique<HttpApi>(std::move(deps), opts);
  }

  HttpResponse call(const std::string& method, const std::string& target, const std::string& auth = "",
                    const std::string& body = "", const std::string& client = "127.0.0.1", bool tls = false) {
    HttpRequest req{method, target, auth, "application/json", body, client, tls};
    std::optional<HttpResponse> out;
    api->handle(req, [&](HttpResponse r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "no reply to " << method << " " << target;
    return out.value_or(HttpResponse{});
  }

  HttpResponse nic(const std::string& query, const std::string& client = "203.0.113.9") {
    return call("GET", "/nic/update?" + query, basic("ddns-key", key_secret), "", client);
  }

  /// The A (or AAAA) values at a name, as text.
  std::vector<std::string> values(const char* owner, uint16_t type = dns::rrtype::A) {
    std::vector<std::string> out;
    auto snap = store.snapshot();
    const zone::Zone* z = snap->find_zone(name(owner));
    if (!z) return out;
    const zone::Node* n = z->find(name(owner));
    const zone::RRset* s = n ? n->find(type) : nullptr;
    if (!s) return out;
    for (const auto& rd : s->rdatas) out.push_back(dns::rdata_to_text(type, rd));
    return out;
  }
};

// --- query strings and auth ---

TEST(UrlDecode, DecodesPercentEscapesAndPlus) {
  EXPECT_EQ(*url_decode("a%20b+c%2Cd"), "a b c,d");
  EXPECT_FALSE(url_decode("bad%2").ok());
  EXPECT_FALSE(url_decode("bad%zz").ok());
}

TEST(QueryString, SplitsDecodesAndKeepsTheFirstOfRepeatedKeys) {
  auto q = parse_query_string("hostname=h.example.com&myip=1.2.3.4&myip=5.6.7.8&flag&empty=");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->at("hostname"), "h.example.com");
  EXPECT_EQ(q->at("myip"), "1.2.3.4");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_EQ(q->at("empty"), "");
  EXPECT_FALSE(parse_query_string("x=%4").ok());
  auto [path, query] = split_target("/nic/update?a=b");
  EXPECT_EQ(path, "/nic/update");
  EXPECT_EQ(query, "a=b");
}

TEST(BasicAuth, ParsesUserAndPasswordWithColons) {
  auto c = parse_basic_auth(basic("ddns-key.", "abc:def=="));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->first, "ddns-key.");
  EXPECT_EQ(c->second, "abc:def==");
  EXPECT_FALSE(parse_basic_auth("Bearer abc").has_value());
  EXPECT_FALSE(parse_basic_auth("Basic !!!").has_value());
  EXPECT_FALSE(parse_basic_auth("Basic " + std::string("bm9jb2xvbg==")).has_value());  // "nocolon"
  EXPECT_FALSE(parse_basic_auth("").has_value());
}

TEST(BasicAuth, KeyNameMatchesWithOrWithoutTheFinalDotAndSecretMustMatch) {
  std::vector<HttpCredential> creds{{"DDNS-Key.", "s3cret", {}}};
  EXPECT_NE(authenticate(creds, "ddns-key", "s3cret"), nullptr);
  EXPECT_NE(authenticate(creds, "ddns-key.", "s3cret"), nullptr);
  EXPECT_EQ(authenticate(creds, "ddns-key", "s3cre"), nullptr);
  EXPECT_EQ(authenticate(creds, "other", "s3cret"), nullptr);
}

TEST(Addresses, LoopbackAndRdata) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.8.9.1"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_FALSE(is_loopback_address("192.0.2.1"));
  EXPECT_FALSE(is_loopback_address("::ffff:192.0.2.1"));
  EXPECT_EQ(ip_to_rdata("192.0.2.1")->first, dns::rrtype::A);
  EXPECT_EQ(ip_to_rdata("2001:db8::1")->first, dns::rrtype::AAAA);
  EXPECT_FALSE(ip_to_rdata("192.0.2").has_value());
  EXPECT_FALSE(ip_to_rdata("host.example.com").has_value());
}

// --- DynDNS2 ---

TEST(DynDns, GoodCredentialsReplaceTheARRsetAndAnswerGood) {
  Fixture f;
  HttpResponse r = f.nic("hostname=old.example.com&myip=198.51.100.7");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "good 198.51.100.7\n");
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"198.51.100.7"});
  // The RRset keeps its TTL.
  auto snap = f.store.snapshot();
  EXPECT_EQ(snap->find_zone(name("old.example.com."))->find(name("old.example.com."))->find(1)->ttl, 120u);
  EXPECT_EQ((f.metrics.updates()[{"dyndns", "good"}]), 1u);
}

TEST(DynDns, SameAddressAgainIsNochgAndSubmitsNothing) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=new.example.com&myip=198.51.100.7").body, "good 198.51.100.7\n");
  size_t submits = f.submits;
  EXPECT_EQ(f.nic("hostname=new.example.com&myip=198.51.100.7").body, "nochg 198.51.100.7\n");
  EXPECT_EQ(f.submits, submits);
}

TEST(DynDns, MissingAuthIs401AndWrongSecretIsBadauthWithoutChange) {
  Fixture f;
  HttpResponse none = f.call("GET", "/nic/update?hostname=old.example.com&myip=198.51.100.7");
  EXPECT_EQ(none.status, 401u);
  EXPECT_EQ(none.body, "badauth\n");
  bool challenge = false;
  for (const auto& [k, v] : none.headers) challenge |= k == "WWW-Authenticate" && v.find("Basic") == 0;
  EXPECT_TRUE(challenge);
  HttpResponse bad = f.call("GET", "/nic/update?hostname=old.example.com&myip=198.51.100.7",
                            basic("ddns-key", "d3Jvbmc="));
  EXPECT_EQ(bad.body, "badauth\n");
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(f.submits, 0u);
}

TEST(DynDns, BadHostnamesAreNotfqdnAndUnservedOnesNohost) {
  Fixture f;
  EXPECT_EQ(f.nic("myip=198.51.100.7").body, "notfqdn\n");
  EXPECT_EQ(f.nic("hostname=localhost&myip=198.51.100.7").body, "notfqdn\n");
  EXPECT_EQ(f.nic("hostname=a..b.example.com&myip=198.51.100.7").body, "notfqdn\n");
  EXPECT_EQ(f.nic("hostname=host.example.org&myip=198.51.100.7").body, "nohost\n");
  EXPECT_EQ(f.submits, 0u);
}

TEST(DynDns, PolicyThatRefusesTheNameAnswersNohost) {
  Fixture f([](const dns::Name&, const dns::Name& n, uint16_t) { return n == name("mine.example.com."); });
  EXPECT_EQ(f.nic("hostname=old.example.com&myip=198.51.100.7").body, "nohost\n");
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(f.nic("hostname=mine.example.com&myip=198.51.100.7").body, "good 198.51.100.7\n");
}

TEST(DynDns, Ipv6MyipSetsAAAAAndLeavesA) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=old.example.com&myip=2001:db8::7").body, "good 2001:db8::7\n");
  EXPECT_EQ(f.values("old.example.com.", dns::rrtype::AAAA), std::vector<std::string>{"2001:db8::7"});
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"192.0.2.1"});
}

TEST(DynDns, DualStackMyipSetsBoth) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7,2001:db8::7").body, "good 198.51.100.7,2001:db8::7\n");
  EXPECT_EQ(f.values("h.example.com.", dns::rrtype::AAAA), std::vector<std::string>{"2001:db8::7"});
  EXPECT_EQ(f.values("h.example.com."), std::vector<std::string>{"198.51.100.7"});
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7,198.51.100.8").status, 400u);
}

TEST(DynDns, MissingMyipUsesTheClientAddress) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=h.example.com", "203.0.113.9").body, "good 203.0.113.9\n");
  EXPECT_EQ(f.values("h.example.com."), std::vector<std::string>{"203.0.113.9"});
}

TEST(DynDns, MalformedMyipIsRefused) {
  Fixture f;
  HttpResponse r = f.nic("hostname=h.example.com&myip=300.1.2.3");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("300.1.2.3"), std::string::npos);
  EXPECT_EQ(f.submits, 0u);
}

TEST(DynDns, NoQuorumOrTimeoutIs911) {
  Fixture f;
  f.submit_error = util::make_error(util::ErrorKind::NoQuorum, "no quorum: 1 of 3 nodes reachable");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7").body, "911\n");
  f.submit_error = util::make_error(util::ErrorKind::OutcomeUnknown, "timeout: not committed within 3000 ms");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7").body, "911\n");
}

TEST(DynDns, AnUnknownOutcomeIs911AndAStoreRefusalDnserr) {
  Fixture f;
  f.submit_error = util::make_error(util::ErrorKind::OutcomeUnknown, "log storage failed: No space left on device");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7").body, "911\n");
  f.submit_error = util::make_error(util::ErrorKind::SessionExpired, "session expired");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.7").body, "911\n");
  f.submit_error.reset();
  EXPECT_EQ(f.nic("hostname=alias.example.com&myip=198.51.100.7").body, "dnserr\n");  // beside a CNAME
}

TEST(DynDns, SeveralHostsGetOneLineEach) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=a.example.com,host.example.org,b.example.com&myip=198.51.100.7").body,
            "good 198.51.100.7\nnohost\ngood 198.51.100.7\n");
}

TEST(DynDns, TooManyChangesToOneHostIsAbuse) {
  Fixture f;  // three changes a minute allowed
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.1").body, "good 198.51.100.1\n");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.2").body, "good 198.51.100.2\n");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.3").body, "good 198.51.100.3\n");
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.4").body, "abuse\n");
  EXPECT_EQ(f.values("h.example.com."), std::vector<std::string>{"198.51.100.3"});
  // Unchanged answers are not changes.
  EXPECT_EQ(f.nic("hostname=h.example.com&myip=198.51.100.3").body, "nochg 198.51.100.3\n");
}

TEST(DynDns, ConcurrentRequestsCommittedInAnyOrderAreAllApplied) {
  // Two requests in flight at once; the second commits first (the first's
  // forward was lost and is proposed again later). Each answered "good" must
  // be in the store: a shared session would make the first a "duplicate".
  Fixture f;
  f.hold = true;
  std::string auth = basic("ddns-key", f.key_secret);
  std::vector<std::optional<HttpResponse>> out(2);
  f.api->handle(HttpRequest{"GET", "/nic/update?hostname=first.example.com&myip=198.51.100.1", auth, "", "", "203.0.113.9"},
                [&](HttpResponse r) { out[0] = std::move(r); });
  f.api->handle(HttpRequest{"GET", "/nic/update?hostname=second.example.com&myip=198.51.100.2", auth, "", "", "203.0.113.9"},
                [&](HttpResponse r) { out[1] = std::move(r); });
  ASSERT_EQ(f.held.size(), 2u);
  for (int i = 1; i >= 0; --i) {
    auto& [change, done] = f.held[static_cast<size_t>(i)];
    done(f.store.apply(change, ++f.index));
  }
  ASSERT_TRUE(out[0] && out[1]);
  for (int i = 0; i < 2; ++i) {
    const char* host = i == 0 ? "first.example.com." : "second.example.com.";
    if (out[static_cast<size_t>(i)]->body.rfind("good", 0) == 0) {
      EXPECT_EQ(f.values(host).size(), 1u) << host << " was answered " << out[static_cast<size_t>(i)]->body;
    }
  }
  EXPECT_EQ(out[0]->body, "good 198.51.100.1\n");
  EXPECT_EQ(out[1]->body, "good 198.51.100.2\n");
}

TEST(Rest, ConcurrentWritesCommittedInAnyOrderAreAllApplied) {
  Fixture f;
  f.hold = true;
  std::string auth = basic("ddns-key", f.key_secret);
  std::vector<std::optional<HttpResponse>> out(3);
  for (size_t i = 0; i < 3; ++i) {
    std::string body = R"({"name": "r)" + std::to_string(i) + R"(", "type": "A", "data": "192.0.2.7"})";
    f.api->handle(HttpRequest{"POST", "/api/v1/zones/example.com/records", auth, "application/json", body, "127.0.0.1"},
                  [&out, i](HttpResponse r) { out[i] = std::move(r); });
  }
  ASSERT_EQ(f.held.size(), 3u);
  for (size_t i : {2u, 0u, 1u}) f.held[i].second(f.store.apply(f.held[i].first, ++f.index));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i]);
    EXPECT_EQ(out[i]->status, 201u) << out[i]->body;
    std::string host = "r" + std::to_string(i) + ".example.com.";
    EXPECT_EQ(f.values(host.c_str()).size(), 1u) << host;
  }
}

TEST(DynDns, HostWithCnameIsDnserrAndKeepsTheCname) {
  Fixture f;
  EXPECT_EQ(f.nic("hostname=alias.example.com&myip=198.51.100.7").body, "dnserr\n");
  EXPECT_TRUE(f.values("alias.example.com.").empty());
  EXPECT_EQ(f.values("alias.example.com.", dns::rrtype::CNAME), std::vector<std::string>{"old.example.com."});
}

// --- REST ---

TEST(RecordOp, NamesAreRelativeToTheZoneUnlessTheyEndInIt) {
  dns::Name zone = name("example.com.");
  auto op = [&](const char* n) {
    return parse_record_op(nlohmann::json{{"name", n}, {"type", "A"}, {"data", "192.0.2.9"}}, zone, true, nullptr);
  };
  EXPECT_EQ(op("www")->rr.owner, name("www.example.com."));
  EXPECT_EQ(op("www.example.com")->rr.owner, name("www.example.com."));
  EXPECT_EQ(op("www.example.com.")->rr.owner, name("www.example.com."));
  EXPECT_EQ(op("@")->rr.owner, name("example.com."));
  EXPECT_EQ(op("a.b")->rr.owner, name("a.b.example.com."));
  auto outside = op("www.example.org.");
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("not in zone example.com."), std::string::npos);
}

TEST(RecordOp, ValidationErrorsNameTheField) {
  dns::Name zone = name("example.com.");
  auto err = [&](const nlohmann::json& j) {
    auto r = parse_record_op(j, zone, true, nullptr);
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_NE(err(nlohmann::json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(err({{"type", "A"}, {"data", "1.2.3.4"}}).find("'name'"), std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"data", "1.2.3.4"}}).find("'type'"), std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "BOGUS"}, {"data", "1.2.3.4"}}).find("unknown type 'BOGUS'"),
            std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "A"}}).find("'data' is required"), std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "A"}, {"data", "1.2.3"}}).find("bad A value '1.2.3'"), std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "A"}, {"data", "1.2.3.4"}, {"value", 1}}).find("unknown field 'value'"),
            std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "A"}, {"data", "1.2.3.4"}, {"ttl", -1}}).find("ttl"), std::string::npos);
  EXPECT_NE(err({{"name", "w"}, {"type", "ANY"}, {"data", "1.2.3.4"}}).find("cannot be stored"), std::string::npos);
  EXPECT_EQ(err({{"name", "w"}, {"type", "MX"}, {"data", nlohmann::json::array({"mail.example.com.", 10})}}), "ok");
  auto ttl = parse_record_op({{"name", "w"}, {"type", "A"}, {"data", "1.2.3.4"}, {"ttl", "1h"}}, zone, true, nullptr);
  EXPECT_EQ(ttl->rr.ttl, 3600u);
}

TEST(Rest, AddListRemoveRoundTrip) {
  Fixture f;
  std::string auth = basic("ddns-key.", f.key_secret);
  HttpResponse added = f.call("POST", "/api/v1/zones/example.com/records", auth,
                              R"({"name": "www", "type": "A", "ttl": 600, "data": "192.0.2.80"})");
  EXPECT_EQ(added.status, 201u) << added.body;
  EXPECT_EQ(f.values("www.example.com."), std::vector<std::string>{"192.0.2.80"});

  HttpResponse list = f.call("GET", "/api/v1/zones/example.com./records?type=A&name=www");
  ASSERT_EQ(list.status, 200u) << list.body;
  auto j = nlohmann::json::parse(list.body);
  ASSERT_EQ(j["records"].size(), 1u);
  EXPECT_EQ(j["records"][0], (nlohmann::json{{"name", "www.example.com."}, {"type", "A"}, {"ttl", 600},
                                             {"data", "192.0.2.80"}}));

  HttpResponse all = f.call("GET", "/api/v1/zones/example.com/records");
  EXPECT_EQ(nlohmann::json::parse(all.body)["records"].size(), 6u);

  HttpResponse removed = f.call("DELETE", "/api/v1/zones/example.com/records", auth,
                                R"({"name": "www.example.com.", "type": "A", "data": "192.0.2.80"})");
  EXPECT_EQ(removed.status, 200u) << removed.body;
  EXPECT_TRUE(f.values("www.example.com.").empty());
  HttpResponse again = f.call("DELETE", "/api/v1/zones/example.com/records?name=www&type=A&data=192.0.2.80", auth);
  EXPECT_EQ(again.status, 404u) << again.body;
  EXPECT_NE(again.body.find("no such record"), std::string::npos);
}

TEST(Rest, DeleteWithoutDataRemovesTheRRset) {
  Fixture f;
  std::string auth = basic("ddns-key.", f.key_secret);
  HttpResponse r = f.call("DELETE", "/api/v1/zones/example.com/records?name=old&type=A", auth);
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(f.values("old.example.com.").empty());
}

TEST(Rest, ErrorsCarryTheReasonAndTheRightStatus) {
  Fixture f;
  std::string auth = basic("ddns-key.", f.key_secret);
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.org/records").status, 404u);
  HttpResponse conflict = f.call("POST", "/api/v1/zones/example.com/records", auth,
                                 R"({"name": "alias", "type": "A", "data": "192.0.2.1"})");
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_NE(conflict.body.find("CNAME"), std::string::npos);
  HttpResponse bad = f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name": "x", "type": "A", "data": "nope"})");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("bad A value 'nope'"), std::string::npos);
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, "{not json").status, 400u);
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", "", R"({"name":"x","type":"A","data":"1.2.3.4"})").status,
            401u);
  EXPECT_EQ(f.call("PUT", "/api/v1/zones/example.com/records", auth).status, 405u);
  EXPECT_EQ(f.call("GET", "/nope").status, 404u);
  f.submit_error = util::make_error(util::ErrorKind::NoQuorum, "no quorum: cannot reach a majority");
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"A","data":"1.2.3.4"})").status,
            503u);
  f.submit_error = util::make_error(util::ErrorKind::OutcomeUnknown, "timeout: not committed within 3000 ms");
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"A","data":"1.2.3.4"})").status,
            504u);
}

TEST(Rest, AFailureAfterTheChangeMayHaveLeftIsOutcomeUnknownNotARefusal) {
  // Log storage failing, or the node stopping, after the change was sent:
  // it may still commit. The answer must not say it did not commit.
  Fixture f;
  std::string auth = basic("ddns-key.", f.key_secret);
  const std::string add = R"({"name":"x","type":"A","data":"1.2.3.4"})";
  for (const char* message : {"log storage failed: No space left on device",
                              "shutting down: the change's outcome is unknown"}) {
    f.submit_error = util::make_error(util::ErrorKind::OutcomeUnknown, message);
    HttpResponse r = f.call("POST", "/api/v1/zones/example.com/records", auth, add);
    EXPECT_EQ(r.status, 504u) << message;
    auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["kind"], "outcome unknown") << r.body;
    EXPECT_NE(body["outcome"].get<std::string>().find("retrying it is safe"), std::string::npos) << r.body;
  }
  // Refused before it was sent: not applied, a plain 503.
  f.submit_error = util::make_error(util::ErrorKind::ShuttingDown, "shutting down");
  HttpResponse r = f.call("POST", "/api/v1/zones/example.com/records", auth, add);
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["outcome"], "not applied; retry later");
}

TEST(Rest, TheStatusFollowsTheErrorsKindNotItsWords) {
  Fixture f;
  std::string auth = basic("ddns-key.", f.key_secret);
  const std::string add = R"({"name":"x","type":"A","data":"1.2.3.4"})";
  f.submit_error = util::make_error(util::ErrorKind::NoQuorum, "timeout while looking for a CNAME that still has records");
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, add).status, 503u);
  f.submit_error = util::make_error(util::ErrorKind::SessionExpired, "session expired");
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, add).status, 503u);
  f.submit_error = util::make_error(util::ErrorKind::Refused, "this node was removed from the cluster");
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, add).status, 403u);
}

TEST(Rest, ReadsAreOpenFromOpenReadsFromAndNeedAKeyElsewhere) {
  Fixture f;
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records", "", "", "::1").status, 200u);
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records", "", "", "192.0.2.50").status, 401u);
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records", basic("ddns-key", f.key_secret), "", "192.0.2.50").status,
            200u);
  // Reading needs no role.
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records", basic("reader-key", f.reader_secret), "", "192.0.2.50")
                .status,
            200u);
  // Wrong credentials are refused even where no key is needed.
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records", basic("ddns-key", "d3Jvbmc=")).status, 401u);
}

TEST(Roles, AKeyWithNoRoleMayChangeNothing) {
  Fixture f;
  std::string auth = basic("reader-key", f.reader_secret);
  HttpResponse r = f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"A","data":"1.2.3.4"})");
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("role"), std::string::npos) << r.body;
  EXPECT_EQ(f.call("DELETE", "/api/v1/zones/example.com/records?name=old&type=A", auth).status, 403u);
  r = f.call("GET", "/nic/update?hostname=old.example.com&myip=198.51.100.7", auth, "", "203.0.113.9");
  EXPECT_EQ(r.body, "nohost\n");
  EXPECT_EQ(f.submits, 0u);
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"192.0.2.1"});
}

TEST(Roles, AnAdminKeyChangesEveryZoneWhateverItsPolicy) {
  Fixture f;
  std::string auth = basic("admin-key", f.admin_secret);
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"TXT","data":"hi"})").status,
            201u);
  EXPECT_EQ(f.call("GET", "/nic/update?hostname=old.example.com&myip=198.51.100.7", auth, "", "203.0.113.9").body,
            "good 198.51.100.7\n");
}

// --- reads without a key: /health, /metrics ---

TEST(OpenReads, HealthAndMetricsAnswerOnlyTheOpenNetworksOrAKey) {
  Fixture f;
  for (const char* path : {"/health", "/metrics"}) {
    EXPECT_EQ(f.call("GET", path).status, 200u) << path;
    EXPECT_EQ(f.call("GET", path, "", "", "::1").status, 200u) << path;
    HttpResponse r = f.call("GET", path, "", "", "192.0.2.50");
    EXPECT_EQ(r.status, 403u) << path;
    // Nothing a forged peer frame could use.
    EXPECT_EQ(r.body.find("term"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("commit"), std::string::npos) << r.body;
    EXPECT_EQ(f.call("GET", path, basic("reader-key", f.reader_secret), "", "192.0.2.50").status, 200u) << path;
    EXPECT_EQ(f.call("GET", path, basic("reader-key", "d3Jvbmc="), "", "192.0.2.50").status, 401u) << path;
  }
}

TEST(OpenReads, TheNetworksComeFromTheConfig) {
  Fixture f;
  HttpApiDeps deps;
  deps.store = &f.store;
  deps.status = [] { return nlohmann::json{{"leader", "0"}, {"term", 3}}; };
  deps.open_reads_from = {*Network::parse("127.0.0.1"), *Network::parse("2001:db8::/32")};
  HttpApi api(std::move(deps));
  auto status_from = [&](const std::string& ip) {
    std::optional<HttpResponse> out;
    api.handle(HttpRequest{"GET", "/metrics", "", "", "", ip}, [&](HttpResponse r) { out = std::move(r); });
    return out ? out->status : 0u;
  };
  EXPECT_EQ(status_from("127.0.0.1"), 200u);
  EXPECT_EQ(status_from("127.0.0.2"), 403u);
  EXPECT_EQ(status_from("::1"), 403u);
  EXPECT_EQ(status_from("2001:db8::7"), 200u);
  EXPECT_EQ(status_from("2001:db9::7"), 403u);
}

// --- the status page ---

TEST(StatusPage, ServedToTheOpenNetworksOrWithAKey) {
  Fixture f;
  HttpResponse r = f.call("GET", "/");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  bool csp = false;
  for (const auto& [k, v] : r.headers) csp |= k == "Content-Security-Policy" && v == status_page_csp();
  EXPECT_TRUE(csp);
  // From elsewhere: a challenge, so that a browser asks for a key.
  r = f.call("GET", "/", "", "", "192.0.2.50");
  EXPECT_EQ(r.status, 401u);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(f.call("GET", "/api/v1/status", "", "", "192.0.2.50").status, 401u);
  EXPECT_EQ(f.call("GET", "/", basic("reader-key", f.reader_secret), "", "192.0.2.50").status, 200u);
  EXPECT_EQ(f.call("POST", "/api/v1/status").status, 405u);
}

TEST(StatusPage, TheDocumentShowsZonesAndTheChangesMadeHereWithTheirSource) {
  Fixture f;
  // A new host: DynDNS's delete of its (absent) RRset fails harmlessly, and the change counts as applied.
  EXPECT_EQ(f.nic("hostname=fresh.example.com&myip=198.51.100.7").body, "good 198.51.100.7\n");
  f.call("POST", "/api/v1/zones/example.com/records", basic("ddns-key", f.key_secret),
         R"({"name":"www","type":"A","data":"192.0.2.80"})");
  HttpResponse r = f.call("GET", "/api/v1/status");
  ASSERT_EQ(r.status, 200u);
  auto doc = nlohmann::json::parse(r.body);
  ASSERT_EQ(doc["zones"].size(), 1u);
  EXPECT_EQ(doc["zones"][0]["name"], "example.com.");
  ASSERT_EQ(doc["changes"].size(), 2u);
  EXPECT_EQ(doc["changes"][0]["source"], "REST");
  EXPECT_EQ(doc["changes"][0]["summary"], "add www.example.com. 3600 A 192.0.2.80");
  EXPECT_EQ(doc["changes"][1]["source"], "DynDNS");
  EXPECT_EQ(doc["changes"][1]["ok"], true) << doc["changes"][1];
  ASSERT_EQ(doc["hosts"].size(), 1u);
  EXPECT_EQ(doc["hosts"][0]["name"], "fresh.example.com.");
  EXPECT_EQ(doc["hosts"][0]["addresses"], nlohmann::json::array({"198.51.100.7"}));
}

// --- requests from other sites' pages ---

TEST(CrossOrigin, IsJudgedByFetchMetadataElseByOrigin) {
  auto req = [](std::string fetch_site, std::string origin) {
    HttpRequest r;
    r.fetch_site = std::move(fetch_site);
    r.origin = std::move(origin);
    r.host = "127.0.0.1:8053";
    return r;
  };
  EXPECT_FALSE(is_cross_origin(req("", "")));  // curl, ddclient, inadyn
  EXPECT_FALSE(is_cross_origin(req("same-origin", "")));
  EXPECT_FALSE(is_cross_origin(req("none", "")));
  EXPECT_TRUE(is_cross_origin(req("cross-site", "")));
  EXPECT_TRUE(is_cross_origin(req("same-site", "")));
  EXPECT_FALSE(is_cross_origin(req("", "http://127.0.0.1:8053")));
  EXPECT_FALSE(is_cross_origin(req("", "HTTPS://127.0.0.1:8053")));
  EXPECT_TRUE(is_cross_origin(req("", "http://attacker.example")));
  EXPECT_TRUE(is_cross_origin(req("", "null")));
  // Fetch Metadata wins over Origin.
  EXPECT_TRUE(is_cross_origin(req("cross-site", "http://127.0.0.1:8053")));
}

TEST(CrossOrigin, ABrowserShowingAnotherSitesPageChangesNothing) {
  Fixture f;
  auto send = [&](std::string method, std::string target, std::string body, std::string fetch_site) {
    HttpRequest r{method, target, basic("admin-key", f.admin_secret), "application/json", body, "192.0.2.50", true};
    r.fetch_site = std::move(fetch_site);
    r.host = "127.0.0.1:8053";
    std::optional<HttpResponse> out;
    f.api->handle(r, [&](HttpResponse resp) { out = std::move(resp); });
    return out.value_or(HttpResponse{}).status;
  };
  // DynDNS2 changes with a GET, as an <img> on any page could send it.
  EXPECT_EQ(send("GET", "/nic/update?hostname=old.example.com&myip=6.6.6.6", "", "cross-site"), 403u);
  EXPECT_EQ(send("POST", "/api/v1/zones/example.com/records", R"({"name":"x","type":"TXT","data":"a=b"})", "cross-site"),
            403u);
  EXPECT_EQ(send("DELETE", "/api/v1/members/1", "", "same-site"), 403u);
  EXPECT_EQ(f.submits, 0u);
  EXPECT_TRUE(f.member_changes.empty());
  EXPECT_EQ(f.values("old.example.com."), std::vector<std::string>{"192.0.2.1"});
  // Reads stay open to it (the browser lets no other site read the answer),
  // and the page's own requests go through.
  EXPECT_EQ(send("GET", "/api/v1/status", "", "cross-site"), 200u);
  EXPECT_EQ(send("POST", "/api/v1/zones/example.com/records", R"({"name":"x","type":"TXT","data":"a=b"})",
                 "same-origin"),
            201u);
}

// --- basic auth in clear ---

/// Collects what the default logger writes while it lives.
struct LogCapture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  LogCapture() {
    auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous); }
};

TEST(PlainText, BasicAuthAcceptedOverPlainHttpFromAfarIsWarnedOnce) {
  Fixture f;
  LogCapture log;
  const std::string auth = basic("ddns-key", f.key_secret);
  // Loopback, or HTTPS from afar: nothing to warn about.
  f.call("GET", "/api/v1/zones/example.com/records", auth, "", "127.0.0.1");
  f.call("GET", "/api/v1/zones/example.com/records", auth, "", "192.0.2.50", /*tls=*/true);
  EXPECT_EQ(log.out.str().find("plain HTTP"), std::string::npos) << log.out.str();
  // Wrong credentials were not accepted: no warning either.
  f.call("GET", "/api/v1/zones/example.com/records", basic("ddns-key", "d3Jvbmc="), "", "192.0.2.50");
  EXPECT_EQ(log.out.str().find("plain HTTP"), std::string::npos) << log.out.str();
  f.call("GET", "/api/v1/zones/example.com/records", auth, "", "192.0.2.50");
  f.call("GET", "/api/v1/zones/example.com/records", auth, "", "192.0.2.50");
  const std::string text = log.out.str();
  const size_t first = text.find("plain HTTP");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_NE(text.find("192.0.2.50"), std::string::npos) << text;
  EXPECT_NE(text.find("ddns-key"), std::string::npos) << text;
  EXPECT_EQ(text.find("plain HTTP", first + 1), std::string::npos) << "warned twice within a minute: " << text;
}

TEST(Rest, ConsistentReadGoesThroughTheBarrier) {
  Fixture f;
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records").status, 200u);
  EXPECT_EQ(f.barriers, 0u);
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records?consistent=true").status, 200u);
  EXPECT_EQ(f.barriers, 1u);
  f.submit_error = util::make_error(util::ErrorKind::NoQuorum, "no quorum: cannot confirm leadership");
  EXPECT_EQ(f.call("GET", "/api/v1/zones/example.com/records?consistent=true").status, 503u);
}

TEST(Rest, PolicyRefusalIs403) {
  Fixture f([](const dns::Name&, const dns::Name&, uint16_t type) { return type == dns::rrtype::A; });
  std::string auth = basic("ddns-key.", f.key_secret);
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"TXT","data":"hi"})").status,
            403u);
  EXPECT_EQ(f.call("POST", "/api/v1/zones/example.com/records", auth, R"({"name":"x","type":"A","data":"1.2.3.4"})").status,
            201u);
}

TEST(Health, ReportsRoleLeaderTermAndLag) {
  Fixture f;
  HttpResponse r = f.call("GET", "/health");
  EXPECT_EQ(r.status, 200u);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["role"], "leader");
  EXPECT_EQ(j["leader"], "0");
  EXPECT_EQ(j["term"], 3);
  EXPECT_EQ(j["applied_index"], 8);
  EXPECT_EQ(j["lag"], 2);
  EXPECT_EQ(j["healthy"], true);
}

// --- cluster membership (MEMBERS, MEMBER ADD, MEMBER REMOVE) ---

TEST(Members, ListingNeedsAnAdminKeyEvenFromLoopback) {
  Fixture f;
  HttpResponse r = f.call("GET", "/api/v1/members", basic("admin-key", f.admin_secret));
  ASSERT_EQ(r.status, 200u);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["members"]["1"]["role"], "learner");
  EXPECT_EQ(f.call("GET", "/api/v1/members").status, 401u);
  EXPECT_EQ(f.call("GET", "/api/v1/members", "", "", "192.0.2.50").status, 401u);
  EXPECT_EQ(f.call("GET", "/api/v1/members", basic("admin-key", f.admin_secret), "", "192.0.2.50").status, 200u);
}

TEST(Members, AddAndRemoveReachTheNodeAsTypedChanges) {
  Fixture f;
  std::string auth = basic("admin-key", f.admin_secret);
  HttpResponse r = f.call("POST", "/api/v1/members", auth,
                          R"({"id": 3, "query_loc": "127.0.0.1:10056", "raft_loc": "127.0.0.1:10057"})");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(f.call("DELETE", "/api/v1/members/3", auth).status, 200u);
  ASSERT_EQ(f.member_changes.size(), 2u);
  EXPECT_EQ(f.member_changes[0].kind, MemberChange::Kind::Add);
  EXPECT_EQ(f.member_changes[0].id, 3u);
  EXPECT_EQ(f.member_changes[0].query_loc, "127.0.0.1:10056");
  EXPECT_EQ(f.member_changes[0].raft_loc, "127.0.0.1:10057");
  EXPECT_EQ(f.member_changes[1].kind, MemberChange::Kind::Remove);
  EXPECT_EQ(f.member_changes[1].id, 3u);
  // Each carries a session stamp, as every change does.
  EXPECT_NE(f.member_changes[0].client_id, 0u);
  EXPECT_NE(f.member_changes[0].sequence, 0u);
}

TEST(Members, EveryMembersEndpointRefusesKeysThatAreNotAdmin) {
  Fixture f;
  const std::string body = R"({"id": 3, "query_loc": "127.0.0.1:10056", "raft_loc": "127.0.0.1:10057"})";
  EXPECT_EQ(f.call("POST", "/api/v1/members", "", body).status, 401u);
  EXPECT_EQ(f.call("POST", "/api/v1/members", basic("admin-key", "d3Jvbmc="), body).status, 401u);
  for (const std::string& auth : {basic("ddns-key", f.key_secret), basic("reader-key", f.reader_secret)}) {
    HttpResponse r = f.call("POST", "/api/v1/members", auth, body);
    EXPECT_EQ(r.status, 403u);
    EXPECT_NE(r.body.find("admin"), std::string::npos) << r.body;
    EXPECT_EQ(f.call("DELETE", "/api/v1/members/1", auth).status, 403u);
    EXPECT_EQ(f.call("GET", "/api/v1/members", auth).status, 403u);
  }
  EXPECT_TRUE(f.member_changes.empty());
}

TEST(Members, MalformedRequestsAre400AndReachNothing) {
  Fixture f;
  std::string auth = basic("admin-key", f.admin_secret);
  for (const char* body : {"", "[]", R"({"id": -1, "query_loc": "a:1", "raft_loc": "b:2"})",
                           R"({"id": "3", "query_loc": "a:1", "raft_loc": "b:2"})", R"({"id": 3, "raft_loc": "b:2"})",
                           R"({"id": 3, "query_loc": "a:1 MEMBER", "raft_loc": "b:2"})",
                           R"({"id": 3, "query_loc": "a:1", "raft_loc": "b:2", "voter": true})"}) {
    HttpResponse r = f.call("POST", "/api/v1/members", auth, body);
    EXPECT_EQ(r.status, 400u) << body;
    EXPECT_NE(nlohmann::json::parse(r.body)["error"].get<std::string>(), "") << body;
  }
  EXPECT_EQ(f.call("DELETE", "/api/v1/members/x1", auth).status, 400u);
  EXPECT_EQ(f.call("DELETE", "/api/v1/members", auth).status, 405u);
  EXPECT_EQ(f.call("POST", "/api/v1/members/3", auth).status, 405u);
  EXPECT_TRUE(f.member_changes.empty());
}

TEST(Members, TheNodesAnswerBecomesAStatusByItsKind) {
  Fixture f;
  std::string auth = basic("admin-key", f.admin_secret);
  f.member_error = util::make_error(util::ErrorKind::Conflict, "a membership change is still in progress");
  HttpResponse busy = f.call("DELETE", "/api/v1/members/2", auth);
  EXPECT_EQ(busy.status, 409u);
  EXPECT_NE(busy.body.find("in progress"), std::string::npos) << busy.body;
  f.member_error = util::make_error("bad address 'nowhere': no port");
  EXPECT_EQ(f.call("POST", "/api/v1/members", auth, R"({"id": 3, "query_loc": "nowhere", "raft_loc": "b:2"})").status,
            400u);
  f.member_error = util::make_error(util::ErrorKind::OutcomeUnknown, "timeout: not committed within 3000 ms");
  EXPECT_EQ(f.call("DELETE", "/api/v1/members/2", auth).status, 504u);
  // The member list's own refusal is a conflict with it.
  f.member_error.reset();
  f.member_refusal = "node 2 is not a member";
  HttpResponse refused = f.call("DELETE", "/api/v1/members/2", auth);
  EXPECT_EQ(refused.status, 409u);
  EXPECT_NE(refused.body.find("not a member"), std::string::npos) << refused.body;
}

}  // namespace
}  // namespace server
