// Log replication and commitment: §5.3, §5.4.2, fast backtracking, pipelining.
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

/// A core made leader of term hard_state.term + 1 by node 2's vote.
std::unique_ptr<Core> make_leader(Restored r, std::vector<NodeId> voters = {1, 2, 3},
                                  const std::function<void(Config&)>& tweak = {}) {
  Config c = test_config(1, voters);
  c.pre_vote = false;
  if (tweak) tweak(c);
  auto core = make_core(c, std::move(r));
  core->campaign();
  take_messages(*core);
  Message v = msg(MessageType::VoteResp, 2, 1, core->term());
  core->step(v);
  take_messages(*core);
  EXPECT_EQ(core->role(), Role::Leader);
  return core;
}

TEST(Replication, ProposedEntriesAreReplicatedAndApplied) {
  Net net(3);
  net.elect(1);
  ASSERT_TRUE(net.at(1).propose("a"));
  ASSERT_TRUE(net.at(1).propose("b"));
  net.deliver_all();
  for (NodeId id : {1, 2, 3}) {
    EXPECT_EQ(normal_data(net.applied[id]), (std::vector<std::string>{"a", "b"})) << "node " << id;
  }
}

TEST(Replication, ProposeReturnsIndexAndTermOfAppendedEntry) {
  Net net(3);
  net.elect(1);
  auto r = net.at(1).propose("x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Proposed::Kind::Appended);
  EXPECT_EQ(r->index, net.at(1).last_index());
  EXPECT_EQ(r->term, net.at(1).term());
}

TEST(Replication, LeaderDoesNotCommitPriorTermEntryByCounting) {
  // Figure 8: an entry of term 2 stored on a majority is not committed by a
  // leader of term 3 until an entry of term 3 is.
  Restored r;
  r.hard_state.term = 2;
  r.entries = make_log({1, 2});
  auto leader = make_leader(r);
  ASSERT_EQ(leader->term(), 3u);
  Index noop = leader->last_index();
  ASSERT_EQ(noop, 3u);
  Message ack = msg(MessageType::AppendResp, 2, 1, 3);
  ack.index = 2;  // node 2 holds the term-2 entry: a majority (1 and 2) has it
  leader->step(ack);
  EXPECT_LT(leader->commit(), 2u) << "a prior-term entry must not be committed by counting replicas";
  ack.index = 3;
  leader->step(ack);
  EXPECT_EQ(leader->commit(), 3u) << "committing the noop commits everything before it";
}

TEST(Replication, FollowerRejectsAppendWhenPrevEntryDoesNotMatch) {
  Restored r;
  r.hard_state.term = 2;
  r.entries = make_log({1, 1, 2});
  auto f = make_core(test_config(2, {1, 2, 3}), r);
  Message m = msg(MessageType::Append, 1, 2, 3);
  m.index = 3;
  m.log_term = 3;  // we hold term 2 at index 3
  m.entries = make_log({3}, 4);
  f->step(m);
  auto out = take_messages(*f);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].index, 3u);
  EXPECT_EQ(f->last_index(), 3u);
  // Hint: last index whose term is <= the leader's prev term, with its term.
  EXPECT_EQ(out[0].reject_hint, 3u);
  EXPECT_EQ(out[0].hint_term, 2u);
}

TEST(Replication, FollowerTruncatesConflictingSuffix) {
  Restored r;
  r.hard_state.term = 2;
  r.entries = make_log({1, 2, 2});
  auto f = make_core(test_config(2, {1, 2, 3}), r);
  Message m = msg(MessageType::Append, 1, 2, 3);
  m.index = 1;
  m.log_term = 1;
  m.entries = make_log({3}, 2);
  f->step(m);
  EXPECT_EQ(f->last_index(), 2u);
  EXPECT_EQ(f->log().term_at(2), 3u);
  Ready rd = f->ready();
  ASSERT_EQ(rd.entries.size(), 1u) << "the replacing entry must be handed out for persisting";
  EXPECT_EQ(rd.entries[0].index, 2u);
  f->advance();
}

TEST(Replication, FollowerCommitsNoFurtherThanLastNewEntry) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Append, 1, 2, 1);
  m.index = 0;
  m.log_term = 0;
  m.entries = make_log({1, 1});
  m.commit = 10;  // leader has more committed than it sent
  f->step(m);
  EXPECT_EQ(f->commit(), 2u);
}

TEST(Replication, FastBacktrackingSkipsWholeConflictingTerm) {
  // Follower 2 holds 50 entries of a deposed term 2; the leader has term 1
  // entries then term 3. Without hints this needs ~50 round trips.
  std::vector<Term> leader_terms(10, 1);
  std::vector<Term> follower_terms(10, 1);
  for (int i = 0; i < 50; ++i) follower_terms.push_back(2);
  for (int i = 0; i < 5; ++i) leader_terms.push_back(3);
  Net net(3, [](Config& c) { c.pre_vote = false; });
  Restored lr;
  lr.hard_state.term = 3;
  lr.entries = make_log(leader_terms);
  Restored fr;
  fr.hard_state.term = 2;
  fr.entries = make_log(follower_terms);
  Config c1 = test_config(1, {1, 2, 3});
  c1.pre_vote = false;
  Config c2 = test_config(2, {1, 2, 3});
  c2.pre_vote = false;
  net.add(c1, lr);
  net.add(c2, fr);
  net.isolate(2);
  net.elect(1);
  net.heal();
  net.sent.clear();
  (void)net.at(1).propose("x");
  net.tick_all(1);  // the heartbeat answer unpauses the probe to node 2
  EXPECT_LE(net.count_sent(MessageType::AppendResp, 1), 6u);
  EXPECT_EQ(net.at(2).last_index(), net.at(1).last_index());
  EXPECT_EQ(net.at(2).log().term_at(net.at(2).last_index()), net.at(1).term());
}

TEST(Replication, InflightWindowBoundsPipelinedAppends) {
  Net net(3, [](Config& c) {
    c.max_inflight_msgs = 2;
    c.max_msg_bytes = 1;  // one entry per Append
  });
  net.elect(1);
  // Hold every answer from node 2: the leader must stop after 2 Appends.
  net.drop_if = [](const Message& m) { return m.from == 2 && m.type == MessageType::AppendResp; };
  (void)net.at(1).propose("warm");  // first Append after election is in Replicate state already
  net.deliver_all();
  net.sent.clear();
  for (int i = 0; i < 10; ++i) (void)net.at(1).propose("p" + std::to_string(i));
  net.deliver_all();
  size_t appends_to_2 = 0;
  for (const auto& m : net.sent) appends_to_2 += (m.type == MessageType::Append && m.to == 2 && !m.entries.empty());
  EXPECT_LE(appends_to_2, 2u);
  EXPECT_GT(net.count_sent(MessageType::Append, 3), 2u) << "node 3 answers, so its pipeline keeps moving";
}

TEST(Replication, ProposalsBeforeReadyAreBatchedIntoOneAppend) {
  Net net(3);
  net.elect(1);
  net.sent.clear();
  for (int i = 0; i < 20; ++i) (void)net.at(1).propose("p" + std::to_string(i));
  net.deliver_all();
  size_t with_entries = 0;
  for (const auto& m : net.sent) with_entries += (m.type == MessageType::Append && m.to == 2 && !m.entries.empty());
  EXPECT_EQ(with_entries, 1u);
}

TEST(Replication, LostAppendsAreResentAfterAHeartbeatRound) {
  Net net(3);
  net.elect(1);
  bool drop = true;
  net.drop_if = [&](const Message& m) { return drop && m.type == MessageType::Append && m.to == 2; };
  (void)net.at(1).propose("lost");
  net.deliver_all();
  EXPECT_LT(net.at(2).last_index(), net.at(1).last_index());
  drop = false;
  net.tick_all(3);
  EXPECT_EQ(net.at(2).last_index(), net.at(1).last_index());
  EXPECT_EQ(normal_data(net.applied[2]), std::vector<std::string>{"lost"});
}

TEST(Replication, EntriesAndHardStateComeBeforeMessagesInOneReady) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Append, 1, 2, 1);
  m.entries = make_log({1});
  m.commit = 1;
  f->step(m);
  Ready rd = f->ready();
  EXPECT_EQ(rd.entries.size(), 1u);
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->commit, 1u);
  ASSERT_EQ(rd.messages.size(), 1u);  // the acknowledgement, sent after persisting
  EXPECT_EQ(rd.committed_entries.size(), 1u);
  f->advance();
  EXPECT_FALSE(f->has_ready());
  EXPECT_EQ(f->applied(), 1u);
}

TEST(Replication, RestartKeepsTermVoteAndLog) {
  Restored r;
  r.hard_state = HardState{5, 3, 2};
  r.entries = make_log({1, 4, 5});
  auto c = make_core(test_config(1, {1, 2, 3}), r);
  EXPECT_EQ(c->term(), 5u);
  EXPECT_EQ(c->status().vote, 3u);
  EXPECT_EQ(c->last_index(), 3u);
  EXPECT_EQ(c->commit(), 2u);
  Ready rd = c->ready();
  EXPECT_TRUE(rd.entries.empty()) << "restored entries are already durable";
  EXPECT_EQ(rd.committed_entries.size(), 2u) << "committed entries are applied again after restart";
  c->advance();
}

TEST(Replication, CreateRejectsLogWithGap) {
  Restored r;
  r.hard_state.term = 2;
  r.entries = make_log({1, 1});
  r.entries[1].index = 5;
  auto c = Core::create(test_config(1, {1, 2, 3}), r);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("gap"), std::string::npos);
}

TEST(Replication, FollowerProposeReturnsNotLeaderWithLeaderId) {
  Net net(3);
  net.elect(1);
  auto r = net.at(2).propose("x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("leader is 1"), std::string::npos) << r.error().message;
  EXPECT_EQ(net.at(2).leader(), 1u);
}

TEST(Replication, ForwardedProposalIsAppendedByLeader) {
  Net net(3);
  net.elect(1);
  auto r = net.at(3).propose_or_forward("fwd");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Proposed::Kind::Forwarded);
  EXPECT_EQ(r->leader, 1u);
  net.deliver_all();
  for (NodeId id : {1, 2, 3}) EXPECT_EQ(normal_data(net.applied[id]), std::vector<std::string>{"fwd"});
}

TEST(Replication, CandidateDropsForwardedProposal) {
  Config cfg = test_config(1, {1, 2, 3});
  cfg.pre_vote = false;
  auto c = make_core(cfg);
  c->campaign();
  ASSERT_EQ(c->role(), Role::Candidate);
  Message m = msg(MessageType::Forward, 2, 1, c->term());
  m.data = "x";
  c->step(m);
  EXPECT_EQ(c->counters().dropped_proposals, 1u);
  EXPECT_EQ(c->last_index(), 0u);
}

TEST(Replication, HeartbeatCommitIsLimitedToFollowerMatch) {
  Net net(3);
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 3; ++i) (void)net.at(1).propose("p");
  net.deliver_all();
  Index match3 = 0;
  for (const auto& p : net.at(1).status().peers) {
    if (p.id == 3) match3 = p.match;
  }
  ASSERT_LT(match3, net.at(1).commit());
  net.sent.clear();
  net.tick_all(1);
  bool seen = false;
  for (const auto& m : net.sent) {
    if (m.type == MessageType::Heartbeat && m.to == 3) {
      seen = true;
      EXPECT_EQ(m.commit, match3) << "a follower may only commit what it is known to hold";
    }
  }
  EXPECT_TRUE(seen);
}

// The commit floor: a replica counts only for entries at or above its voter's floor.
TEST(Replication, ReplicaBelowItsCommitFloorDoesNotCountTowardCommitment) {
  Net net(3);
  net.elect(1);
  std::map<NodeId, Index> floors;  // absent: counts from index 0
  net.at(1).set_commit_floor([&](NodeId v) {
    auto it = floors.find(v);
    return it == floors.end() ? 0 : it->second;
  });
  net.isolate(2);
  floors[3] = Core::kNoCommitFloor;
  const Index before = net.at(1).commit();
  (void)net.at(1).propose("a");
  (void)net.at(1).propose("b");
  net.deliver_all();
  // Node 3 holds both entries, but only the leader's replica counts: 1 of 3.
  ASSERT_EQ(net.at(1).log().entry(before + 2)->data, "b");
  EXPECT_EQ(net.at(1).commit(), before);
  EXPECT_TRUE(normal_data(net.applied[3]).empty());

  // From "b" on, node 3 counts: "b" commits, and "a" with it (§5.3).
  floors[3] = before + 2;
  net.at(1).recheck_commit();
  net.deliver_all();
  EXPECT_EQ(net.at(1).commit(), before + 2);
  EXPECT_EQ(normal_data(net.applied[1]), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(normal_data(net.applied[3]), (std::vector<std::string>{"a", "b"})) << "the new commit index reaches followers";
}

TEST(Replication, CommitFloorAboveAVotersMatchHoldsCommitmentBack) {
  Net net(3);
  net.elect(1);
  const Index base = net.at(1).last_index();
  const Index floor3 = base + 3;  // an entry node 3 does not hold yet
  net.at(1).set_commit_floor([&](NodeId v) { return v == 3 ? floor3 : 0; });
  net.isolate(2);
  (void)net.at(1).propose("a");
  (void)net.at(1).propose("b");
  net.deliver_all();
  EXPECT_LT(net.at(1).commit(), base + 1) << "node 3 holds a and b, but below its floor";
  (void)net.at(1).propose("c");
  net.deliver_all();
  EXPECT_EQ(net.at(1).commit(), base + 3) << "once node 3 holds its floor entry, it counts for it";
}

TEST(Replication, WithoutACommitFloorEveryReplicaCounts) {
  Net net(3);
  net.elect(1);
  net.isolate(2);
  (void)net.at(1).propose("a");
  net.deliver_all();
  EXPECT_EQ(normal_data(net.applied[3]), (std::vector<std::string>{"a"}));
}

TEST(Replication, FollowersReportAppliedIndexToLeader) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  net.at(2).report_checkpoint(net.at(2).applied());
  net.deliver_all();
  for (const auto& p : net.at(1).status().peers) {
    if (p.id == 2) {
      EXPECT_EQ(p.applied, net.at(2).applied());
    } else {
      EXPECT_EQ(p.applied, 0u) << "node 3 reported nothing";
    }
  }
}

TEST(Replication, StatusReportsRoleAndPeerProgress) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  Status s = net.at(1).status();
  EXPECT_EQ(s.role, Role::Leader);
  EXPECT_EQ(s.leader, 1u);
  EXPECT_EQ(s.commit, s.last_index);
  ASSERT_EQ(s.peers.size(), 2u);
  for (const auto& p : s.peers) {
    EXPECT_EQ(p.match, s.last_index);
    EXPECT_EQ(p.next, s.last_index + 1);
    EXPECT_EQ(p.state, ProgressState::Replicate);
  }
  EXPECT_EQ(net.at(2).status().role, Role::Follower);
  EXPECT_STREQ(role_name(Role::PreCandidate), "pre-candidate");
}

}  // namespace
}  // namespace raft::test
