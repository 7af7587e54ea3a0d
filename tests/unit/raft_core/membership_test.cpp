// Single-server membership changes with learners (dissertation §4.1-§4.2).
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

ConfChange cc(ConfChangeType t, NodeId n) { return ConfChange{t, n}; }

/// Net of 3 voters led by 1, plus node 4 booted with the bootstrap membership.
Net net_with_spare() {
  Net net(3);
  net.add(test_config(4, {1, 2, 3}));
  net.elect(1);
  return net;
}

TEST(Membership, ConfChangeEncodingRoundTrips) {
  ConfChange c{ConfChangeType::Promote, 0x0102030405060708ULL};
  auto d = ConfChange::decode(c.encode());
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, c);
  EXPECT_FALSE(ConfChange::decode("short"));
  EXPECT_FALSE(ConfChange::decode(std::string(9, '\x09')));
}

TEST(Membership, ConfChangeTakesEffectWhenAppended) {
  Net net = net_with_spare();
  net.drop_if = [](const Message& m) { return m.type == MessageType::AppendResp; };  // nothing commits
  auto r = net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(net.at(1).membership().is_learner(4)) << "leader uses the new config before commit";
  net.deliver_all();
  EXPECT_LT(net.at(2).commit(), r->index);
  EXPECT_TRUE(net.at(2).membership().is_learner(4)) << "followers use it as soon as they append it";
}

TEST(Membership, OnlyOneUncommittedChangeAtATime) {
  Net net = net_with_spare();
  net.drop_if = [](const Message& m) { return m.type == MessageType::AppendResp; };
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  auto second = net.at(1).propose_conf_change(cc(ConfChangeType::Remove, 3));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("not committed"), std::string::npos);
  net.drop_if = nullptr;
  net.tick_all(2);
  EXPECT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::Remove, 3)));
}

TEST(Membership, NewLeaderRefusesChangeUntilItsNoopCommits) {
  Net net(3);
  net.drop_if = [](const Message& m) { return m.type == MessageType::AppendResp; };
  net.elect(1);
  ASSERT_EQ(net.leader(), 1u);
  EXPECT_FALSE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
}

TEST(Membership, ChangeThatDoesNotFitIsRefused) {
  Net net = net_with_spare();
  EXPECT_FALSE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 2)));  // already a voter
  EXPECT_FALSE(net.at(1).propose_conf_change(cc(ConfChangeType::Promote, 4)));     // not a learner
  EXPECT_FALSE(net.at(1).propose_conf_change(cc(ConfChangeType::Remove, 9)));      // not a member
  EXPECT_FALSE(net.at(2).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));  // not leader
}

TEST(Membership, LearnerReceivesLogAndIsReportedCaughtUp) {
  Net net = net_with_spare();
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  net.deliver_all();
  (void)net.at(1).propose("data");
  net.tick_all(2);
  EXPECT_EQ(net.at(4).last_index(), net.at(1).last_index());
  EXPECT_EQ(normal_data(net.applied[4]), std::vector<std::string>{"data"});
  EXPECT_EQ(net.at(4).role(), Role::Learner);
  EXPECT_TRUE(net.at(1).is_caught_up(4));
  net.isolate(4);
  for (int i = 0; i < 5; ++i) (void)net.at(1).propose("more");
  net.deliver_all();
  EXPECT_FALSE(net.at(1).is_caught_up(4));
  EXPECT_TRUE(net.at(1).is_caught_up(4, 5));
}

TEST(Membership, LearnerNeverCampaigns) {
  Net net = net_with_spare();
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  net.deliver_all();
  net.isolate(1);
  net.isolate(2);
  net.isolate(3);
  net.sent.clear();
  for (int i = 0; i < 100; ++i) net.at(4).tick();
  net.drain(4);
  EXPECT_EQ(net.at(4).role(), Role::Learner);
  EXPECT_EQ(net.count_sent(MessageType::PreVote), 0u);
}

TEST(Membership, LearnerDoesNotCountTowardCommitQuorum) {
  Net net = net_with_spare();
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  net.deliver_all();
  net.isolate(2);
  net.isolate(3);
  auto r = net.at(1).propose("x");
  ASSERT_TRUE(r);
  net.deliver_all();
  EXPECT_EQ(net.at(4).last_index(), r->index) << "the learner has the entry";
  EXPECT_LT(net.at(1).commit(), r->index) << "leader + learner are not a quorum of 3 voters";
}

TEST(Membership, LearnerVotesAreNotCounted) {
  Config c = test_config(1, {1, 2, 3});
  c.pre_vote = false;
  c.initial_membership.learners = {4, 5};
  auto core = make_core(c);
  core->campaign();
  for (NodeId l : {4, 5}) {
    Message v;
    v.type = MessageType::VoteResp;
    v.from = l;
    v.to = 1;
    v.term = core->term();
    core->step(v);
  }
  EXPECT_EQ(core->role(), Role::Candidate) << "two learner votes plus its own must not elect";
}

TEST(Membership, PromotedLearnerVotesAndCounts) {
  Net net = net_with_spare();
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  net.tick_all(2);
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::Promote, 4)));
  net.tick_all(2);
  EXPECT_TRUE(net.at(4).membership().is_voter(4));
  EXPECT_EQ(net.at(4).role(), Role::Follower);
  net.isolate(2);
  auto r = net.at(1).propose("x");
  net.deliver_all();
  EXPECT_GE(net.at(1).commit(), r->index) << "1, 3 and 4 are a majority of 4 voters";
}

TEST(Membership, RemovedLeaderStepsDownAfterCommittingRemoval) {
  Net net(3);
  net.elect(1);
  net.tick_all(1);
  auto r = net.at(1).propose_conf_change(cc(ConfChangeType::Remove, 1));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(net.at(1).role(), Role::Leader) << "still leads until the removal commits";
  net.deliver_all();
  EXPECT_NE(net.at(1).role(), Role::Leader);
  net.tick_all(30);
  NodeId l = net.leader();
  EXPECT_TRUE(l == 2 || l == 3) << "leader " << l;
  EXPECT_GE(net.at(l).commit(), r->index);
  for (int i = 0; i < 50; ++i) net.at(1).tick();
  EXPECT_NE(net.at(1).role(), Role::PreCandidate) << "a removed node never campaigns";
}

TEST(Membership, RemovalCommitsWithoutTheRemovedNode) {
  Net net(3);
  net.elect(1);
  net.tick_all(1);
  net.isolate(3);
  auto r = net.at(1).propose_conf_change(cc(ConfChangeType::Remove, 3));
  ASSERT_TRUE(r);
  net.deliver_all();
  EXPECT_GE(net.at(1).commit(), r->index);
  (void)net.at(1).propose("after");
  net.deliver_all();
  EXPECT_EQ(normal_data(net.applied[2]), std::vector<std::string>{"after"}) << "quorum is now {1,2}";
}

TEST(Membership, TruncatedConfChangeIsRolledBack) {
  Config c = test_config(2, {1, 2, 3});
  auto f = make_core(c);
  Message m;
  m.type = MessageType::Append;
  m.from = 1;
  m.to = 2;
  m.term = 1;
  Entry e;
  e.index = 1;
  e.term = 1;
  e.type = EntryType::ConfChange;
  e.data = ConfChange{ConfChangeType::AddLearner, 9}.encode();
  m.entries = {e};
  f->step(m);
  EXPECT_TRUE(f->membership().is_learner(9));
  // A new leader of term 2 overwrites index 1 with another entry.
  Message m2 = m;
  m2.from = 3;
  m2.term = 2;
  Entry n;
  n.index = 1;
  n.term = 2;
  n.type = EntryType::Noop;
  m2.entries = {n};
  f->step(m2);
  EXPECT_FALSE(f->membership().contains(9)) << "the config in effect follows the log";
}

TEST(Membership, SnapshotMetaCarriesMembershipAtItsIndex) {
  Net net = net_with_spare();
  Index before = net.at(1).commit();
  ASSERT_TRUE(net.at(1).propose_conf_change(cc(ConfChangeType::AddLearner, 4)));
  net.deliver_all();
  auto old_meta = net.at(1).snapshot_meta_for(before);
  auto new_meta = net.at(1).snapshot_meta_for(net.at(1).commit());
  ASSERT_TRUE(old_meta);
  ASSERT_TRUE(new_meta);
  EXPECT_FALSE(old_meta->membership.contains(4));
  EXPECT_TRUE(new_meta->membership.is_learner(4));
}

}  // namespace
}  // namespace raft::test
