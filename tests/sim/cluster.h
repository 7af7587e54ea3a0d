// A deterministic simulated cluster: many Raft cores on one thread, a seeded
// faulty network, crash/restart from modelled durable storage, proposals,
// reads, membership changes and snapshots, with invariants after every step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "invariants.h"
#include "raft/core.h"

namespace raft::sim {

/// Which faults a run injects, and how often (probabilities per event or per tick).
struct FaultMix {
  std::string name;
  double drop = 0;            ///< per message
  double duplicate = 0;       ///< per message
  int min_delay = 1;          ///< delivery delay in time units (a tick is 10 units)
  int max_delay = 5;
  double partition = 0;       ///< per tick: start a symmetric partition
  double one_way = 0;         ///< per tick: start one-way link cuts
  double crash = 0;           ///< per tick: crash a node (restarts later)
  double membership = 0;      ///< per tick: try a membership change
  double transfer = 0;        ///< per tick: try a leadership transfer
  double propose = 0.5;       ///< per tick: a client proposal
  double read = 0.1;          ///< per tick: a ReadIndex request
  bool classic = false;       ///< PreVote and CheckQuorum off: the plain algorithm of the paper
};

/// The fault mixes the test suite runs.
std::vector<FaultMix> standard_mixes();

/// Deterministic pseudo-random numbers (splitmix64): identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return p > 0 && static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t s_;
};

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  FaultMix mix;
  int chaos_ticks = 300;     ///< ticks of faults before healing
  int heal_ticks = 200;      ///< bound for liveness after healing
  bool trace = false;        ///< print every event (replay/debug)
};

/// Outcome of one run.
struct SimResult {
  bool ok = true;
  std::string failure;   ///< first violated invariant or liveness failure
  uint64_t events = 0;
  uint64_t acked = 0;    ///< proposals acknowledged to clients
  uint64_t reads = 0;    ///< reads answered
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes = 0;
  uint64_t leaders_elected = 0;
};

/// Runs one seeded scenario: chaos, heal, then the liveness checks.
class Cluster {
 public:
  explicit Cluster(SimOptions opts);
  SimResult run();

 private:
  /// What a node's disk holds: only what a host persisted from a Ready.
  struct Disk {
    HardState hard_state;
    SnapshotMeta snap_meta;
    std::string snap_data;
    std::vector<Entry> entries;  ///< after snap_meta.index
  };
  struct Node {
    NodeId id = kNoNode;
    std::unique_ptr<Core> core;  ///< null while crashed
    Disk disk;
    Index applied = 0;           ///< state machine: applied index
    uint64_t hash = 0;           ///< state machine: hash chain through `applied`
    int tick_phase = 0;
    int down_until_tick = 0;
    bool retired = false;        ///< removed from the cluster and shut down
    std::map<Index, std::pair<Term, std::string>> pending;  ///< proposals made here
  };
  struct Event {
    uint64_t time;
    uint64_t seq;
    NodeId to;
    Message msg;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  void fail(const std::string& what);
  void trace(const std::string& line) const;
  Node& node(NodeId id) { return *nodes_.at(id); }
  Config config_for(NodeId id) const;
  void boot(Node& n);
  void crash(Node& n);
  void deliver(const Event& ev);
  void process_ready(Node& n);
  void apply(Node& n, const Entry& e);
  void checkpoint(Node& n);
  void check(Node& n);
  bool link_up(NodeId from, NodeId to) const;
  void send(const Message& m);
  void global_tick(int tick, bool chaos);
  void chaos_actions(int tick);
  void membership_action(Node& leader);
  Node* find_leader();
  std::vector<NodeId> live_members(const Node& leader) const;
  bool converged(Node& leader);

  SimOptions opts_;
  Rng rng_;
  Invariants inv_;
  SimResult result_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  Membership bootstrap_;
  NodeId next_id_ = 0;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::map<NodeId, int> group_;             ///< symmetric partition: group per node
  std::set<std::pair<NodeId, NodeId>> cut_; ///< one-way cuts (from, to)
  int partition_until_ = 0;
  bool faults_on_ = true;
  uint64_t proposal_seq_ = 0;
  Index max_acked_index_ = 0;
  std::map<std::string, Index> reads_;      ///< context -> minimum acceptable index
  uint64_t read_seq_ = 0;
  int current_tick_ = 0;
};

}  // namespace raft::sim
