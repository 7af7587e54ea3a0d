// Leader election rules: §5.2, §5.4.1, PreVote and CheckQuorum (dissertation §9.6).
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

TEST(Election, LeaderIsElectedAfterElectionTimeout) {
  Net net(3);
  net.tick_all(25);  // > 2 * election_tick: someone's randomized timeout fired
  NodeId l = net.leader();
  ASSERT_NE(l, kNoNode);
  for (auto& [id, c] : net.cores) {
    EXPECT_EQ(c->leader(), l) << "node " << id;
    EXPECT_EQ(c->term(), net.at(l).term());
  }
}

TEST(Election, RandomizedTimeoutIsDeterministicPerSeed) {
  auto first_campaign_tick = [](uint64_t seed) {
    Config c = test_config(1, {1, 2, 3});
    c.seed = seed;
    auto core = make_core(c);
    for (int t = 1; t <= 100; ++t) {
      core->tick();
      if (core->role() == Role::PreCandidate) return t;
    }
    return -1;
  };
  int a = first_campaign_tick(7);
  EXPECT_EQ(a, first_campaign_tick(7));
  EXPECT_GE(a, 10);
  EXPECT_LT(a, 21);  // within [election_tick, 2 * election_tick]
  bool differs = false;
  for (uint64_t s = 8; s < 20; ++s) differs |= first_campaign_tick(s) != a;
  EXPECT_TRUE(differs) << "timeouts must be randomized";
}

TEST(Election, PreVoteDoesNotBumpTerm) {
  Net net(3);
  net.elect(1);
  Term term = net.at(1).term();
  net.isolate(3);
  net.tick_all(100);  // node 3 times out again and again, alone
  EXPECT_EQ(net.at(3).term(), term) << "a pre-candidate must not increment its term";
  EXPECT_EQ(net.at(3).role(), Role::PreCandidate);
}

TEST(Election, WithoutPreVoteAnIsolatedNodeBumpsItsTerm) {
  // The contrast to PreVoteDoesNotBumpTerm: the harness can see term growth.
  Net net(3, [](Config& c) { c.pre_vote = false; });
  net.elect(1);
  Term term = net.at(1).term();
  net.isolate(3);
  net.tick_all(100);
  EXPECT_GT(net.at(3).term(), term);
}

TEST(Election, PartitionedNodeCannotDisruptLeader) {
  Net net(3);
  net.elect(1);
  Term term = net.at(1).term();
  net.isolate(3);
  net.tick_all(100);
  net.heal();
  net.tick_all(30);
  EXPECT_EQ(net.leader(), 1u);
  EXPECT_EQ(net.at(1).term(), term) << "rejoining node must not force a new term";
}

TEST(Election, VoteNotGrantedToStaleLog) {
  Config c = test_config(1, {1, 2, 3});
  Restored r;
  r.hard_state.term = 2;
  r.entries = make_log({1, 2});
  auto core = make_core(c, r);
  Message m;
  m.type = MessageType::Vote;
  m.from = 2;
  m.to = 1;
  m.term = 3;
  m.index = 5;
  m.log_term = 1;  // longer log but older last term: less up to date (§5.4.1)
  core->step(m);
  auto out = take_messages(*core);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::VoteResp);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(core->status().vote, kNoNode);

  m.from = 3;
  m.log_term = 2;
  m.index = 2;  // same last term, same length: up to date
  core->step(m);
  out = take_messages(*core);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(core->status().vote, 3u);
}

TEST(Election, AtMostOneVotePerTerm) {
  auto core = make_core(test_config(1, {1, 2, 3}));
  Message m;
  m.type = MessageType::Vote;
  m.to = 1;
  m.term = 1;
  m.from = 2;
  core->step(m);
  m.from = 3;
  core->step(m);
  auto out = take_messages(*core);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_TRUE(out[1].reject) << "second candidate in the same term must be refused";
}

TEST(Election, VotePersistedBeforeResponseIsSent) {
  auto core = make_core(test_config(1, {1, 2, 3}));
  Message m;
  m.type = MessageType::Vote;
  m.to = 1;
  m.from = 2;
  m.term = 4;
  core->step(m);
  Ready rd = core->ready();
  ASSERT_TRUE(rd.hard_state.has_value()) << "the vote must be in the same Ready as the response";
  EXPECT_EQ(rd.hard_state->vote, 2u);
  EXPECT_EQ(rd.hard_state->term, 4u);
  EXPECT_TRUE(rd.must_sync());
  ASSERT_EQ(rd.messages.size(), 1u);
  core->advance();
}

TEST(Election, CheckQuorumLeaderStepsDown) {
  Net net(3);
  net.elect(1);
  ASSERT_EQ(net.leader(), 1u);
  net.isolate(1);
  net.tick_all(25);
  EXPECT_NE(net.at(1).role(), Role::Leader) << "a leader cut off from a quorum must step down";
}

TEST(Election, WithoutCheckQuorumIsolatedLeaderStays) {
  Net net(3, [](Config& c) { c.check_quorum = false; });
  net.elect(1);
  net.isolate(1);
  for (int i = 0; i < 25; ++i) net.at(1).tick();
  EXPECT_EQ(net.at(1).role(), Role::Leader);
}

TEST(Election, LeaderLeaseIgnoresVoteRequests) {
  Net net(3);
  net.elect(1);
  net.tick_all(2);
  Message m;
  m.type = MessageType::Vote;
  m.from = 3;
  m.to = 2;
  m.term = net.at(2).term() + 5;
  m.index = 100;
  m.log_term = 100;
  Term before = net.at(2).term();
  net.at(2).step(m);
  EXPECT_EQ(net.at(2).term(), before) << "vote request within the lease must not change the term";
  EXPECT_EQ(net.at(2).counters().lease_ignored_votes, 1u);
}

TEST(Election, CandidateStepsDownOnAppendFromLeaderOfSameTerm) {
  Net net(3, [](Config& c) { c.pre_vote = false; });
  net.elect(1);
  Term t = net.at(1).term();
  net.isolate(2);
  net.at(2).campaign();  // candidate at t+1, alone
  net.deliver_all();
  ASSERT_EQ(net.at(2).role(), Role::Candidate);
  Message m;
  m.type = MessageType::Append;
  m.from = 3;
  m.to = 2;
  m.term = t + 1;
  net.heal();
  net.at(2).step(m);
  EXPECT_EQ(net.at(2).role(), Role::Follower);
  EXPECT_EQ(net.at(2).leader(), 3u);
}

TEST(Election, SingleVoterElectsItselfAtOnce) {
  auto core = make_core(test_config(1, {1}));
  core->campaign();
  EXPECT_EQ(core->role(), Role::Leader);
}

TEST(Election, LeaderAppendsNoopOnElection) {
  Net net(3);
  net.elect(1);
  const Entry* e = net.at(1).log().entry(net.at(1).last_index());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->type, EntryType::Noop);
  EXPECT_EQ(e->term, net.at(1).term());
  EXPECT_EQ(net.at(2).commit(), net.at(1).last_index()) << "the noop commits with a quorum";
}

}  // namespace
}  // namespace raft::test
