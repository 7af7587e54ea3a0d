// node::Replica without a driver: events in, effects out, on an in-memory disk.
#include "node/replica.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <set>

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

// Found loading a zone file of 10,000,000 records: its one change of 494 MB
// reached the log, which takes entries of at most 64 MiB, and the node's
// storage failed for good. A change too large for a log entry is refused
// before it reaches any log; the node goes on committing.
TEST_F(ReplicaTest, AChangeTooLargeForALogEntryIsRefusedAndTheStorageKeepsWorking) {
  ReplicaOptions o;
  o.self = 0;
  o.members = {{0, {"q0", "n0"}}};
  auto r = open(o);
  ASSERT_TRUE(r);
  (void)r->start();
  store::Change huge;
  huge.client_id = 7;
  huge.sequence = 1;
  store::Op op;
  op.rr.owner = dns::Name::from_text("big.example.").value();
  op.rr.type = dns::rrtype::TXT;
  op.rr.ttl = 300;
  op.rr.rdata = std::string(60000, 'x');
  huge.ops.assign(1200, op);  // about 72 MB encoded
  Effects fx = r->submit(1, huge, Time(0));
  ASSERT_EQ(fx.replies.size(), 1u);
  ASSERT_FALSE(fx.replies[0].result);
  EXPECT_EQ(fx.replies[0].result.error().kind, util::ErrorKind::Invalid);
  EXPECT_NE(fx.replies[0].result.error().message.find("split it"), std::string::npos);
  EXPECT_FALSE(r->storage_failed());
  store::Change small;
  small.client_id = 8;
  small.sequence = 1;
  fx = r->submit(2, small, Time(0));
  EXPECT_TRUE(fx.replies.empty()) << "pending until applied";
  EXPECT_FALSE(r->storage_failed());
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

namespace node {
namespace {

/// Three replicas wired by hand: every message goes through a queue, and the
/// host records, for each, whether it left before its batch's fsync.
class Trio {
 public:
  struct Sent {
    raft::Message msg;
    uint32_t from = 0;
    bool before_fsync = false;
  };

  explicit Trio(uint64_t checkpoint_every = 1000, uint64_t prune_lag = 10000)
      : checkpoint_every_(checkpoint_every), prune_lag_(prune_lag) {
    spdlog::set_level(spdlog::level::off);
    for (uint32_t id = 0; id < 3; ++id) {
      auto& n = nodes_[id];
      n.fs = std::make_unique<raft::MemFileSystem>();
      EXPECT_TRUE(n.fs->create_dirs("/data"));
      auto f = n.fs->open_append("/data/cluster-bootstrap.json", true);
      EXPECT_TRUE((*f)->append(R"({"voters":[1,2,3]})"));
      EXPECT_TRUE((*f)->sync());
      EXPECT_TRUE(n.fs->sync_dir("/data"));
      boot(id);
    }
  }
  ~Trio() { spdlog::set_level(spdlog::level::info); }

  /// Stops node `id` and starts it again on its disk: after a process
  /// crash (the kernel keeps what was written) or a power loss (only what
  /// was fsynced is left). Messages on their way to it are lost.
  void restart(uint32_t id, bool power_loss) {
    nodes_[id].replica.reset();
    if (power_loss) nodes_[id].fs->crash();
    std::erase_if(queue_, [&](const raft::Message& m) { return config_id(m.to) == id; });
    boot(id);
  }

  /// Ticks every node and delivers every message until `done` or 500 rounds.
  template <class Pred>
  bool run_until(Pred done) {
    for (int round = 0; round < 500; ++round) {
      if (done()) return true;
      for (auto& [id, n] : nodes_) {
        handle(id, n.replica->tick(Time(100 * ++now_)));
        drive(*n.replica, *n.host);
      }
      deliver_all();
    }
    return done();
  }

  void deliver_all() {
    while (!queue_.empty()) {
      raft::Message m = std::move(queue_.front());
      queue_.pop_front();
      uint32_t to = config_id(m.to);
      if (!nodes_.count(to) || cut.count(to) || cut.count(config_id(m.from))) continue;
      handle(to, nodes_[to].replica->receive(m, Time(100 * now_)));
      drive(*nodes_[to].replica, *nodes_[to].host);
    }
  }

  Replica* leader() {
    for (auto& [id, n] : nodes_) {
      if (n.replica->is_leader()) return n.replica.get();
    }
    return nullptr;
  }
  uint32_t leader_id() {
    for (auto& [id, n] : nodes_) {
      if (n.replica->is_leader()) return id;
    }
    return 99;
  }
  raft::MemFileSystem& fs(uint32_t id) { return *nodes_[id].fs; }
  Replica& replica(uint32_t id) { return *nodes_[id].replica; }
  store::Store& store(uint32_t id) { return *nodes_[id].store; }
  Time now() const { return Time(100 * now_); }
  void drive_node(uint32_t id) { drive(*nodes_[id].replica, *nodes_[id].host); }
  void handle(uint32_t id, Effects fx) {
    for (auto& m : fx.messages) record(id, std::move(m), false);
    for (auto& r : fx.replies) replies.push_back(std::move(r));
  }

  std::vector<Sent> sent;
  std::vector<Reply> replies;
  /// When set, checkpoints are started but not written: they wait here,
  /// by node, as they would on the product's writer thread.
  bool hold_checkpoints = false;
  std::map<uint32_t, std::vector<CheckpointJob>> held;
  /// Nodes cut off: every message to or from them is dropped.
  std::set<uint32_t> cut;
  /// Log entries each node's compactions handed over to be freed.
  std::map<uint32_t, std::vector<raft::Entry>> released;

 private:
  class Host final : public ReplicaHost {
   public:
    Host(Trio& t, uint32_t id) : t_(t), id_(id) {}
    Time now() override { return Time(100 * t_.now_); }
    void send(raft::Message m) override { t_.record(id_, std::move(m), true); }
    void handle(Effects fx) override { t_.handle(id_, std::move(fx)); }
    void write_checkpoint(Replica& replica, CheckpointJob job) override {
      if (!t_.hold_checkpoints) return ReplicaHost::write_checkpoint(replica, std::move(job));
      t_.held[id_].push_back(std::move(job));
    }

   private:
    Trio& t_;
    uint32_t id_;
  };
  struct Node {
    std::unique_ptr<raft::MemFileSystem> fs;
    std::unique_ptr<store::Store> store;
    std::unique_ptr<Replica> replica;
    std::unique_ptr<Host> host;
  };
  void boot(uint32_t id) {
    auto& n = nodes_[id];
    ReplicaOptions o;
    o.self = id;
    o.members = three();
    o.data_dir = "/data";
    o.fs = n.fs.get();
    o.seed = id + 1;
    o.checkpoint_every_entries = checkpoint_every_;
    o.prune_lag_entries = prune_lag_;
    o.release_entries = [this, id](std::vector<raft::Entry> entries) {
      for (raft::Entry& e : entries) released[id].push_back(std::move(e));
    };
    n.store = std::make_unique<store::Store>();
    auto r = Replica::open(o, *n.store);
    ASSERT_TRUE(r) << r.error().message;
    n.replica = std::move(r.value());
    n.host = std::make_unique<Host>(*this, id);
    (void)n.replica->start();
  }
  void record(uint32_t from, raft::Message m, bool early) {
    sent.push_back({m, from, early});
    queue_.push_back(std::move(m));
  }

  uint64_t checkpoint_every_;
  uint64_t prune_lag_;
  std::map<uint32_t, Node> nodes_;
  std::deque<raft::Message> queue_;
  uint64_t now_ = 0;
};

store::Change add(uint64_t client, uint64_t seq, const std::string& owner) {
  store::Change c;
  c.client_id = client;
  c.sequence = seq;
  store::Op op;
  op.rr.owner = dns::Name::from_text(owner).value();
  op.rr.type = dns::rrtype::SOA;
  op.rr.ttl = 300;
  op.rr.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns.x. admin.x. 1 3600 600 86400 300", dns::Name()).value();
  c.ops.push_back(op);
  return c;
}

/// Submits change `c` through node `via` and runs until it is answered.
bool commit_one(Trio& trio, uint32_t via, uint64_t c) {
  const size_t before = trio.replies.size();
  trio.handle(via, trio.replica(via).submit(c, add(c, 1, "c" + std::to_string(c) + "."), trio.now()));
  trio.drive_node(via);
  return trio.run_until([&] { return trio.replies.size() > before; });
}

/// The names of a node's checkpoint files, temp files included.
std::vector<std::string> checkpoint_files(Trio& trio, uint32_t id) {
  auto files = trio.fs(id).list_dir("/data/raft");
  EXPECT_TRUE(files);
  std::vector<std::string> out;
  for (const std::string& f : files ? *files : std::vector<std::string>{}) {
    if (f.rfind("snap-", 0) == 0) out.push_back(f);
  }
  return out;
}

uint64_t checkpoint_index(Trio& trio, uint32_t id) {
  return trio.replica(id).status()["checkpoint_index"].get<uint64_t>();
}

// The rule the driver and the simulator share (ReadyStep::early): only a
// leader's Append and Heartbeat and a Forward leave before the fsync; a vote
// or an acknowledgement never does.
TEST(ReplicaHostLoop, OnlyMessagesThatPromiseNothingLeaveBeforeTheFsync) {
  Trio trio;
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  for (uint64_t c = 1; c <= 4; ++c) {
    trio.handle(trio.leader_id(), trio.leader()->submit(c, add(c, 1, "z" + std::to_string(c) + "."), trio.now()));
    trio.drive_node(trio.leader_id());
    trio.deliver_all();
  }
  // A change through a follower is forwarded to the leader.
  const uint32_t follower = (trio.leader_id() + 1) % 3;
  trio.handle(follower, trio.replica(follower).submit(5, add(5, 1, "f."), trio.now()));
  trio.drive_node(follower);
  ASSERT_TRUE(trio.run_until([&] { return trio.replies.size() >= 5; }));
  size_t early = 0, acks = 0;
  for (const auto& s : trio.sent) {
    const auto t = s.msg.type;
    if (t == raft::MessageType::AppendResp || t == raft::MessageType::VoteResp ||
        t == raft::MessageType::PreVoteResp || t == raft::MessageType::HeartbeatResp) {
      ++acks;
      EXPECT_FALSE(s.before_fsync) << raft::message_type_name(t) << " from node " << s.from << " left before its fsync";
    }
    if (s.before_fsync) {
      ++early;
      EXPECT_TRUE(t == raft::MessageType::Append || t == raft::MessageType::Heartbeat ||
                  t == raft::MessageType::Forward)
          << raft::message_type_name(t) << " left before the fsync";
    }
  }
  EXPECT_GT(early, 0u) << "the leader's Appends overlap its fsync";
  bool forwarded = false;
  for (const auto& s : trio.sent) forwarded |= s.msg.type == raft::MessageType::Forward;
  EXPECT_TRUE(forwarded) << "the follower's change went to the leader";
  EXPECT_GT(acks, 0u);
  for (const auto& r : trio.replies) EXPECT_TRUE(r.result) << (r.result ? "" : r.result.error().message);
}

// Group commit: everything proposed before the host loop runs shares one
// fsync on the leader.
TEST(ReplicaHostLoop, ChangesProposedTogetherShareOneFsync) {
  Trio trio;
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  trio.deliver_all();
  const uint32_t l = trio.leader_id();
  const uint64_t before = trio.fs(l).sync_count();
  for (uint64_t c = 1; c <= 20; ++c) {
    trio.handle(l, trio.leader()->submit(c, add(100 + c, 1, "g" + std::to_string(c) + "."), trio.now()));
  }
  trio.drive_node(l);
  EXPECT_EQ(trio.fs(l).sync_count() - before, 1u) << "twenty proposals, one batch, one fsync";
}

/// A leader elected, its members marked as holding data, one change
/// committed: from here a change commits without waiting for a tick.
uint32_t settled_leader(Trio& trio) {
  EXPECT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  const uint32_t l = trio.leader_id();
  trio.handle(l, trio.leader()->submit(1000, add(1000, 1, "first."), trio.now()));
  EXPECT_TRUE(trio.run_until([&] { return !trio.replies.empty(); }));
  trio.deliver_all();
  return l;
}

// One change at a time: the leader's only fsync on the way to the reply is
// its entry's. The commit index it learns from the acknowledgements is
// written without one (ReadyStep::sync; docs/design.md, safety rules).
TEST(ReplicaHostLoop, OneChangeAtATimeCostsTheLeaderOneFsync) {
  Trio trio;
  const uint32_t l = settled_leader(trio);
  for (uint64_t c = 1; c <= 5; ++c) {
    const uint64_t before = trio.fs(l).sync_count();
    const size_t replies = trio.replies.size();
    trio.handle(l, trio.leader()->submit(c, add(200 + c, 1, "o" + std::to_string(c) + "."), trio.now()));
    trio.drive_node(l);
    trio.deliver_all();  // appends, acknowledgements, the commit: no tick
    ASSERT_EQ(trio.replies.size(), replies + 1) << "change " << c << " answered without waiting for a tick";
    EXPECT_TRUE(trio.replies.back().result);
    EXPECT_EQ(trio.fs(l).sync_count() - before, 1u) << "change " << c;
  }
}

// The commit index written without an fsync survives a process crash (the
// kernel has it) and, after the next tick, a power loss: a node restarted
// on its own then answers the change without a quorum. A power loss before
// that tick may take it; the change comes back from the quorum.
TEST(ReplicaHostLoop, TheCommitIndexSurvivesAProcessCrashAndAfterATickAPowerLoss) {
  for (const char* when : {"process crash", "power loss after a tick", "power loss before the tick"}) {
    SCOPED_TRACE(when);
    Trio trio;
    const uint32_t l = settled_leader(trio);
    trio.handle(l, trio.leader()->submit(1, add(300, 1, "kept."), trio.now()));
    trio.drive_node(l);
    trio.deliver_all();
    ASSERT_EQ(trio.replies.size(), 2u);
    const raft::Index applied = trio.replica(l).applied();
    const std::string w = when;
    if (w == "power loss after a tick") trio.handle(l, trio.replica(l).tick(trio.now()));
    trio.restart(l, /*power_loss=*/w != "process crash");
    // Alone: nothing is delivered to or from it.
    const bool has = trio.store(l).snapshot()->find_zone(dns::Name::from_text("kept.").value()) != nullptr;
    if (w == "power loss before the tick") {
      EXPECT_LT(trio.replica(l).applied(), applied);
      EXPECT_FALSE(has);
      ASSERT_TRUE(trio.run_until([&] { return trio.replica(l).applied() >= applied; })) << "learnt from the quorum";
      EXPECT_NE(trio.store(l).snapshot()->find_zone(dns::Name::from_text("kept.").value()), nullptr);
    } else {
      EXPECT_EQ(trio.replica(l).applied(), applied);
      EXPECT_TRUE(has);
    }
  }
}

// A checkpoint is written off the driver's thread: while one is being
// written, changes go on committing and no second one starts; once written
// it is published on the driver's thread.
TEST(ReplicaCheckpoints, ChangesCommitWhileACheckpointIsBeingWritten) {
  Trio trio(/*checkpoint_every=*/5);
  trio.hold_checkpoints = true;
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  const uint32_t l = trio.leader_id();
  auto submit_and_wait = [&](uint64_t from, uint64_t to) {
    for (uint64_t c = from; c <= to; ++c) {
      trio.handle(l, trio.leader()->submit(c, add(c, 1, "c" + std::to_string(c) + "."), trio.now()));
      trio.drive_node(l);
      const size_t want = static_cast<size_t>(c);
      ASSERT_TRUE(trio.run_until([&] { return trio.replies.size() >= want; })) << "change " << c;
    }
  };
  submit_and_wait(1, 10);
  ASSERT_EQ(trio.held[l].size(), 1u) << "the leader started one checkpoint";
  const raft::Index index = trio.held[l][0].meta.index;
  // Twenty more changes commit while it is still being written, and they
  // start no second checkpoint.
  submit_and_wait(11, 30);
  for (const auto& r : trio.replies) EXPECT_TRUE(r.result) << (r.result ? "" : r.result.error().message);
  EXPECT_EQ(trio.held[l].size(), 1u);
  EXPECT_EQ(trio.replica(l).status()["checkpoint_index"], 0u);
  // Written (on any thread), then published on the driver's thread.
  CheckpointJob job = std::move(trio.held[l][0]);
  trio.held[l].clear();
  job.write();
  const Time took = trio.now() - job.started;
  ASSERT_GT(took.count(), 0);
  trio.replica(l).finish_checkpoint(std::move(job), trio.now());
  EXPECT_EQ(trio.replica(l).status()["checkpoint_index"], index);
  EXPECT_EQ(trio.replica(l).status()["checkpoint_last_ms"], took.count()) << "from capture to publication";
  auto files = trio.fs(l).list_dir("/data/raft");
  ASSERT_TRUE(files);
  size_t snaps = 0;
  for (const std::string& f : *files) {
    EXPECT_EQ(f.find(".tmp"), std::string::npos) << f;
    snaps += f.rfind("snap-", 0) == 0;
  }
  EXPECT_EQ(snaps, 1u);
}

// The entries a checkpoint makes obsolete leave both in-memory logs (the
// core's and the storage's) through ReplicaOptions::release_entries, which
// the node runs on another thread: freeing a 48 MB entry there held up the
// io thread for 11 ms. Nothing still in the log is handed over.
TEST(ReplicaCheckpoints, CompactedEntriesAreHandedOverToBeFreedElsewhere) {
  Trio trio(/*checkpoint_every=*/5, /*prune_lag=*/5);
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  const uint32_t l = trio.leader_id();
  auto first_index = [&] { return trio.replica(l).status()["log_first_index"].get<uint64_t>(); };
  uint64_t c = 0;
  while (first_index() <= 6 && c < 100) ASSERT_TRUE(commit_one(trio, l, ++c));
  const uint64_t first = first_index();
  ASSERT_GT(first, 6u) << "the leader compacted its log";

  // Each index below the log's first, once from the core and once from the
  // storage, with the data it was committed with.
  std::map<raft::Index, int> copies;
  size_t with_data = 0;
  for (const raft::Entry& e : trio.released[l]) {
    EXPECT_LT(e.index, first);
    ++copies[e.index];
    with_data += !e.data.empty();
  }
  for (raft::Index i = 1; i < first; ++i) EXPECT_EQ(copies[i], 2) << "index " << i;
  EXPECT_GE(with_data, 2 * 5u) << "the changes' data moved along, not only their headers";
  for (const auto& r : trio.replies) EXPECT_TRUE(r.result) << (r.result ? "" : r.result.error().message);
}

// A checkpoint whose write fails (disk full) is dropped: its temp file is
// gone, the node goes on committing from its log, and a later checkpoint,
// once there is room again, is published.
TEST(ReplicaCheckpoints, AFailedWriteLeavesNoTempFileAndALaterCheckpointIsPublished) {
  Trio trio(/*checkpoint_every=*/5);
  trio.hold_checkpoints = true;
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  const uint32_t l = trio.leader_id();
  uint64_t c = 0;
  while (trio.held[l].empty() && c < 20) ASSERT_TRUE(commit_one(trio, l, ++c));
  ASSERT_EQ(trio.held[l].size(), 1u) << "the leader started one checkpoint";
  CheckpointJob job = std::move(trio.held[l][0]);
  trio.held[l].clear();
  const raft::Index failed_at = job.meta.index;

  trio.fs(l).set_capacity(trio.fs(l).used_bytes());  // the disk is full
  job.write();
  ASSERT_TRUE(job.written);
  ASSERT_FALSE(*job.written) << "a write to a full disk fails";
  trio.replica(l).finish_checkpoint(std::move(job), trio.now());
  EXPECT_EQ(checkpoint_files(trio, l), std::vector<std::string>{}) << "no temp file, nothing published";
  EXPECT_EQ(checkpoint_index(trio, l), 0u);
  EXPECT_FALSE(trio.replica(l).storage_failed()) << "the log is intact: only the checkpoint failed";

  // Room again: changes go on committing, and a later checkpoint (written at
  // once from here on) is published.
  trio.fs(l).set_capacity(std::nullopt);
  trio.hold_checkpoints = false;
  const uint64_t failed_c = c;
  while (checkpoint_index(trio, l) == 0 && c < failed_c + 200) ASSERT_TRUE(commit_one(trio, l, ++c));
  EXPECT_GT(checkpoint_index(trio, l), failed_at);
  const std::vector<std::string> files = checkpoint_files(trio, l);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].find(".tmp"), std::string::npos) << files[0];
  for (const auto& r : trio.replies) EXPECT_TRUE(r.result) << (r.result ? "" : r.result.error().message);
  EXPECT_EQ(trio.replies.size(), c);
}

// A follower's checkpoint overtaken by a newer snapshot from the leader,
// installed after the checkpoint was written and before it was published:
// its temp file is removed, not published, and the leader's snapshot stays
// the follower's checkpoint.
TEST(ReplicaCheckpoints, ACheckpointOvertakenByTheLeadersSnapshotIsDropped) {
  Trio trio(/*checkpoint_every=*/5, /*prune_lag=*/5);
  trio.hold_checkpoints = true;
  ASSERT_TRUE(trio.run_until([&] { return trio.leader() != nullptr; }));
  const uint32_t l = trio.leader_id();
  const uint32_t f = (l + 1) % 3;
  uint64_t c = 0;
  while (trio.held[f].empty() && c < 20) ASSERT_TRUE(commit_one(trio, l, ++c));
  ASSERT_TRUE(trio.run_until([&] { return !trio.held[f].empty(); })) << "the follower started a checkpoint";
  CheckpointJob stale = std::move(trio.held[f][0]);
  trio.held[f].clear();
  // The other nodes' checkpoints are written at once from here on.
  trio.hold_checkpoints = false;
  for (auto& [id, jobs] : trio.held) {
    for (CheckpointJob& job : jobs) {
      job.write();
      trio.replica(id).finish_checkpoint(std::move(job), trio.now());
    }
  }
  trio.held.clear();

  // The follower is cut off while the others go on and prune their logs
  // past its last entry: it can only catch up from a snapshot.
  trio.cut.insert(f);
  const uint64_t follower_last = trio.replica(f).status()["log_last_index"].get<uint64_t>();
  const uint64_t cut_c = c;
  while (trio.replica(l).status()["log_first_index"].get<uint64_t>() <= follower_last + 1 && c < cut_c + 200) {
    ASSERT_TRUE(commit_one(trio, l, ++c));
  }
  ASSERT_GT(trio.replica(l).status()["log_first_index"].get<uint64_t>(), follower_last + 1);

  // The follower's checkpoint is written...
  stale.write();
  ASSERT_TRUE(stale.written && *stale.written) << (stale.written && !*stale.written ? stale.written->error().message : "");
  const std::string temp = stale.written->value().temp_path;
  ASSERT_TRUE(trio.fs(f).contents(temp));
  // ...but the leader's snapshot is installed before it is published.
  trio.cut.clear();
  ASSERT_TRUE(trio.run_until([&] { return checkpoint_index(trio, f) > stale.meta.index; }));
  const uint64_t installed = checkpoint_index(trio, f);
  const std::vector<std::string> before = checkpoint_files(trio, f);
  ASSERT_EQ(before.size(), 2u) << "the leader's snapshot and the stale temp file";
  trio.replica(f).finish_checkpoint(std::move(stale), trio.now());

  EXPECT_FALSE(trio.fs(f).contents(temp)) << "the stale temp file is removed";
  std::vector<std::string> after = checkpoint_files(trio, f);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].find(".tmp"), std::string::npos) << after[0];
  EXPECT_TRUE(after[0] == before[0] || after[0] == before[1]) << "the leader's snapshot stays: " << after[0];
  EXPECT_EQ(checkpoint_index(trio, f), installed);
  EXPECT_FALSE(trio.replica(f).storage_failed());
  // The follower goes on applying the leader's changes.
  ASSERT_TRUE(commit_one(trio, l, ++c));
  ASSERT_TRUE(trio.run_until([&] {
    return trio.replica(f).status()["applied_index"] == trio.replica(l).status()["applied_index"];
  }));
  for (const auto& r : trio.replies) EXPECT_TRUE(r.result) << (r.result ? "" : r.result.error().message);
}

// ---- storage failures in the host loop -----------------------------------------------

/// How many messages node `id` has sent so far.
size_t sent_by(const Trio& trio, uint32_t id) {
  size_t n = 0;
  for (const auto& s : trio.sent) n += s.from == id;
  return n;
}

bool holds(Trio& trio, uint32_t id, const std::string& zone) {
  return trio.store(id).snapshot()->find_zone(dns::Name::from_text(zone).value()) != nullptr;
}

/// The error kind of request `id`'s reply among `replies`, nullopt if it
/// has none or succeeded.
std::optional<util::ErrorKind> refused_as(const std::vector<Reply>& replies, RequestId id) {
  for (const Reply& r : replies) {
    if (r.id == id) return r.result ? std::nullopt : std::optional(r.result.error().kind);
  }
  return std::nullopt;
}

// A follower writes the commit index it learns without an fsync; its next
// tick fsyncs it (Replica::tick). When that fsync fails the follower stops
// at once: the change it had forwarded gets "outcome unknown" (it commits
// elsewhere), it sends nothing more and refuses changes, and the two others
// go on without it and keep everything acknowledged. Restarted, it catches up.
TEST(ReplicaStorageFaults, AFailedFsyncOfTheCommitIndexAtATickStopsTheNode) {
  Trio trio;
  const uint32_t l = settled_leader(trio);
  const uint32_t f = (l + 1) % 3, other = (l + 2) % 3;
  trio.handle(l, trio.leader()->submit(1, add(1, 1, "a."), trio.now()));
  trio.drive_node(l);
  trio.deliver_all();  // committed, and the commit index written on every node: no tick yet
  ASSERT_TRUE(trio.replies.back().result);
  ASSERT_TRUE(holds(trio, f, "a.")) << "the follower applied the change, so it wrote the commit index";

  // A change through the follower: forwarded, on its way to the leader.
  trio.handle(f, trio.replica(f).submit(2, add(2, 1, "b."), trio.now()));
  trio.drive_node(f);
  const size_t sent_before = sent_by(trio, f);
  const uint64_t syncs_before = trio.fs(f).sync_count();

  trio.fs(f).fail_next_sync();
  Effects fx = trio.replica(f).tick(trio.now());
  EXPECT_TRUE(fx.storage_failed);
  EXPECT_TRUE(trio.replica(f).storage_failed());
  EXPECT_EQ(trio.replica(f).status()["storage_failed"], true);
  EXPECT_EQ(refused_as(fx.replies, 2), util::ErrorKind::OutcomeUnknown) << "the forwarded change's reply";
  trio.handle(f, std::move(fx));
  trio.drive_node(f);
  Effects later = trio.replica(f).submit(3, add(3, 1, "c."), trio.now());
  EXPECT_EQ(refused_as(later.replies, 3), util::ErrorKind::StorageFailed) << "changes are refused";

  // The others commit the forwarded change and go on; the follower takes no part.
  ASSERT_TRUE(trio.run_until([&] { return holds(trio, l, "b.") && holds(trio, other, "b."); }));
  ASSERT_TRUE(commit_one(trio, l, 4));
  EXPECT_TRUE(trio.replies.back().result);
  EXPECT_EQ(sent_by(trio, f), sent_before) << "nothing leaves a node whose storage failed";
  EXPECT_EQ(trio.fs(f).sync_count(), syncs_before) << "and it does not use its storage";
  for (uint32_t id : {l, other}) {
    for (const char* zone : {"first.", "a.", "b.", "c4."}) EXPECT_TRUE(holds(trio, id, zone)) << id << " " << zone;
  }

  // Restarted after a power loss (the unsynced commit index is gone), it catches up.
  trio.restart(f, /*power_loss=*/true);
  EXPECT_FALSE(trio.replica(f).storage_failed());
  ASSERT_TRUE(trio.run_until([&] { return holds(trio, f, "c4."); }));
  EXPECT_TRUE(holds(trio, f, "b."));
}

// The leader learns that its change is committed but cannot write the new
// commit index (the disk is full): it stops before applying or answering
// anything of that batch. The client hears "outcome unknown" (the change is
// committed on the others), the leader sends nothing more and refuses
// changes, and the others elect a leader and keep every change. Restarted
// with room on its disk, it catches up.
TEST(ReplicaStorageFaults, AFailedWriteOfACommitIndexStopsTheLeader) {
  Trio trio;
  const uint32_t l = settled_leader(trio);
  const uint32_t f1 = (l + 1) % 3, f2 = (l + 2) % 3;
  trio.handle(l, trio.leader()->submit(1, add(1, 1, "x."), trio.now()));
  trio.drive_node(l);  // the entry is written and fsynced; its Appends wait in the queue
  const size_t replies = trio.replies.size();
  const uint64_t syncs_before = trio.fs(l).sync_count();

  trio.fs(l).set_capacity(trio.fs(l).used_bytes());  // the disk is full
  trio.deliver_all();  // the acknowledgements commit the change: a batch with only the commit index
  EXPECT_TRUE(trio.replica(l).storage_failed());
  EXPECT_EQ(trio.replica(l).status()["storage_failed"], true);
  ASSERT_EQ(trio.replies.size(), replies + 1);
  EXPECT_EQ(refused_as(trio.replies, 1), util::ErrorKind::OutcomeUnknown) << "not acknowledged";
  EXPECT_FALSE(holds(trio, l, "x.")) << "the batch that could not be written is not applied";
  const size_t sent_before = sent_by(trio, l);
  Effects later = trio.replica(l).submit(2, add(2, 1, "y."), trio.now());
  EXPECT_EQ(refused_as(later.replies, 2), util::ErrorKind::StorageFailed) << "changes are refused";

  // The followers elect one of themselves and commit the change.
  ASSERT_TRUE(trio.run_until([&] {
    return (trio.replica(f1).is_leader() || trio.replica(f2).is_leader()) && holds(trio, f1, "x.") &&
           holds(trio, f2, "x.");
  }));
  const uint32_t nl = trio.replica(f1).is_leader() ? f1 : f2;
  ASSERT_TRUE(commit_one(trio, nl, 3));
  EXPECT_TRUE(trio.replies.back().result);
  EXPECT_EQ(sent_by(trio, l), sent_before) << "nothing leaves a node whose storage failed";
  EXPECT_EQ(trio.fs(l).sync_count(), syncs_before) << "and it does not use its storage";
  for (uint32_t id : {f1, f2}) {
    for (const char* zone : {"first.", "x.", "c3."}) EXPECT_TRUE(holds(trio, id, zone)) << id << " " << zone;
  }

  // Room again and restarted: it catches up.
  trio.fs(l).set_capacity(std::nullopt);
  trio.restart(l, /*power_loss=*/false);
  EXPECT_FALSE(trio.replica(l).storage_failed());
  ASSERT_TRUE(trio.run_until([&] { return holds(trio, l, "c3."); }));
  EXPECT_TRUE(holds(trio, l, "x."));
}

}  // namespace
}  // namespace node
