// ReadIndex (§6.4) and leadership transfer (dissertation §3.10).
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

TEST(ReadIndex, LeaderAnswersAfterHeartbeatQuorum) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  Index commit = net.at(1).commit();
  // No heartbeat answers: the read must wait.
  net.drop_if = [](const Message& m) { return m.type == MessageType::HeartbeatResp; };
  ASSERT_TRUE(net.at(1).read_index("ctx1"));
  net.deliver_all();
  EXPECT_TRUE(net.reads[1].empty()) << "leadership not confirmed yet";
  net.drop_if = nullptr;
  net.tick_all(1);
  ASSERT_EQ(net.reads[1].size(), 1u);
  EXPECT_EQ(net.reads[1][0], (ReadState{commit, "ctx1"}));
}

TEST(ReadIndex, PartitionedLeaderCannotServeRead) {
  Net net(3);
  net.elect(1);
  net.isolate(1);
  ASSERT_TRUE(net.at(1).read_index("stale?"));
  for (int i = 0; i < 5; ++i) net.tick_all(1);
  EXPECT_TRUE(net.reads[1].empty());
}

TEST(ReadIndex, FollowerReadIsForwardedToLeader) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  ASSERT_TRUE(net.at(2).read_index("f"));
  net.deliver_all();
  ASSERT_EQ(net.reads[2].size(), 1u);
  EXPECT_EQ(net.reads[2][0].context, "f");
  EXPECT_EQ(net.reads[2][0].index, net.at(1).commit());
  EXPECT_TRUE(net.reads[1].empty());
}

TEST(ReadIndex, WaitsUntilLeaderCommitsAnEntryOfItsTerm) {
  Net net(3);
  net.drop_if = [](const Message& m) { return m.type == MessageType::AppendResp; };
  net.elect(1);
  ASSERT_TRUE(net.at(1).read_index("early"));
  net.tick_all(1);
  EXPECT_TRUE(net.reads[1].empty()) << "commit index of an earlier term may be stale";
  net.drop_if = nullptr;
  net.tick_all(2);
  ASSERT_EQ(net.reads[1].size(), 1u);
  EXPECT_EQ(net.reads[1][0].index, net.at(1).commit());
}

TEST(ReadIndex, NoLeaderKnownIsAnError) {
  auto c = make_core(test_config(1, {1, 2, 3}));
  auto r = c->read_index("x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no leader"), std::string::npos);
}

TEST(ReadIndex, SingleNodeAnswersImmediately) {
  auto c = make_core(test_config(1, {1}));
  c->campaign();
  take_messages(*c);
  ASSERT_TRUE(c->read_index("solo"));
  Ready rd = c->ready();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].context, "solo");
  c->advance();
}

TEST(Transfer, LeadershipMovesToUpToDateTarget) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  Term t = net.at(1).term();
  ASSERT_TRUE(net.at(1).transfer_leadership(3));
  net.deliver_all();
  EXPECT_EQ(net.leader(), 3u);
  EXPECT_EQ(net.at(3).term(), t + 1);
  EXPECT_EQ(net.at(1).leader(), 3u);
}

TEST(Transfer, TargetIsCaughtUpBeforeTimeoutNow) {
  Net net(3);
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 5; ++i) (void)net.at(1).propose("p");
  net.deliver_all();
  net.heal();
  net.sent.clear();
  ASSERT_TRUE(net.at(1).transfer_leadership(3));
  net.tick_all(2);
  EXPECT_EQ(net.leader(), 3u);
  // TimeoutNow was sent only once node 3 held the whole log.
  EXPECT_EQ(net.count_sent(MessageType::TimeoutNow), 1u);
  EXPECT_EQ(normal_data(net.applied[3]).size(), 5u);
}

TEST(Transfer, ProposalsRefusedDuringTransfer) {
  Net net(3);
  net.elect(1);
  net.isolate(3);
  ASSERT_TRUE(net.at(1).transfer_leadership(3));
  auto r = net.at(1).propose("x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("transfer"), std::string::npos);
}

TEST(Transfer, AbortedAfterElectionTimeout) {
  Net net(3);
  net.elect(1);
  net.isolate(3);
  ASSERT_TRUE(net.at(1).transfer_leadership(3));
  net.tick_all(12);
  EXPECT_EQ(net.leader(), 1u);
  EXPECT_EQ(net.at(1).status().transferee, kNoNode);
  EXPECT_TRUE(net.at(1).propose("after abort"));
}

TEST(Transfer, RefusedToNonVoter) {
  Net net(3);
  net.elect(1);
  EXPECT_FALSE(net.at(1).transfer_leadership(7));
  EXPECT_FALSE(net.at(2).transfer_leadership(3)) << "only the leader transfers";
}

TEST(Transfer, TimeoutNowCampaignIgnoresLeaderLease) {
  Net net(3);
  net.elect(1);
  net.tick_all(1);  // followers are within their lease
  ASSERT_TRUE(net.at(1).transfer_leadership(2));
  net.deliver_all();
  EXPECT_EQ(net.leader(), 2u);
  EXPECT_EQ(net.at(3).counters().lease_ignored_votes, 0u);
}

}  // namespace
}  // namespace raft::test
