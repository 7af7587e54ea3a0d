// The whole-node simulator: several node::Replica on in-memory disks and a
// seeded network, driven by the product's own host loop (node::drive), with
// crashes, torn writes, full disks, partitions, wiped data directories,
// membership changes and writers through client sessions; a checker for
// Raft's promises and the product's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "../invariants.h"
#include "node/replica.h"
#include "raft/mem_file_system.h"
#include "store/session.h"
#include "store/store.h"

namespace node::sim {

/// Which faults a run injects, and how often (per message, or per tick).
struct FaultMix {
  std::string name;
  double drop = 0;         ///< per message
  double duplicate = 0;    ///< per message
  int min_delay_ms = 1;    ///< delivery delay (a tick is 100 ms)
  int max_delay_ms = 30;
  double partition = 0;    ///< per tick: split the nodes in two for a while
  double crash = 0;        ///< per tick: power loss on one node (unsynced writes lost or torn)
  double disk_full = 0;    ///< per tick: one node's disk fills up for a while
  double wipe = 0;         ///< per tick: one node loses its data directory (once per run)
  double membership = 0;   ///< per tick: the operator adds or removes a node
  double write = 0.5;      ///< per tick and writer: the next change, when none is outstanding
  double read = 0.1;       ///< per tick: a read barrier on a random node
};

/// The fault mixes CI runs.
std::vector<FaultMix> standard_mixes();

/// Deterministic pseudo-random numbers (splitmix64).
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
  int chaos_ticks = 80;   ///< ticks of faults and writes
  int heal_ticks = 300;   ///< bound for quiescence after healing
  int writers = 3;
  bool trace = false;     ///< print every message, fault and reply
  /// Self-test: the leader never appends holds-data marks
  /// (ReplicaOptions::test_break_data_marks); runs with wipes must then
  /// lose acknowledged changes now and then, and the checker must say so.
  bool break_marks = false;
};

struct SimResult {
  bool ok = true;
  std::string failure;  ///< the first violated promise
  uint64_t acked = 0, refused = 0, unknown = 0, reads = 0;
  uint64_t crashes = 0, wipes = 0, wiped_refused = 0, disk_full = 0, storage_failures = 0;
  uint64_t members_added = 0, members_removed = 0;
};

/// One seeded run: chaos, heal, quiescence, then the checks.
class World {
 public:
  explicit World(SimOptions options);
  ~World();
  SimResult run();

 private:
  struct Node;
  class Host;
  struct Writer;
  struct Request;
  struct Event {
    uint64_t time;
    uint64_t seq;
    uint32_t to;  // config id
    raft::Message msg;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };

  // Nodes.
  Node& add_node(uint32_t id, MemberMap members, std::string join);
  void boot(Node& n);
  void crash(Node& n, bool power_loss);
  void wipe(Node& n);
  bool up(const Node& n) const;
  void drive_node(Node& n);
  void handle(Node& n, Effects fx);
  void check_core(Node& n);

  // Network.
  void route(Node& from, raft::Message m);
  void deliver(const Event& ev);
  bool link_up(uint32_t a, uint32_t b) const;

  // Clients.
  void writer_step(Writer& w);
  void submit(Writer& w);
  void on_reply(Node& n, Request req, SubmitResult result);
  void operator_step();
  void read_step();

  // The run.
  void global_tick(bool chaos);
  void chaos_faults();
  bool quiescent();
  void final_checks();
  Node* leader();
  void fail(const std::string& what);
  void trace(const std::string& line) const;

  SimOptions opts_;
  Rng rng_;
  raft::sim::Invariants invariants_;
  SimResult result_;
  std::map<uint32_t, std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Writer>> writers_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  uint64_t now_ = 0;  // virtual milliseconds
  uint64_t seq_ = 0;
  int tick_ = 0;
  bool faults_on_ = true;
  std::map<uint32_t, int> group_;  // partition: group per node
  int partition_until_ = 0;
  uint32_t next_id_ = 0;
  RequestId next_request_ = 1;
  uint64_t next_client_ = 1;
  bool wiped_once_ = false;
  bool zone_ready_ = false;  // the operator's SOA change was applied: writers may start
  /// Stamps (client id, sequence) acknowledged / refused; the writer's last
  /// value of its own name at each acknowledgement.
  std::set<std::pair<uint64_t, uint64_t>> acked_, refused_;
};

}  // namespace node::sim
