// Log compaction, chunked and resumable InstallSnapshot (§7), and the
// prune policy of docs/design.md (compact_hint).
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

/// Snapshot the leader's state machine at its applied index and compact.
void snapshot_and_compact(Core& c, const std::string& data) {
  auto meta = c.snapshot_meta_for(c.applied());
  ASSERT_TRUE(meta) << meta.error().message;
  ASSERT_TRUE(c.set_snapshot(*meta, std::make_shared<const std::string>(data)));
  auto r = c.compact(c.applied());
  ASSERT_TRUE(r) << r.error().message;
}

Net lagging_follower_net(size_t chunk) {
  Net net(3, [chunk](Config& c) {
    c.snapshot_chunk_bytes = chunk;
    c.snapshot_window_chunks = 2;
  });
  net.elect(1);
  net.isolate(3);
  for (int i = 0; i < 10; ++i) (void)net.at(1).propose("p" + std::to_string(i));
  net.deliver_all();
  return net;
}

TEST(Snapshot, CompactRequiresSnapshotAndApplied) {
  Net net(3);
  net.elect(1);
  (void)net.at(1).propose("x");
  net.deliver_all();
  Core& c = net.at(1);
  auto no_snap = c.compact(c.applied());
  ASSERT_FALSE(no_snap);
  EXPECT_NE(no_snap.error().message.find("set_snapshot"), std::string::npos);
  EXPECT_FALSE(c.compact(c.last_index() + 5));
  snapshot_and_compact(c, "state");
  EXPECT_EQ(c.first_index(), c.applied() + 1);
  EXPECT_FALSE(c.set_snapshot(SnapshotMeta{c.applied() + 10, 1, {}}, std::make_shared<const std::string>("x")))
      << "cannot register a snapshot beyond applied";
}

TEST(Snapshot, LaggingFollowerReceivesSnapshotInChunks) {
  Net net = lagging_follower_net(10);
  std::string data(45, 's');
  snapshot_and_compact(net.at(1), data);
  net.heal();
  net.sent.clear();
  net.tick_all(3);
  ASSERT_EQ(net.snapshots[3].size(), 1u);
  EXPECT_EQ(net.snapshots[3][0].data, data);
  EXPECT_EQ(net.snapshots[3][0].meta.index, net.at(1).log().snapshot_index());
  EXPECT_EQ(net.count_sent(MessageType::Snapshot), 5u) << "45 bytes in 10-byte chunks";
  for (const auto& m : net.sent) {
    if (m.type == MessageType::Snapshot) {
      EXPECT_LE(m.data.size(), 10u);
    }
  }
  (void)net.at(1).propose("after");
  net.deliver_all();
  EXPECT_EQ(net.at(3).last_index(), net.at(1).last_index());
  EXPECT_EQ(net.at(3).commit(), net.at(1).commit());
  EXPECT_EQ(net.at(3).applied(), net.at(1).applied());
  EXPECT_EQ(normal_data(net.applied[3]), std::vector<std::string>{"after"});
}

TEST(Snapshot, TransferResumesFromAcknowledgedOffset) {
  Net net = lagging_follower_net(10);
  std::string data(60, 'r');
  snapshot_and_compact(net.at(1), data);
  net.heal();
  int dropped = 0;
  net.drop_if = [&](const Message& m) {
    // Lose the chunk at offset 30 once.
    if (m.type == MessageType::Snapshot && m.offset == 30 && dropped == 0) {
      ++dropped;
      return true;
    }
    return false;
  };
  net.sent.clear();
  net.tick_all(10);
  ASSERT_EQ(net.snapshots[3].size(), 1u);
  EXPECT_EQ(net.snapshots[3][0].data, data);
  size_t from_zero = 0;
  for (const auto& m : net.sent) from_zero += (m.type == MessageType::Snapshot && m.offset == 0);
  EXPECT_EQ(from_zero, 1u) << "resumed, not restarted";
}

TEST(Snapshot, FollowerAsksForRestartOnUnknownSnapshot) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m;
  m.type = MessageType::Snapshot;
  m.from = 1;
  m.to = 2;
  m.term = 1;
  m.snapshot = SnapshotMeta{5, 1, Membership{{1, 2, 3}, {}}};
  m.snapshot_size = 20;
  m.offset = 10;  // middle of a snapshot we never started
  m.data = std::string(10, 'x');
  f->step(m);
  auto out = take_messages(*f);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::SnapshotResp);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].offset, 0u);
}

TEST(Snapshot, InstalledSnapshotResetsLogAndMembership) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m;
  m.type = MessageType::Snapshot;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  m.snapshot = SnapshotMeta{50, 2, Membership{{1, 2, 3}, {7}}};
  m.snapshot_size = 4;
  m.data = "abcd";
  m.done = true;
  f->step(m);
  Ready rd = f->ready();
  ASSERT_TRUE(rd.snapshot);
  EXPECT_EQ(rd.snapshot->data, "abcd");
  EXPECT_EQ(rd.snapshot->meta.index, 50u);
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->commit, 50u);
  f->advance();
  EXPECT_EQ(f->first_index(), 51u);
  EXPECT_EQ(f->applied(), 50u);
  EXPECT_TRUE(f->membership().is_learner(7));
}

TEST(Snapshot, LeaderAsksHostForSnapshotWhenNoneRegistered) {
  Net net = lagging_follower_net(10);
  Core& l = net.at(1);
  auto meta = l.snapshot_meta_for(l.applied());
  ASSERT_TRUE(l.set_snapshot(*meta, std::make_shared<const std::string>("s")));
  ASSERT_TRUE(l.compact(l.applied()));
  // Simulate a restart of the leader that lost the registered bytes.
  Restored r;
  r.hard_state = HardState{l.term(), 1, l.commit()};
  r.snapshot = *meta;
  Config c = test_config(1, {1, 2, 3});
  c.snapshot_chunk_bytes = 10;
  net.add(c, r);
  net.heal();
  net.tick_all(40);
  ASSERT_NE(net.leader(), kNoNode);
  if (net.leader() == 1) {
    EXPECT_TRUE(net.need_snapshot[1]);
  }
}

TEST(Snapshot, CompactHintIsLowestAppliedAcrossMembers) {
  Net net(3);
  net.elect(1);
  for (int i = 0; i < 5; ++i) (void)net.at(1).propose("p");
  net.deliver_all();
  Index last = net.at(1).commit();
  net.at(1).report_checkpoint(last);
  net.at(2).report_checkpoint(last);
  net.at(3).report_checkpoint(3);
  net.tick_all(2);  // reports reach the leader, then its heartbeats carry the hint
  EXPECT_EQ(net.hints[1], 3u) << "node 3 has only checkpointed through 3";
  EXPECT_EQ(net.hints[2], 3u) << "followers learn the hint from the leader";
  net.at(3).report_checkpoint(last);
  net.tick_all(1);
  EXPECT_EQ(net.hints[1], last);
}

TEST(Snapshot, CompactHintStopsWaitingForNodeLaggingPastBound) {
  Net net(3, [](Config& c) { c.max_log_lag_entries = 4; });
  net.elect(1);
  net.isolate(3);  // never reports
  for (int i = 0; i < 10; ++i) (void)net.at(1).propose("p");
  net.deliver_all();
  Index last = net.at(1).last_index();
  net.at(1).report_checkpoint(net.at(1).applied());
  net.at(2).report_checkpoint(net.at(2).applied());
  net.tick_all(1);
  EXPECT_EQ(net.hints[1], last - 4) << "a node more than max_log_lag_entries behind no longer holds the log";
}

}  // namespace
}  // namespace raft::test
