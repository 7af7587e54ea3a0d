// Untrusted input: messages from unknown nodes, old terms, or with impossible
// indexes are ignored and counted, never acted on.
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

TEST(BadInput, ResponseFromUnknownNodeIsIgnoredAndCounted) {
  Net net(3);
  net.elect(1);
  Index commit = net.at(1).commit();
  (void)net.at(1).propose("x");
  net.drop_if = [](const Message& m) { return m.type == MessageType::AppendResp; };
  net.deliver_all();
  Message m = msg(MessageType::AppendResp, 9, 1, net.at(1).term());
  m.index = net.at(1).last_index();
  net.at(1).step(m);
  m.from = 8;
  net.at(1).step(m);
  EXPECT_EQ(net.at(1).counters().unknown_sender, 2u);
  EXPECT_EQ(net.at(1).commit(), commit) << "strangers' acknowledgements must not commit anything";
}

TEST(BadInput, ForwardFromUnknownNodeIsIgnored) {
  Net net(3);
  net.elect(1);
  Index last = net.at(1).last_index();
  Message m = msg(MessageType::Forward, 9, 1, net.at(1).term());
  m.data = "intruder";
  net.at(1).step(m);
  EXPECT_EQ(net.at(1).last_index(), last);
  EXPECT_EQ(net.at(1).counters().unknown_sender, 1u);
}

TEST(BadInput, OldTermMessageIsIgnoredAndCounted) {
  Restored r;
  r.hard_state.term = 5;
  auto f = make_core(test_config(2, {1, 2, 3}), r);
  Message old = msg(MessageType::Append, 1, 2, 4);
  old.entries = make_log({4});
  f->step(old);
  EXPECT_EQ(f->last_index(), 0u);
  EXPECT_EQ(f->counters().stale_term, 1u);
  auto out = take_messages(*f);
  ASSERT_EQ(out.size(), 1u) << "the stale leader is told the newer term";
  EXPECT_EQ(out[0].term, 5u);
}

TEST(BadInput, AppendWithGapInEntriesIsMalformed) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Append, 1, 2, 1);
  m.entries = make_log({1, 1, 1});
  m.entries[2].index = 7;
  f->step(m);
  EXPECT_EQ(f->last_index(), 0u);
  EXPECT_EQ(f->counters().malformed, 1u);
}

TEST(BadInput, AppendWithEntryTermAboveMessageTermIsMalformed) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Append, 1, 2, 1);
  m.entries = make_log({3});
  f->step(m);
  EXPECT_EQ(f->last_index(), 0u);
  EXPECT_EQ(f->counters().malformed, 1u);
}

TEST(BadInput, AcknowledgementBeyondLeaderLogIsOutOfRange) {
  Net net(3);
  net.elect(1);
  Index commit = net.at(1).commit();
  Message m = msg(MessageType::AppendResp, 2, 1, net.at(1).term());
  m.index = net.at(1).last_index() + 100;
  net.at(1).step(m);
  EXPECT_EQ(net.at(1).counters().out_of_range, 1u);
  EXPECT_EQ(net.at(1).commit(), commit);
  Status s = net.at(1).status();
  for (const auto& p : s.peers) EXPECT_LE(p.match, s.last_index);
}

TEST(BadInput, SnapshotChunkBeyondDeclaredSizeIsOutOfRange) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Snapshot, 1, 2, 1);
  m.snapshot = SnapshotMeta{5, 1, Membership{{1, 2, 3}, {}}};
  m.snapshot_size = 4;
  m.offset = 2;
  m.data = "abcdef";
  f->step(m);
  EXPECT_EQ(f->counters().out_of_range, 1u);
  EXPECT_FALSE(f->has_ready());
}

TEST(BadInput, HugeIndexesAreOutOfRange) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  Message m = msg(MessageType::Heartbeat, 1, 2, 1);
  m.commit = ~Index{0};
  f->step(m);
  EXPECT_EQ(f->counters().out_of_range, 1u);
  EXPECT_EQ(f->commit(), 0u);
}

TEST(BadInput, MessageForAnotherNodeIsCounted) {
  auto f = make_core(test_config(2, {1, 2, 3}));
  f->step(msg(MessageType::Heartbeat, 1, 3, 1));
  EXPECT_EQ(f->counters().wrong_recipient, 1u);
  f->step(msg(MessageType::Heartbeat, 1, 2, 0));  // term 0 never comes from a peer
  f->step(msg(static_cast<MessageType>(99), 1, 2, 1));
  EXPECT_EQ(f->counters().malformed, 2u);
  EXPECT_EQ(f->term(), 0u);
}

TEST(BadInput, SecondLeaderInSameTermIsNotTrusted) {
  Net net(3);
  net.elect(1);
  Message m = msg(MessageType::Append, 2, 1, net.at(1).term());
  m.entries = make_log({net.at(1).term()}, net.at(1).last_index() + 1);
  m.index = net.at(1).last_index();
  m.log_term = net.at(1).term();
  Index last = net.at(1).last_index();
  net.at(1).step(m);
  EXPECT_EQ(net.at(1).last_index(), last);
  EXPECT_EQ(net.at(1).role(), Role::Leader);
  EXPECT_EQ(net.at(1).counters().malformed, 1u);
}

}  // namespace
}  // namespace raft::test
