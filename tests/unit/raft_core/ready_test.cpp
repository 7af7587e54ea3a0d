// What a Ready asks the host to make durable before it sends: Ready::must_sync()
// (Raft §5.2, §5.3; the commit index is volatile, Figure 2).
#include <gtest/gtest.h>

#include "harness.h"

namespace raft::test {
namespace {

std::vector<Message> of_type(const std::vector<Message>& msgs, MessageType t) {
  std::vector<Message> out;
  for (const Message& m : msgs) {
    if (m.type == t) out.push_back(m);
  }
  return out;
}

/// A follower in `term` that has voted for no one and holds no entries.
std::unique_ptr<Core> follower_in_term(NodeId id, Term term) {
  Restored r;
  r.hard_state.term = term;
  return make_core(test_config(id, {1, 2, 3}), std::move(r));
}

// The leader learns that its entry is committed from an acknowledgement: the
// batch that carries the new commit index holds no entry and no new term or
// vote, so it needs no fsync; the same for a follower that learns the
// commit index from a heartbeat.
TEST(Ready, ABatchThatOnlyMovesTheCommitIndexNeedsNoSync) {
  Net net(3);
  net.elect(1);
  Core& l = net.at(1);
  Core& f = net.at(2);
  const Index commit = l.commit();
  const Term term = l.term();

  auto proposed = l.propose("x");
  ASSERT_TRUE(proposed);
  Ready rd = l.ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.must_sync()) << "a new entry";
  EXPECT_FALSE(rd.term_or_vote_changed);
  auto appends = of_type(rd.messages, MessageType::Append);
  l.advance();
  ASSERT_FALSE(appends.empty());

  const Message* to_f = nullptr;
  for (const Message& m : appends) to_f = m.to == f.id() ? &m : to_f;
  ASSERT_NE(to_f, nullptr);
  f.step(*to_f);
  Ready frd = f.ready();
  ASSERT_EQ(frd.entries.size(), 1u);
  EXPECT_TRUE(frd.must_sync()) << "the follower's copy of the entry";
  auto acks = of_type(frd.messages, MessageType::AppendResp);
  f.advance();
  ASSERT_EQ(acks.size(), 1u);

  l.step(acks[0]);
  Ready crd = l.ready();
  ASSERT_TRUE(crd.hard_state);
  EXPECT_EQ(crd.hard_state->commit, proposed->index);
  EXPECT_GT(crd.hard_state->commit, commit);
  EXPECT_EQ(crd.hard_state->term, term);
  EXPECT_TRUE(crd.entries.empty());
  EXPECT_FALSE(crd.snapshot);
  EXPECT_FALSE(crd.term_or_vote_changed);
  EXPECT_FALSE(crd.must_sync()) << "only the commit index moved";
  EXPECT_FALSE(crd.committed_entries.empty());
  l.advance();

  // The next heartbeat tells the follower the commit index.
  l.tick();
  Ready hrd = l.ready();
  EXPECT_FALSE(hrd.must_sync());
  auto beats = of_type(hrd.messages, MessageType::Heartbeat);
  l.advance();
  const Message* beat_f = nullptr;
  for (const Message& m : beats) beat_f = m.to == f.id() ? &m : beat_f;
  ASSERT_NE(beat_f, nullptr);
  f.step(*beat_f);
  Ready fcrd = f.ready();
  ASSERT_TRUE(fcrd.hard_state);
  EXPECT_EQ(fcrd.hard_state->commit, proposed->index);
  EXPECT_FALSE(fcrd.term_or_vote_changed);
  EXPECT_FALSE(fcrd.must_sync()) << "only the commit index moved";
  f.advance();
}

// A node that hears of a newer term adopts it: that term must be durable
// before its answer leaves, even with nothing else in the batch.
TEST(Ready, ANewTermNeedsASync) {
  auto f = follower_in_term(2, 3);
  Message m = msg(MessageType::Heartbeat, 1, 2, 4);
  f->step(m);
  Ready rd = f->ready();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->term, 4u);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_FALSE(rd.snapshot);
  EXPECT_TRUE(rd.term_or_vote_changed);
  EXPECT_TRUE(rd.must_sync());
  EXPECT_EQ(of_type(rd.messages, MessageType::HeartbeatResp).size(), 1u);
  f->advance();
}

// A vote granted in the current term: only the vote changes, and it must be
// durable before the answer leaves (§5.2: one vote per term, across crashes).
TEST(Ready, AVoteInTheSameTermNeedsASync) {
  auto f = follower_in_term(2, 5);
  Message m = msg(MessageType::Vote, 3, 2, 5);
  f->step(m);
  Ready rd = f->ready();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->term, 5u);
  EXPECT_EQ(rd.hard_state->vote, 3u);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_TRUE(rd.term_or_vote_changed);
  EXPECT_TRUE(rd.must_sync());
  auto answers = of_type(rd.messages, MessageType::VoteResp);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].reject);
  f->advance();
}

// Entries from the leader of the current term: no new term or vote, but the
// acknowledgement promises the entries.
TEST(Ready, EntriesNeedASync) {
  auto f = follower_in_term(2, 3);
  Message m = msg(MessageType::Append, 1, 2, 3);
  m.index = 0;
  m.log_term = 0;
  m.entries = make_log({3, 3});
  f->step(m);
  Ready rd = f->ready();
  EXPECT_EQ(rd.entries.size(), 2u);
  EXPECT_FALSE(rd.term_or_vote_changed);
  EXPECT_TRUE(rd.must_sync());
  EXPECT_EQ(of_type(rd.messages, MessageType::AppendResp).size(), 1u);
  f->advance();
}

// A snapshot from the leader of the current term: it must be durable before
// the acknowledgement leaves, though term and vote stay.
TEST(Ready, ASnapshotNeedsASync) {
  auto f = follower_in_term(2, 3);
  Message m = msg(MessageType::Snapshot, 1, 2, 3);
  m.snapshot = SnapshotMeta{50, 2, Membership{{1, 2, 3}, {}}};
  m.snapshot_size = 4;
  m.data = "abcd";
  m.done = true;
  f->step(m);
  Ready rd = f->ready();
  ASSERT_TRUE(rd.snapshot);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_FALSE(rd.term_or_vote_changed);
  EXPECT_TRUE(rd.must_sync());
  f->advance();
}

// A restarted core starts from its durable term and vote: its first batch
// does not count them as changed.
TEST(Ready, ARestoredTermAndVoteAreNotChanges) {
  Restored r;
  r.hard_state = HardState{7, 3, 0};
  auto f = make_core(test_config(2, {1, 2, 3}), std::move(r));
  Message m = msg(MessageType::Heartbeat, 1, 2, 7);
  f->step(m);
  Ready rd = f->ready();
  EXPECT_FALSE(rd.term_or_vote_changed);
  EXPECT_FALSE(rd.must_sync());
  f->advance();
}

}  // namespace
}  // namespace raft::test
