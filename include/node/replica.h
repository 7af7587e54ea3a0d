// One dns-node replica without I/O of its own: every event it handles and
// every effect it has, in the order a reader needs them. The map of the node.
//
// The replica owns what makes a node more than a Raft core: the log on disk
// (through raft::LogStorage over a raft::FileSystem), apply to the store,
// checkpoints and their pacing, the join and fresh-start probe protocol, the
// holds-data marks, membership reconciliation, pending changes with their
// retries and deadlines, read barriers and STATUS. It has no socket, no
// timer, no clock, no thread and never exits the process: time comes in as a
// value, peer bytes as raft::Message, and what the node must do comes out as
// Effects. Two drivers run it: node::Cluster (Asio, one io thread, the
// product) and the cluster simulator (tests/sim/replica), both through the
// same host loop, drive() below.
//
// Events (each returns the Effects it had at once; more come out of drive()):
//
//   open()            restore: checkpoint, log, the cluster's first members
//   start()           the driver is ready to move messages
//   tick(now)         every ClusterOptions::tick_ms: Raft's clock, retries,
//                     deadlines, membership reconciliation (leader), probe
//                     and join requests (a node without a core yet)
//   receive(m, now)   a peer message: join requests and answers are the
//                     replica's own protocol, the rest goes to the core
//   submit(...)       a client's change           -> one Reply, exactly once
//   change_members()  MEMBER ADD / MEMBER REMOVE  -> one Reply, exactly once
//   read_barrier()    a linearizable read point   -> one Reply, exactly once
//   hand_over_leadership()  before a graceful stop (dissertation §3.10)
//   shutdown()        fail everything pending     -> the remaining Replies
//
// Effects: messages to send, replies to complete, the peer addresses the
// transport must use, "the log storage failed" (stop peer traffic), "stop
// the process" (this node lost data the cluster relies on). Checkpoints are
// started by the host loop when checkpoint_due() says so, written by the
// host (ReplicaHost::write_checkpoint: the product's on a thread of its own,
// so apply, commits and STATUS go on meanwhile) and published by
// finish_checkpoint() on the driver's thread.
//
// The host loop (drive()), one iteration per Ready of the core:
//
//   ReadyStep s = r.start_ready();   // snapshot installed, entries and hard
//                                    //   state handed to the log (buffered)
//   send(s.early)                    // BEFORE the fsync: only messages that
//                                    //   promise nothing about this disk
//   if (s.sync) r.sync()             // one fsync for the whole batch
//   Effects fx = r.finish_ready(..)  // the other messages, apply, replies
//   host.handle(fx)                  // send, complete, set peers, stop
//   checkpoint and compact if due
//
// Ordering rules a driver must keep:
// - Messages in ReadyStep::early may leave before the fsync; everything in
//   Effects::messages only after it (a vote and an acknowledgement promise
//   the disk, Raft §5.2, §5.3).
// - Events must not interleave with one iteration of the host loop: a
//   driver runs events and drive() on one thread, one at a time.
// - Group commit: a driver may let several events accumulate before it
//   calls drive(); everything they proposed shares one fsync.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/change_submitter.h"
#include "node/membership.h"
#include "raft/core.h"
#include "raft/file_io.h"
#include "raft/storage.h"
#include "store/change.h"
#include "store/store.h"
#include "util/result.h"

namespace node {

/// Time as the driver sees it: milliseconds since an arbitrary start
/// (std::chrono::steady_clock in the product, a counter in the simulator).
using Time = std::chrono::milliseconds;

/// Names one request (a change, a member change, a read barrier) so that its
/// Reply finds its caller. Chosen by the driver, unique among the requests
/// it has pending.
using RequestId = uint64_t;

/// Raft node id -> "host:port", what the transport connects to.
using PeerMap = std::map<raft::NodeId, std::string>;

/// Raft node ids start at 1; config ids (the keys of `nodes` in the config) at 0.
inline raft::NodeId raft_id(uint32_t config_id) { return static_cast<raft::NodeId>(config_id) + 1; }
inline uint32_t config_id(raft::NodeId id) { return static_cast<uint32_t>(id - 1); }

/// The transport id under which a joining node reaches its --join address
/// until it learns the members' real ids.
inline constexpr raft::NodeId kJoinPeer = ~raft::NodeId{0};

/// Everything a replica needs from the config and the command line.
struct ReplicaOptions {
  uint32_t self = 0;                         ///< this node's config id
  MemberMap members;                         ///< the config file's nodes (self included): the first members
  std::string join;                          ///< --join: raft_loc of a running member; start as a learner
  std::string data_dir;                      ///< holds raft/ (log, checkpoints) and cluster-bootstrap.json
  raft::FileSystem* fs = nullptr;            ///< where data_dir lives; null = the real disk
  uint32_t election_ticks = 10;              ///< election timeout in ticks (randomised up to twice)
  Time propose_timeout{3000};                ///< how long a change or a read may wait
  uint64_t prune_lag_entries = 10000;        ///< entries kept for a node that is away
  uint64_t checkpoint_every_entries = 1000;  ///< checkpoint after this many applied entries
  uint64_t wal_segment_bytes = 8u << 20;     ///< WAL segment size (compaction drops whole segments)
  bool fsync = true;
  /// Removes log segments a checkpoint made obsolete (raft::StorageOptions);
  /// null: at once, on the driver's thread.
  std::function<void(const std::string& path)> remove_segment;
  /// Frees log entries a checkpoint made obsolete; null: at once, on the
  /// driver's thread. Giving a 48 MB entry back to the system (munmap) took
  /// 5.5 ms, twice: the core's copy and the storage's.
  std::function<void(std::vector<raft::Entry> entries)> release_entries;
  uint64_t seed = 1;                         ///< seeds the election timeouts
  /// For the simulator's self-test only: the leader never appends holds-data
  /// marks and counts every voter's acknowledgement, the rule a wiped voter
  /// relies on. The simulator must then find a lost change.
  bool test_break_data_marks = false;
};

/// The outcome of one request.
struct Reply {
  Reply(RequestId id, SubmitResult result) : id(id), result(std::move(result)) {}
  RequestId id = 0;
  /// A change or member change: its per-op outcome once applied here, or why
  /// it was not ("no quorum" - applied nowhere; "timeout", "shutting down",
  /// "log storage failed" - outcome unknown). A read barrier: an empty
  /// ApplyResult once this node has applied through the read point.
  SubmitResult result;
};

/// What the driver must do after an event or a step of the host loop.
struct Effects {
  /// Hand to the network; may be lost. Always after any fsync the step needed.
  std::vector<raft::Message> messages;
  /// Complete these requests, each exactly once.
  std::vector<Reply> replies;
  /// The peer addresses changed (a member was added, removed or learned).
  std::optional<PeerMap> peers;
  /// The log storage failed: stop all peer traffic. The node keeps answering
  /// queries from its store and refuses changes until it is restarted.
  bool storage_failed = false;
  /// The process must stop, with this reason (log it as critical): taking
  /// part could lose acknowledged changes (this node's data was lost).
  std::optional<std::string> stop_process;

  void merge(Effects&& other);
  /// Adds a Reply with an error / with the change's outcome.
  void refuse(RequestId id, util::Error why);
  void complete(RequestId id, store::ApplyResult result);
};

/// Phase one of a host-loop iteration (see the file comment).
struct ReadyStep {
  /// May leave now, before the fsync: a leader's Append and Heartbeat
  /// (dissertation §10.2.1: the leader counts its own copy only when it
  /// handles the followers' answers, after this fsync) and a Forward (a
  /// client's change on its way to the leader). Never a vote or an
  /// acknowledgement, nothing from a batch that changes term or vote, nothing
  /// while a snapshot is installed.
  std::vector<raft::Message> early;
  /// The batch holds entries, a term or vote, or a snapshot
  /// (raft::Ready::must_sync()): call sync() before finish_ready(). A batch that only moves the commit index has
  /// already written it (no fsync: the next batch or tick makes it durable).
  bool sync = false;
};

/// A checkpoint between Replica::begin_checkpoint() and
/// Replica::finish_checkpoint(): the state captured at one applied index,
/// and once write() has run (on any thread) its bytes and temp file.
struct CheckpointJob {
  raft::SnapshotMeta meta;
  MemberMap members;
  store::Store::Image image;
  const raft::LogStorage* storage = nullptr;
  Time started{0};
  std::shared_ptr<const std::string> data;
  std::optional<util::Result<raft::LogStorage::WrittenSnapshot>> written;

  /// Encodes the state and writes it to a temp file beside the log (fsync
  /// included): the long part, touching nothing the driver's thread uses.
  void write();
};

/// One node: the Raft core, its log and checkpoints, the store it applies to,
/// and the node's own protocols around them. Not thread-safe: one driver
/// thread calls everything.
class Replica {
 public:
  /// Restores the node: the newest checkpoint into `store`, the log, and the
  /// cluster's first members; replays what the log says is committed, so the
  /// node answers queries from its own data before any peer is reachable.
  /// A fresh node of a multi-node cluster starts probing its peers (it may
  /// have lost its data), a node given `join` waits for a member's answer.
  /// Errors name the file.
  static util::Result<std::unique_ptr<Replica>> open(ReplicaOptions options, store::Store& store);
  ~Replica();

  // ---- events ---------------------------------------------------------------

  /// The driver moves messages from now on: a cluster of one elects itself.
  Effects start();

  /// One tick: Raft's clock, membership reconciliation on the leader, the
  /// probe or join requests of a node without a core, retries of pending
  /// changes and reads, and their deadlines.
  Effects tick(Time now);

  /// A peer message. Join requests and answers are the replica's own
  /// protocol; everything else goes to the core. Malformed input is dropped.
  Effects receive(const raft::Message& m, Time now);

  /// A client's change: proposed (a follower forwards it to the leader) and
  /// proposed again every second until this node applies it or its deadline
  /// passes. Its Reply comes once this node applied it (so a query after the
  /// reply sees it), or with an error. change.origin is set to this node.
  /// A client session keeps one change outstanding (store/session.h): a
  /// second change of a session whose first is still pending is refused.
  Effects submit(RequestId id, store::Change change, Time now);

  /// MEMBER ADD / REMOVE (dissertation §4.1): recorded in the replicated
  /// member list; the leader then reconciles Raft's membership with it.
  /// Refused while an earlier change is still in progress.
  Effects change_members(RequestId id, MemberOp op, Time now);

  /// A linearizable read point (ReadIndex, dissertation §6.4): the Reply
  /// comes once this node has applied everything committed when it was
  /// asked, as confirmed by a leader that still holds its quorum.
  Effects read_barrier(RequestId id, Time now);

  /// Leader: hands leadership to the most caught-up voter before the node
  /// stops (dissertation §3.10). False when there is nothing to hand over.
  bool hand_over_leadership();

  /// The node stops: every pending request gets its Reply ("shutting down",
  /// outcome unknown), later events are refused.
  Effects shutdown();

  // ---- the host loop (drive() runs it) ----------------------------------------

  /// True when the core has a Ready for the host loop.
  bool has_ready() const;
  /// Takes the core's next Ready: installs a snapshot from the leader,
  /// hands entries and hard state to the log (buffered), and sorts the
  /// messages by the early-send rule.
  ReadyStep start_ready();
  /// Makes the batch durable: one write and one fsync (group commit).
  util::Result<void> sync();
  /// After the fsync (`synced` is its result): the remaining messages, apply
  /// of committed entries, replies of applied changes and released reads.
  /// A failed fsync fails the storage: see Effects::storage_failed.
  Effects finish_ready(util::Result<void> synced);
  /// A checkpoint is due: the leader needs a snapshot for a lagging peer, or
  /// checkpoint_every_entries were applied since the last and the spacing in
  /// time allows one.
  bool checkpoint_due(Time now) const;
  /// Starts a checkpoint of the store and the member list at the applied
  /// index: captures them (the store's sessions are copied, its records
  /// shared) for CheckpointJob::write(). Nullopt when there is nothing new
  /// to checkpoint. No other checkpoint starts before finish_checkpoint().
  std::optional<CheckpointJob> begin_checkpoint(Time now);
  /// Publishes a checkpoint whose write() has run: its file replaces the
  /// last one and the core may compact up to it. A failure (disk full) keeps
  /// the log and is retried later. Checkpoints are spaced in time: the next
  /// is due no sooner than nine times as long as this one took after it
  /// ended, so writing them takes at most a tenth of the time (the log
  /// grows a little longer meanwhile; a lagging follower's snapshot is
  /// never held back).
  void finish_checkpoint(CheckpointJob job, Time now);
  /// Drops log entries the whole cluster has checkpointed (the leader's
  /// compact hint) and this node's checkpoint covers.
  void compact();

  // ---- inspection -----------------------------------------------------------

  /// The STATUS object (transport fields aside, which the driver adds).
  nlohmann::json status() const;
  /// The MEMBERS object: the committed member list and each member's role.
  nlohmann::json members() const;
  /// Where the transport must connect now.
  PeerMap peer_map() const;
  bool is_leader() const;
  /// The core, once it exists (a probing or joining node has none yet).
  const raft::Core* core() const { return core_.get(); }
  /// The committed member list (empty before the first leader recorded it).
  const MemberMap& committed_members() const { return members_; }
  raft::Index applied() const { return applied_; }
  bool storage_failed() const { return storage_failed_; }
  bool removed() const { return removed_; }

 private:
  Replica(ReplicaOptions options, store::Store& store);
  util::Result<void> restore();

  // Start, join and the fresh-start probe.
  util::Result<void> create_core(const std::vector<raft::NodeId>& voters);
  util::Result<void> adopt_heard_term();
  util::Result<void> record_bootstrap();
  Effects finish_fresh_start(util::Result<void> verdict);
  Effects tick_without_core();
  Effects handle_join_request(const raft::Message& m);
  Effects handle_join_response(const raft::Message& m);
  /// Asks the known peers for the member list (a join request), to learn the
  /// address of a member that spoke to this node without one.
  Effects ask_for_addresses();
  /// Sets fx.peers if the peer map changed since the driver last got it.
  void note_peers(Effects& fx);
  std::string bootstrap_path() const { return options_.data_dir + "/cluster-bootstrap.json"; }

  // Membership and the holds-data marks (leader).
  void reconcile_membership();
  void propose_data_marks(const MemberMap& known);
  bool membership_settled() const;

  // Pending changes and reads.
  struct Pending {
    RequestId id = 0;
    uint64_t sequence = 0;  // of its client session
    std::string bytes;  // the log entry: an encoded store::Change or MemberOp
    Time deadline{0};
    Time next_try{0};
    bool sent = false;             // ever appended or forwarded: outcome may be unknown
    raft::Term appended_term = 0;  // leader: term it was appended in (0 = forwarded or not yet)
  };
  struct PendingRead {
    Time deadline{0};
    Time next_try{0};
    raft::Index read_index = 0;  // 0 until the leader confirmed it
  };
  Effects enqueue(RequestId id, uint64_t client, uint64_t sequence, std::string bytes, Time now);
  std::optional<util::Error> refusal() const;
  void try_propose(Pending& p, Time now);
  void try_read_index(RequestId id, PendingRead& r, Time now);
  void retry_pending(Time now);
  void fail_past_deadline(Time now, Effects& fx);
  void release_reads(Effects& fx);
  void apply_committed(const std::vector<raft::Entry>& entries, Effects& fx);
  Effects fail_storage(const std::string& what, const util::Error& e);
  /// Replays committed entries at open, before any peer is reachable.
  util::Result<void> replay();

  ReplicaOptions options_;
  raft::FileSystem& fs_;
  store::Store& store_;
  std::unique_ptr<raft::LogStorage> storage_;
  std::unique_ptr<raft::Core> core_;
  bool storage_failed_ = false;
  bool stopping_ = false;
  bool removed_ = false;

  /// Changes waiting for their commit, by client session: a session has at
  /// most one outstanding (store::ClientSession), so a second is refused.
  std::map<uint64_t, Pending> pending_;
  std::map<RequestId, PendingRead> pending_reads_;

  // Apply and checkpoints.
  raft::Index applied_ = 0;
  raft::Index snapshot_index_ = 0;
  raft::Index compact_hint_ = 0;
  raft::Index checkpoint_failed_at_ = 0;
  Time next_checkpoint_at_{0};
  Time last_checkpoint_took_{0};  // from capture to publication, of the last one published
  bool checkpoint_running_ = false;      // between begin_checkpoint() and finish_checkpoint()
  raft::Ready current_;                  // the Ready between start_ready() and finish_ready()
  std::optional<Effects> failed_step_;   // start_ready() failed the storage; finish_ready() reports it
  bool peers_changed_ = false;           // the member list changed in this step
  bool snapshot_wanted_ = false;         // the leader needs a snapshot for a lagging peer

  // Membership.
  MemberMap members_;                           // replicated: the committed member list
  MemberMap learned_members_;                   // a joining node: what a member told it
  MemberMap heard_addresses_;                   // addresses of members missing from the list above
  bool unknown_sender_ = false;                 // a member without an address here spoke to this node
  MemberMap departing_;                         // removed from the list, maybe still in Raft's membership
  PeerMap last_peers_;                          // what the driver's transport was last given
  std::vector<raft::NodeId> bootstrap_voters_;  // the cluster's first voters (Raft's initial membership)
  raft::Restored restored_;                     // kept until the core exists (a joining node waits)
  uint64_t ticks_ = 0;
  bool probing_ = false;                        // a fresh node of a multi-node cluster asks before it votes
  uint64_t probe_started_tick_ = 0;
  std::set<raft::NodeId> probe_answers_;
  raft::Term heard_term_ = 0;                   // a fresh node: the newest term a member reported
  DataMarks data_marks_;                        // leader: holds-data marks of this term
  raft::Term bootstrap_proposed_term_ = 0;      // leader: term the first member list was proposed in
};

/// What drive() needs from a driver.
class ReplicaHost {
 public:
  virtual ~ReplicaHost() = default;
  /// Writes a checkpoint (job.write()), then hands it to
  /// replica.finish_checkpoint() on the driver's thread. By default at once,
  /// on the caller's thread.
  virtual void write_checkpoint(Replica& replica, CheckpointJob job);
  /// The driver's clock (checkpoint pacing).
  virtual Time now() = 0;
  /// Hands a message to the network; called before the fsync for the
  /// messages of ReadyStep::early.
  virtual void send(raft::Message m) = 0;
  /// Carries out the rest of a step's effects (send, complete, set peers, stop).
  virtual void handle(Effects fx) = 0;
};

/// The host loop: runs every Ready the replica has, with dns-node's
/// early-send rule, then checkpoints and compacts if due. The product's
/// driver and the simulator both run exactly this.
void drive(Replica& replica, ReplicaHost& host);

}  // namespace node
