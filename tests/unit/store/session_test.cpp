// Client sessions: the one-outstanding rule as the pool enforces it, and the
// store's answers to a session's retries and late copies.
#include "store/session.h"

#include <gtest/gtest.h>

#include <set>

namespace {

store::Change add_a(const char* owner) {
  store::Change c;
  c.origin = 1;
  dns::RR rr;
  rr.owner = dns::Name::from_text(owner).value();
  rr.type = dns::rrtype::A;
  rr.ttl = 60;
  rr.rdata = std::string("\xc0\x00\x02\x01", 4);
  c.ops.push_back({store::OpKind::Add, rr});
  return c;
}

TEST(ClientSession, EachChangeTakesTheNextSequence) {
  store::ClientSession s = store::ClientSession::open();
  EXPECT_NE(s.client_id(), 0u);
  store::Change a, b;
  s.stamp(a);
  s.stamp(b);
  EXPECT_EQ(a.client_id, s.client_id());
  EXPECT_EQ(b.client_id, s.client_id());
  EXPECT_EQ(a.sequence, 1u);
  EXPECT_EQ(b.sequence, 2u);
}

TEST(SessionPool, ChangesInFlightTogetherNeverShareASession) {
  store::SessionPool pool;
  std::vector<store::Change> submitted;
  std::vector<std::function<void(util::Result<store::ApplyResult>)>> waiting;
  store::SubmitFn hold = [&](store::Change c, std::function<void(util::Result<store::ApplyResult>)> done) {
    submitted.push_back(std::move(c));
    waiting.push_back(std::move(done));
  };
  for (int i = 0; i < 5; ++i) pool.submit(hold, store::Change{}, [](util::Result<store::ApplyResult>) {});
  std::set<uint64_t> clients;
  for (const auto& c : submitted) clients.insert(c.client_id);
  EXPECT_EQ(clients.size(), 5u);
  EXPECT_EQ(pool.opened(), 5u);
  // Once their outcomes are known the sessions are reused, each continuing
  // its own sequence.
  for (auto& done : waiting) done(store::ApplyResult{});
  waiting.clear();
  submitted.clear();
  for (int i = 0; i < 5; ++i) pool.submit(hold, store::Change{}, [](util::Result<store::ApplyResult>) {});
  EXPECT_EQ(pool.opened(), 5u);
  for (const auto& c : submitted) {
    EXPECT_TRUE(clients.count(c.client_id));
    EXPECT_EQ(c.sequence, 2u);
  }
}

TEST(SessionPool, TheSessionIsBackBeforeTheCallerHearsTheOutcome) {
  // A caller that submits its next change from the callback reuses the
  // session instead of opening another.
  store::SessionPool pool;
  store::SubmitFn now = [](store::Change, std::function<void(util::Result<store::ApplyResult>)> done) {
    done(store::ApplyResult{});
  };
  pool.submit(now, store::Change{}, [&](util::Result<store::ApplyResult>) {
    pool.submit(now, store::Change{}, [](util::Result<store::ApplyResult>) {});
  });
  EXPECT_EQ(pool.opened(), 1u);
}

TEST(SessionPool, ConcurrentChangesCommittedInReverseOrderAreEachAppliedOnce) {
  // The order a cluster may commit changes submitted together: every one is
  // applied and answered with its own outcome.
  store::Store st;
  ASSERT_TRUE(st.apply(
      [] {
        store::Change c;
        dns::RR soa;
        soa.owner = dns::Name::from_text("example.com.").value();
        soa.type = dns::rrtype::SOA;
        soa.ttl = 300;
        soa.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns.example.com. h.example.com. 1 2 3 4 5", dns::Name()).value();
        c.ops.push_back({store::OpKind::Add, soa});
        return c;
      }(),
      1).all_ok());
  store::SessionPool pool;
  std::vector<std::pair<store::Change, std::function<void(util::Result<store::ApplyResult>)>>> held;
  store::SubmitFn hold = [&](store::Change c, std::function<void(util::Result<store::ApplyResult>)> done) {
    held.emplace_back(std::move(c), std::move(done));
  };
  std::vector<bool> ok(3, false);
  const char* names[] = {"a.example.com.", "b.example.com.", "c.example.com."};
  for (size_t i = 0; i < 3; ++i) {
    pool.submit(hold, add_a(names[i]), [&ok, i](util::Result<store::ApplyResult> r) { ok[i] = r && r->all_ok(); });
  }
  uint64_t index = 1;
  for (size_t i = 3; i-- > 0;) held[i].second(st.apply(held[i].first, ++index));
  EXPECT_EQ(ok, std::vector<bool>(3, true));
  EXPECT_EQ(st.snapshot()->record_count(), 4u);
}

}  // namespace
