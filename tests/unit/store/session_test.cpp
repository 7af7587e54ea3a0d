// Client sessions: the one-outstanding rule as the pool enforces it, and the
// store's answers to a session's retries and late copies.
#include "store/session.h"

#include <gtest/gtest.h>

#include <optional>
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
  store::Store st;
  store::ClientSession s = store::ClientSession::open();
  EXPECT_NE(s.client_id(), 0u);
  store::Change a, b;
  s.stamp(a, st);
  s.stamp(b, st);
  EXPECT_EQ(a.client_id, s.client_id());
  EXPECT_EQ(b.client_id, s.client_id());
  EXPECT_EQ(a.sequence, 1u);
  EXPECT_EQ(b.sequence, 2u);
  // Each carries its place in time: a wall-clock time and the applied index.
  EXPECT_GT(a.time_ms, 1'600'000'000'000u);
  EXPECT_EQ(a.stamped_after, st.applied_index());
}

TEST(SessionPool, ChangesInFlightTogetherNeverShareASession) {
  store::Store st;
  store::SessionPool pool(st);
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
  store::Store st;
  store::SessionPool pool(st);
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
  store::SessionPool pool(st);
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

TEST(SessionPool, AChangeRefusedForAnExpiredSessionGoesOnceMoreOnANewSession) {
  // At most one session remembered: each change evicts the one before.
  store::Store st(store::SessionLimits{3'600'000, 1});
  store::Change soa;
  dns::RR rr;
  rr.owner = dns::Name::from_text("example.com.").value();
  rr.type = dns::rrtype::SOA;
  rr.ttl = 300;
  rr.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns.example.com. h.example.com. 1 2 3 4 5", dns::Name()).value();
  soa.ops.push_back({store::OpKind::Add, rr});
  ASSERT_TRUE(st.apply(soa, 1).all_ok());
  store::SessionPool pool(st);
  std::vector<std::pair<store::Change, std::function<void(util::Result<store::ApplyResult>)>>> held;
  store::SubmitFn hold = [&](store::Change c, std::function<void(util::Result<store::ApplyResult>)> done) {
    held.emplace_back(std::move(c), std::move(done));
  };
  std::vector<std::optional<util::Result<store::ApplyResult>>> out(3);
  const char* names[] = {"x.example.com.", "y.example.com.", "z.example.com."};
  for (size_t i = 0; i < 3; ++i) {
    pool.submit(hold, add_a(names[i]), [&out, i](util::Result<store::ApplyResult> r) { out[i] = std::move(r); });
  }
  ASSERT_EQ(held.size(), 3u);
  // x, then y (which evicts x's session), then z: stamped before x's session
  // was forgotten, z could be a copy of a change of that session, and is
  // refused; the pool sends it again on a new session.
  uint64_t index = 1;
  for (size_t i = 0; i < 3; ++i) held[i].second(st.apply(held[i].first, ++index));
  ASSERT_EQ(held.size(), 4u);
  EXPECT_FALSE(out[2].has_value());
  EXPECT_NE(held[3].first.client_id, held[2].first.client_id);
  held[3].second(st.apply(held[3].first, ++index));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i].has_value() && out[i]->ok());
    EXPECT_TRUE((*out[i])->all_ok()) << names[i] << ": " << (*out[i])->first_error();
  }
  EXPECT_EQ(st.snapshot()->record_count(), 4u);
  EXPECT_EQ(pool.opened(), 4u);
}

// Found by fuzz_change_decode: a stamp near 2^64 made "last active +
// idle_ms" wrap around, so the session was forgotten at once and a retry of
// the same change was refused as expired instead of answered as a retry.
TEST(SessionExpiry, AStampNear2To64DoesNotForgetTheSessionAtOnce) {
  store::Store st;
  store::Change c = add_a("x.example.");
  c.client_id = 7;
  c.sequence = 3;
  c.time_ms = UINT64_MAX - 10;
  c.stamped_after = 0;
  const store::ApplyResult first = st.apply(c, 1);
  EXPECT_FALSE(first.expired);
  const store::ApplyResult retry = st.apply(c, 2);
  EXPECT_TRUE(retry.duplicate);
  EXPECT_FALSE(retry.expired);
  EXPECT_EQ(retry.op_errors, first.op_errors);
}

}  // namespace
