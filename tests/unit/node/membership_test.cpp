// Member-list changes: encoding, deterministic application, checkpoint format.
#include "node/membership.h"

#include <gtest/gtest.h>

#include "raft/core.h"

namespace {

node::MemberOp set(uint32_t id, const std::string& q, const std::string& r) {
  node::MemberOp op;
  op.id = id;
  op.info = {q, r};
  return op;
}

node::MemberOp remove_op(uint32_t id) {
  node::MemberOp op;
  op.kind = node::MemberOp::Kind::Remove;
  op.id = id;
  return op;
}

TEST(Membership, OpRoundTripsAndIsToldApartFromStoreChanges) {
  auto op = set(3, "127.0.0.1:10083", "127.0.0.1:4324");
  op.origin = 1;
  op.client_id = 9;
  op.sequence = 4;
  std::string bytes = node::encode_member_op(op);
  EXPECT_TRUE(node::is_member_entry(bytes));
  EXPECT_FALSE(node::is_member_entry(std::string(1, '\x01')));
  auto back = node::decode_member_op(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->id, 3u);
  EXPECT_EQ(back->info, op.info);
  EXPECT_EQ(back->sequence, 4u);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(node::decode_member_op(bytes.substr(0, n))) << n;
}

TEST(Membership, AddingAnExistingIdWithOtherAddressesIsRefused) {
  node::MemberMap m;
  EXPECT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  EXPECT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");  // same: idempotent
  EXPECT_NE(node::apply_member_op(m, set(0, "127.0.0.1:5", "127.0.0.1:6")), "");
  EXPECT_EQ(m.at(0).raft_loc, "127.0.0.1:2");
}

TEST(Membership, HoldsDataIsRecordedAndNeverCleared) {
  node::MemberMap m;
  ASSERT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  auto flagged = set(0, "127.0.0.1:1", "127.0.0.1:2");
  flagged.info.holds_data = true;
  auto decoded = node::decode_member_op(node::encode_member_op(flagged));
  ASSERT_TRUE(decoded);
  ASSERT_EQ(node::apply_member_op(m, *decoded), "");
  EXPECT_TRUE(m.at(0).holds_data);
  ASSERT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  EXPECT_TRUE(m.at(0).holds_data);
  auto back = node::decode_cluster_state(node::encode_cluster_state(m, ""));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->first.at(0).holds_data);
}

TEST(Membership, AMarkArrivingAfterTheRemovalDoesNotAddTheMemberBack) {
  node::MemberMap m;
  ASSERT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  ASSERT_EQ(node::apply_member_op(m, set(1, "127.0.0.1:3", "127.0.0.1:4")), "");
  ASSERT_EQ(node::apply_member_op(m, remove_op(1)), "");
  auto late_mark = set(1, "127.0.0.1:3", "127.0.0.1:4");
  late_mark.info.holds_data = true;
  EXPECT_NE(node::apply_member_op(m, late_mark), "");
  EXPECT_FALSE(m.count(1));
}

TEST(Membership, AnAddressInUseByAnotherMemberIsRefused) {
  node::MemberMap m;
  ASSERT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  EXPECT_NE(node::apply_member_op(m, set(1, "127.0.0.1:3", "127.0.0.1:2")), "");
  EXPECT_EQ(m.size(), 1u);
}

TEST(Membership, RemovingAnUnknownOrTheLastMemberIsRefused) {
  node::MemberMap m;
  ASSERT_EQ(node::apply_member_op(m, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  EXPECT_NE(node::apply_member_op(m, remove_op(5)), "");
  EXPECT_NE(node::apply_member_op(m, remove_op(0)), "");
  ASSERT_EQ(node::apply_member_op(m, set(1, "127.0.0.1:3", "127.0.0.1:4")), "");
  EXPECT_EQ(node::apply_member_op(m, remove_op(0)), "");
  EXPECT_EQ(m.count(0), 0u);
}

TEST(Membership, ClusterStateCarriesMembersAndStoreBytes) {
  node::MemberMap m;
  m[2] = {"[::1]:53", "[::1]:4000"};
  std::string bytes = node::encode_cluster_state(m, "store-bytes");
  auto back = node::decode_cluster_state(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->first, m);
  EXPECT_EQ(back->second, "store-bytes");
  EXPECT_FALSE(node::decode_cluster_state("garbage"));
  EXPECT_FALSE(node::decode_cluster_state(bytes.substr(0, 20)));
}

}  // namespace

// The holds-data marks and the commit floor they give (DataMarks).
TEST(DataMarks, AnUnmarkedVoterCountsOnlyFromTheMarkThisLeaderAppended) {
  node::DataMarks marks;
  node::MemberMap committed;
  ASSERT_EQ(node::apply_member_op(committed, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  ASSERT_EQ(node::apply_member_op(committed, set(1, "127.0.0.1:3", "127.0.0.1:4")), "");
  EXPECT_EQ(marks.commit_floor(1, 5, committed), raft::Core::kNoCommitFloor);
  EXPECT_TRUE(marks.needs_mark(1, 5, committed));
  marks.proposed(1, 5, 42);
  EXPECT_FALSE(marks.needs_mark(1, 5, committed));
  EXPECT_EQ(marks.commit_floor(1, 5, committed), 42u);
  marks.proposed(1, 5, 50);
  EXPECT_EQ(marks.commit_floor(1, 5, committed), 42u) << "the first mark of a term counts";
  // A member removed and added again is a new node: it needs a mark of its own.
  marks.forget(1);
  EXPECT_TRUE(marks.needs_mark(1, 5, committed));
  EXPECT_EQ(marks.commit_floor(1, 5, committed), raft::Core::kNoCommitFloor);
  marks.proposed(1, 5, 42);
  // A later term's leader cannot rely on an entry of an earlier term.
  EXPECT_EQ(marks.commit_floor(1, 6, committed), raft::Core::kNoCommitFloor);
  EXPECT_TRUE(marks.needs_mark(1, 6, committed));
  marks.proposed(1, 6, 60);
  EXPECT_EQ(marks.commit_floor(1, 6, committed), 60u);
}

TEST(DataMarks, AMarkedOrDepartingMemberAlwaysCounts) {
  node::DataMarks marks;
  node::MemberMap committed;
  auto marked = set(0, "127.0.0.1:1", "127.0.0.1:2");
  ASSERT_EQ(node::apply_member_op(committed, marked), "");
  marked.info.holds_data = true;
  ASSERT_EQ(node::apply_member_op(committed, marked), "");
  EXPECT_EQ(marks.commit_floor(0, 3, committed), 0u);
  EXPECT_FALSE(marks.needs_mark(0, 3, committed)) << "the committed list already records it";
  EXPECT_EQ(marks.commit_floor(7, 3, committed), 0u) << "no longer listed: being removed";
  // A new cluster (nothing committed yet): nobody counts before its mark.
  EXPECT_EQ(marks.commit_floor(0, 3, node::MemberMap{}), raft::Core::kNoCommitFloor);
}

TEST(DataMarks, AnUnappliedMarkIsReportedAndOtherEntriesChangeNothing) {
  node::MemberMap known;
  ASSERT_EQ(node::apply_member_op(known, set(0, "127.0.0.1:1", "127.0.0.1:2")), "");
  const node::MemberMap before = known;
  node::note_unapplied_mark(known, node::encode_member_op(set(0, "127.0.0.1:1", "127.0.0.1:2")));
  node::note_unapplied_mark(known, node::encode_member_op(remove_op(0)));
  node::note_unapplied_mark(known, "not a member entry");
  EXPECT_EQ(known, before);
  auto mark = set(0, "127.0.0.1:1", "127.0.0.1:2");
  mark.info.holds_data = true;
  node::note_unapplied_mark(known, node::encode_member_op(mark));
  EXPECT_TRUE(known.at(0).holds_data);
  auto other = set(3, "127.0.0.1:5", "127.0.0.1:6");
  other.info.holds_data = true;
  node::note_unapplied_mark(known, node::encode_member_op(other));
  ASSERT_TRUE(known.count(3)) << "a mark for a member not yet listed here";
  EXPECT_TRUE(known.at(3).holds_data);
}

TEST(JoinAnswer, RoundTripsWithMarksAndTerm) {
  node::JoinAnswer a;
  a.voters = {1, 2, 3};
  a.members[0] = {"127.0.0.1:1", "127.0.0.1:2", true};
  a.members[4] = {"127.0.0.1:3", "127.0.0.1:4", false};
  a.term = 9;
  auto b = node::decode_join_answer(node::encode_join_answer(a));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->voters, a.voters);
  EXPECT_EQ(b->members, a.members);
  EXPECT_EQ(b->term, 9u);
}

TEST(JoinAnswer, PeerInputOfTheWrongShapeIsAnErrorNotAnException) {
  for (const char* bad : {"", "[]", "{", R"({"members":{}})", R"({"voters":[],"members":{}})",
                          R"({"voters":"1","members":{}})", R"({"voters":[1,"x"],"members":{}})",
                          R"({"voters":[0],"members":{}})", R"({"voters":[-1],"members":{}})",
                          R"({"voters":[1],"members":[]})", R"({"voters":[1],"members":{"zero":{}}})",
                          R"({"voters":[1],"members":{"-1":{}}})", R"({"voters":[1],"members":{"4294967296":{}}})",
                          R"({"voters":[1],"members":{"0":5}})", R"({"voters":[1],"members":{"0":{"query_loc":5}}})",
                          R"({"voters":[1],"members":{"0":{"holds_data":"yes"}}})",
                          R"({"voters":[1],"members":{},"term":"7"})", R"({"voters":[1],"members":{},"term":-7})"}) {
    auto r = node::decode_join_answer(bad);
    EXPECT_FALSE(r) << bad;
  }
  auto old = node::decode_join_answer(R"({"voters":[1],"members":{"0":{"query_loc":"a:1","raft_loc":"a:2"}}})");
  ASSERT_TRUE(old) << "an answer without a term (an older member) is fine: " << old.error().message;
  EXPECT_EQ(old->term, 0u);
  EXPECT_FALSE(old->members.at(0).holds_data);
}
