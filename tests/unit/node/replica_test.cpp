// node::Replica without a driver: events in, effects out, on an in-memory disk.
#include "node/replica.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "raft/mem_file_system.h"

namespace node {
namespace {

MemberMap three() {
  MemberMap m;
  for (uint32_t id = 0; id < 3; ++id) m[id] = {"q" + std::to_string(id), "n" + std::to_string(id)};
  return m;
}

class ReplicaTest : public testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::off); }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }

  std::unique_ptr<Replica> open(ReplicaOptions o) {
    o.data_dir = "/data";
    o.fs = &fs_;
    store_ = std::make_unique<store::Store>();
    auto r = Replica::open(std::move(o), *store_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(r.value()) : nullptr;
  }

  raft::MemFileSystem fs_;
  std::unique_ptr<store::Store> store_;
};

raft::Message join_answer(raft::NodeId from, const MemberMap& members) {
  raft::Message m;
  m.type = raft::MessageType::JoinResponse;
  m.from = from;
  m.to = raft::kNoNode;
  JoinAnswer a;
  a.voters = {1, 2, 3};
  a.members = members;
  m.data = encode_join_answer(a);
  return m;
}

// Found by the replica simulator: a joined node that lost power before it
// applied the member list knew only its own address after the restart, so it
// could not answer the leader, which then never sent it anything but
// heartbeats.
TEST_F(ReplicaTest, AJoinedNodeRestartedBeforeApplyingAnythingStillKnowsItsPeers) {
  MemberMap members = three();
  members[3] = {"q3", "n3"};
  ReplicaOptions o;
  o.self = 3;
  o.members = {{3, members[3]}};
  o.join = "n0";
  auto r = open(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->peer_map(), (PeerMap{{kJoinPeer, "n0"}}));
  Effects fx = r->receive(join_answer(1, members), Time(0));
  ASSERT_TRUE(fx.peers);
  const PeerMap want{{1, "n0"}, {2, "n1"}, {3, "n2"}};
  EXPECT_EQ(*fx.peers, want);

  r.reset();
  fs_.crash();  // power loss: nothing of the log was synced
  r = open(o);
  ASSERT_TRUE(r);
  ASSERT_NE(r->core(), nullptr) << "the node joined: it starts its core at once";
  EXPECT_EQ(r->peer_map(), want);
}

// Found by the replica simulator: a member restarted without having applied
// the member list cannot answer a member added meanwhile (no address for it);
// it asks the members it knows for the list.
TEST_F(ReplicaTest, AMemberWithoutAnAddressHereIsLookedUp) {
  ASSERT_TRUE(fs_.create_dirs("/data"));
  auto f = fs_.open_append("/data/cluster-bootstrap.json", true);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->append(R"({"voters":[1,2,3]})"));
  ASSERT_TRUE((*f)->sync());
  ReplicaOptions o;
  o.self = 0;
  o.members = three();
  auto r = open(o);
  ASSERT_TRUE(r);
  ASSERT_NE(r->core(), nullptr);

  raft::Message hb;  // from node 5 (raft id 6), added while this node was away
  hb.type = raft::MessageType::Heartbeat;
  hb.from = 6;
  hb.to = 1;
  hb.term = 3;
  (void)r->receive(hb, Time(0));
  std::vector<raft::NodeId> asked;
  for (int t = 1; t <= 20 && asked.empty(); ++t) {
    Effects fx = r->tick(Time(100 * t));
    for (const auto& m : fx.messages) {
      if (m.type == raft::MessageType::JoinRequest) asked.push_back(m.to);
    }
  }
  EXPECT_EQ(asked, (std::vector<raft::NodeId>{2, 3}));

  MemberMap grown = three();
  grown[5] = {"q5", "n5"};
  Effects fx = r->receive(join_answer(2, grown), Time(2100));
  ASSERT_TRUE(fx.peers);
  EXPECT_EQ(fx.peers->at(6), "n5");
  EXPECT_EQ(r->peer_map().at(6), "n5");
}

TEST_F(ReplicaTest, EveryRequestGetsOneReplyWhenItIsRefusedOrTheNodeStops) {
  ReplicaOptions o;
  o.self = 0;
  o.members = {{0, {"q0", "n0"}}};
  auto r = open(o);
  ASSERT_TRUE(r);
  (void)r->start();
  store::Change c;
  c.client_id = 9;
  c.sequence = 1;
  Effects fx = r->submit(1, c, Time(0));
  EXPECT_TRUE(fx.replies.empty()) << "pending until applied";
  fx = r->submit(2, c, Time(0));
  ASSERT_EQ(fx.replies.size(), 1u) << "the same stamp twice at once";
  EXPECT_EQ(fx.replies[0].id, 2u);
  store::Change next = c;
  next.sequence = 2;
  fx = r->submit(5, next, Time(0));
  ASSERT_EQ(fx.replies.size(), 1u) << "a session's second change while its first is pending breaks its rule";
  EXPECT_FALSE(fx.replies[0].result);
  fx = r->read_barrier(3, Time(0));
  fx = r->shutdown();
  std::set<RequestId> ids;
  for (const auto& reply : fx.replies) ids.insert(reply.id);
  EXPECT_EQ(ids, (std::set<RequestId>{1, 3}));
  fx = r->submit(4, c, Time(0));
  ASSERT_EQ(fx.replies.size(), 1u);
  EXPECT_FALSE(fx.replies[0].result);
}

}  // namespace
}  // namespace node
