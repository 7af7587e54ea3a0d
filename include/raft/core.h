// The Raft consensus core: a deterministic state machine with no I/O, clock or threads.
//
// Shape (etcd's raft): time enters as tick(), peer messages as step(),
// client data as propose(); everything the host must do comes back in one
// Ready batch, which the host acknowledges with advance().
//
// Host loop, one iteration:
//
//   core.tick();                       // every tick interval (e.g. 100 ms)
//   core.step(msg);                    // for every message received
//   while (core.has_ready()) {
//     Ready rd = core.ready();
//     1. if rd.snapshot: persist it, discard the durable log, install it in
//        the state machine
//     2. write rd.entries (overwriting any durable entries at >= the first
//        index) and rd.hard_state; if rd.must_sync(), fsync them
//     3. send rd.messages -- after step 2's fsync, when there is one: an
//        acknowledgement promises its entries, a vote its term and vote.
//        One exception (dissertation §10.2.1): a leader may send its Append
//        and Heartbeat messages before its own fsync, unless the batch
//        changed its term or vote, provided it steps no answer before the
//        fsync is done (the core counts the leader's own log as replicated)
//     4. apply rd.committed_entries in order; answer rd.read_states once
//        applied >= ReadState::index
//     5. optionally compact up to rd.compact_hint (see compact())
//     core.advance();
//   }
//
// A batch whose only durable change is the commit index needs no fsync of
// its own (must_sync() is false): the commit index is volatile state in
// Raft (§5, Figure 2), and a node restarted with an older one learns it
// again from the leader. A host that answers clients from applied state
// should still write it before applying (a process crash then cannot take
// it back) and fsync it soon; the next batch's fsync also covers it.
//
// Paper references: §x is the Raft paper (Ongaro & Ousterhout 2014),
// "dissertation §x" is Ongaro's PhD dissertation (2014).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/log.h"
#include "raft/progress.h"
#include "raft/types.h"
#include "util/result.h"

namespace raft {

/// Static configuration of one core. Tick counts are in calls to tick().
struct Config {
  NodeId id = kNoNode;  ///< this node, >= 1
  /// Membership of the cluster when it was first created. Used only when the
  /// restored state has no snapshot membership (a brand new node). Every node
  /// must be given the same value, including nodes added later by
  /// propose_conf_change: they replay the log from index 1 (or receive a
  /// snapshot) on top of it. A node that is not in its own membership (not
  /// yet added, or removed) never campaigns.
  Membership initial_membership;
  int election_tick = 10;   ///< base election timeout; actual is random in [e, 2e)
  int heartbeat_tick = 1;   ///< leader heartbeat interval; must be < election_tick
  uint64_t seed = 1;        ///< seeds the election-timeout PRNG (deterministic runs)
  bool pre_vote = true;     ///< dissertation §9.6: probe electability before bumping the term
  bool check_quorum = true; ///< dissertation §9.6: leader steps down without a quorum; leader lease on votes
  size_t max_msg_bytes = 1 << 20;       ///< soft cap on entry bytes in one Append
  size_t max_inflight_msgs = 64;        ///< pipelined Appends in flight per follower
  size_t max_inflight_bytes = 16 << 20; ///< entry bytes in flight per follower (0 = unbounded)
  size_t snapshot_chunk_bytes = 1 << 20;///< InstallSnapshot chunk size
  size_t snapshot_window_chunks = 4;    ///< unacknowledged snapshot chunks in flight
  /// Prune policy (docs/design.md, "the log stays bounded"): the leader lets logs be
  /// pruned up to the lowest applied index reported by any member, but never
  /// keeps more than this many entries behind its last index for a lagging
  /// node; such a node later receives a snapshot.
  Index max_log_lag_entries = 10000;
  size_t max_apply_bytes = 64 << 20;  ///< cap on committed entry bytes in one Ready (at least one entry)
};

/// What the core restored from durable storage at startup (see raft_storage).
struct Restored {
  HardState hard_state;
  SnapshotMeta snapshot;       ///< index 0 = no snapshot
  std::vector<Entry> entries;  ///< entries after snapshot.index, contiguous
  /// Index already reflected by the host's state machine (its checkpoint);
  /// committed entries after it are handed out again. 0 = snapshot.index.
  Index applied = 0;
};

/// One batch of work for the host. Fields are listed in the order the host
/// must act on them.
struct Ready {
  /// A complete snapshot received from the leader. Persist it, discard the
  /// whole durable log, and replace the state machine with it -- before
  /// persisting `entries` (which follow it) and before sending `messages`.
  std::optional<Snapshot> snapshot;
  /// Entries to append to the durable log. The first one may overwrite
  /// (truncate) durable entries at the same or later indexes. Must be durable
  /// BEFORE any of `messages` is sent (a follower's acknowledgement promises it).
  std::vector<Entry> entries;
  /// Term, vote and commit to persist, if any of them changed. Term and
  /// vote must be durable BEFORE any of `messages` is sent (a vote must
  /// survive a crash, §5.2); the commit index may lag the disk (Restored
  /// clamps it, and a restarted node learns it again from the leader).
  std::optional<HardState> hard_state;
  /// True when `hard_state` carries a new term or vote, not only a new
  /// commit index: then it must be fsynced before anything is sent.
  bool term_or_vote_changed = false;
  /// Send these once what must_sync() covers is durable (a leader's Append
  /// and Heartbeat may go earlier: see the file comment). Delivery may fail,
  /// repeat or reorder; the core copes.
  std::vector<Message> messages;
  /// Committed entries to apply to the state machine, in order, after the
  /// above are durable. Includes Noop and ConfChange entries (the host may
  /// skip them; membership is already tracked by the core).
  std::vector<Entry> committed_entries;
  /// Linearizable reads now allowed: answer each once the state machine has
  /// applied through its index (§6.4).
  std::vector<ReadState> read_states;
  /// Set when it changed: the host may compact its log and the core's (see
  /// compact()) up to min(compact_hint, its own latest snapshot).
  std::optional<Index> compact_hint;
  /// True when the leader needs a snapshot to send to a lagging follower and
  /// has none covering its first log index: call set_snapshot().
  bool need_snapshot = false;
  /// True when this batch must be fsynced before `messages` are sent: it
  /// holds a snapshot, entries, or a new term or vote. False for a batch
  /// whose only durable change is the commit index (see the file comment).
  bool must_sync() const { return snapshot.has_value() || !entries.empty() || term_or_vote_changed; }
};

/// Role of the core. A node that is a learner in its own membership reports
/// Learner (it behaves as a follower that never campaigns).
enum class Role : uint8_t { Follower, PreCandidate, Candidate, Leader, Learner };
const char* role_name(Role r);

/// Replication state of one peer as seen by the leader.
struct PeerStatus {
  NodeId id = kNoNode;
  bool learner = false;
  Index match = 0;
  Index next = 0;
  ProgressState state = ProgressState::Probe;
  Index applied = 0;       ///< last applied index the peer reported
  bool recent_active = false;
};

/// A point-in-time view for STATUS commands and tests.
struct Status {
  NodeId id = kNoNode;
  Role role = Role::Follower;
  Term term = 0;
  NodeId vote = kNoNode;
  NodeId leader = kNoNode;
  Index commit = 0;
  Index applied = 0;
  Index first_index = 0;  ///< first entry kept in memory (snapshot index + 1)
  Index last_index = 0;
  Index compact_hint = 0;
  Membership membership;
  NodeId transferee = kNoNode;  ///< leadership transfer target in progress
  std::vector<PeerStatus> peers;  ///< leader only: every member but self
};

/// Inputs that were refused, counted (never trusted).
///
/// Leader traffic (Append, Heartbeat, Snapshot, TimeoutNow) and vote requests
/// are judged by term and log rather than by sender, because a legitimate
/// leader may have been added by entries this node has not received yet.
/// Every other message (answers, Forward, ReadIndex, AppliedReport) must come
/// from a member of a configuration still in this node's log.
struct Counters {
  uint64_t unknown_sender = 0;    ///< from a node outside every known configuration
  uint64_t stale_term = 0;        ///< from an older term
  uint64_t out_of_range = 0;      ///< indexes/offsets that cannot be right
  uint64_t malformed = 0;         ///< inconsistent fields (gaps in entries, bad terms, wrong type for role)
  uint64_t wrong_recipient = 0;   ///< `to` is not this node
  uint64_t dropped_proposals = 0; ///< forwarded proposals a non-leader had to drop
  uint64_t lease_ignored_votes = 0; ///< vote requests ignored under a live leader lease (§9.6 / §4.2.3)
};

/// Where a proposal went.
struct Proposed {
  enum class Kind : uint8_t { Appended, Forwarded } kind = Kind::Appended;
  Index index = 0;  ///< Appended: index of the new entry in the leader's log
  Term term = 0;    ///< Appended: term of the new entry
  NodeId leader = kNoNode;  ///< Forwarded: the leader it was sent to
};

/// The Raft state machine of one node. Not thread safe; call from one thread.
class Core {
 public:
  /// Build a core from its restored durable state (Restored{} for a new node).
  /// Inconsistent input (gaps, entries not after the snapshot) is an error.
  static util::Result<std::unique_ptr<Core>> create(Config config, Restored restored);

  // ---- inputs -------------------------------------------------------------

  /// Advance logical time by one tick: election timeouts, heartbeats,
  /// CheckQuorum, leadership-transfer timeouts.
  void tick();

  /// Handle one message from a peer. Invalid or stale input is dropped and
  /// counted in counters(); step never fails.
  void step(const Message& m);

  /// Append client data as a Normal entry. Only the leader accepts; otherwise
  /// the error names the known leader ("not leader; leader is 3"), also
  /// available as leader() (kNoNode when unknown). Returns the
  /// (index, term) the entry was appended at: the entry is durable and
  /// replicated only once it shows up in Ready::committed_entries with that
  /// index and term (a different term there means it was lost).
  util::Result<Proposed> propose(std::string data);

  /// Like propose(), but a follower that knows the leader forwards the data
  /// to it (MessageType::Forward) and returns Kind::Forwarded. The host must
  /// correlate the outcome through content it put inside `data`.
  util::Result<Proposed> propose_or_forward(std::string data);

  /// Propose a single-server membership change (dissertation §4.1). Leader
  /// only; refused while an earlier change is uncommitted, during a transfer,
  /// or when the change does not fit the current membership. It takes effect
  /// on every node as soon as it is appended to that node's log.
  util::Result<Proposed> propose_conf_change(ConfChange cc);

  /// Ask for a linearizable read point (§6.4). A ReadState carrying
  /// `context` appears in a later Ready once safe: on the leader after a
  /// heartbeat round confirms its leadership, on a follower after the leader
  /// answers the forwarded request. Fails when no leader is known. Requests
  /// may be lost (leader change, message loss): the host retries on timeout.
  util::Result<void> read_index(std::string context);

  /// Leader: hand leadership to `target` (dissertation §3.10): stop taking
  /// proposals, bring the target up to date, then send it TimeoutNow. Aborted
  /// after an election timeout.
  util::Result<void> transfer_leadership(NodeId target);

  /// Become a (pre-)candidate now, as if the election timeout fired.
  void campaign();

  /// A host policy on whose replicas count toward commitment (§5.3's majority
  /// rule, narrowed): a leader counts `voter`'s replica of entry N only if
  /// N >= commit_floor(voter). kNoCommitFloor means "not at all yet". Without
  /// a policy every replica counts. dns-node uses it so that a voter's
  /// acknowledgement counts only from the entry that records it as holding
  /// data: a voter whose replica helped commit anything is then known to
  /// the cluster, and refused if it comes back with its data lost.
  using CommitFloor = std::function<Index(NodeId voter)>;
  static constexpr Index kNoCommitFloor = std::numeric_limits<Index>::max();
  void set_commit_floor(CommitFloor floor) { commit_floor_ = std::move(floor); }
  /// Leader: the policy changed in a way that may allow a commit; re-check now.
  void recheck_commit();

  // ---- snapshots, compaction, prune policy --------------------------------

  /// Snapshot metadata for state-machine index `index` (term and membership
  /// as of that index), for the host to store beside its checkpoint.
  /// Requires first_index()-1 <= index <= last_index().
  util::Result<SnapshotMeta> snapshot_meta_for(Index index) const;

  /// Register the host's latest state-machine snapshot. The leader sends it
  /// (in chunks) to followers that need entries already compacted away.
  /// Requires meta.index <= applied(); meta as from snapshot_meta_for().
  util::Result<void> set_snapshot(SnapshotMeta meta, std::shared_ptr<const std::string> data);

  /// Drop in-memory entries up to and including `index`. Requires
  /// index <= applied() and a snapshot registered with set_snapshot() at
  /// >= index (so lagging followers can still be served). The host deletes
  /// its durable entries up to `index` on its own. With `dropped`, the
  /// entries are moved there, for a host that frees large ones elsewhere.
  util::Result<void> compact(Index index, std::vector<Entry>* dropped = nullptr);

  /// The host's durably applied (checkpointed) index. Reported to the
  /// leader, which computes the cluster-wide compact_hint from it.
  void report_checkpoint(Index index);

  // ---- output -------------------------------------------------------------

  /// True if ready() would return something to do.
  bool has_ready() const;
  /// Take the next batch. Call advance() after handling it and before the
  /// next ready().
  Ready ready();
  /// Acknowledge the last Ready: its entries/state are durable, its committed
  /// entries applied, its snapshot installed.
  void advance();

  // ---- inspection ---------------------------------------------------------

  Status status() const;
  const Counters& counters() const { return counters_; }
  NodeId id() const { return config_.id; }
  Role role() const;
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  Index commit() const { return log_.committed(); }
  Index applied() const { return log_.applied(); }
  Index first_index() const { return log_.first_index(); }
  Index last_index() const { return log_.last_index(); }
  const Membership& membership() const { return membership_; }
  const RaftLog& log() const { return log_; }
  /// Leader: true if `node`'s log matches ours within `max_lag` entries of
  /// our last index -- the signal to promote a learner.
  bool is_caught_up(NodeId node, Index max_lag = 0) const;

 private:
  Core(Config config, Restored restored);

  // role changes
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void start_campaign(bool pre_vote, bool transfer);

  // inbound
  bool validate(const Message& m);
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void handle_vote(const Message& m);
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot_chunk(const Message& m);
  void handle_append_resp(const Message& m, Progress& pr);
  void handle_heartbeat_resp(const Message& m, Progress& pr);
  void handle_snapshot_resp(const Message& m, Progress& pr);
  void handle_read_index_request(NodeId from, std::string context);
  void note_peer_applied(Progress& pr, Index applied);
  void learn_compact_hint(Index hint);

  // outbound
  void send(Message m);
  void bcast_append();
  void bcast_heartbeat(const std::string& context);
  void send_heartbeat(NodeId to, const std::string& context);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_snapshot_chunks(NodeId to, Progress& pr);
  void send_timeout_now(NodeId to);

  // leader bookkeeping
  bool maybe_commit();
  Index quorum_match() const;
  bool quorum_active() const;
  void append_entries(std::vector<Entry> ents);
  void apply_membership(const Membership& m);
  void rebuild_known();
  void update_compact_hint();
  void abort_transfer();
  bool promotable() const;
  void reset_randomized_timeout();
  int rand_int(int n);
  Term last_term() const { return log_.last_term(); }
  bool past_election_timeout() const { return election_elapsed_ >= randomized_timeout_; }
  bool committed_in_current_term() const;
  void tick_election();
  void tick_heartbeat();
  void send_appends(NodeId to);
  void record_conf_entries(Index from);
  Membership membership_at(Index index) const;
  void poll_and_advance();
  void after_commit();
  void step_down_if_removed();
  void release_reads_upto(size_t pos);

  Config config_;
  RaftLog log_;
  Counters counters_;
  CommitFloor commit_floor_;

  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  enum class State : uint8_t { Follower, PreCandidate, Candidate, Leader } state_ = State::Follower;

  Membership membership_;
  /// Membership changes in the in-memory log: index of the entry -> config
  /// in effect from it. The entry at key 0 (or the snapshot index) is the base.
  std::map<Index, Membership> conf_history_;
  std::set<NodeId> known_;  ///< members of any configuration in conf_history_
  Index pending_conf_index_ = 0;  ///< leader: last conf change appended (or the term's noop)

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  uint64_t rng_state_ = 0;

  std::map<NodeId, Progress> progress_;  ///< leader: every member but self
  std::map<NodeId, bool> votes_;         ///< (pre-)candidate: voter -> granted

  NodeId transferee_ = kNoNode;

  // ReadIndex (§6.4): requests waiting for a heartbeat quorum, in order.
  struct PendingRead {
    Index index = 0;
    std::string context;
    NodeId requester = kNoNode;  ///< kNoNode = this node
    uint64_t seq = 0;
    std::map<NodeId, bool> acks;
  };
  std::vector<PendingRead> pending_reads_;
  uint64_t read_seq_ = 0;  ///< heartbeat context: sequence number of the newest pending read
  /// Reads received before the leader committed an entry of its term.
  std::vector<std::pair<NodeId, std::string>> reads_waiting_commit_;
  std::vector<ReadState> read_states_;

  // Snapshots.
  SnapshotMeta snap_meta_;  ///< host snapshot registered by set_snapshot
  std::shared_ptr<const std::string> snap_data_;
  bool need_snapshot_ = false;
  struct Incoming {  ///< follower: snapshot being received in chunks
    SnapshotMeta meta;
    NodeId from = kNoNode;
    std::string data;
  } incoming_;
  std::optional<Snapshot> pending_install_;  ///< complete, waiting for Ready

  // Prune policy.
  Index self_checkpoint_ = 0;
  Index compact_hint_ = 0;
  Index reported_compact_hint_ = 0;

  std::vector<Message> msgs_;
  bool pending_bcast_ = false;  ///< leader: new entries to send at the next ready()
  HardState prev_hs_;
  // What the last ready() handed out, acknowledged by advance().
  struct Handed {
    bool active = false;
    Index last_entry_index = 0;
    Term last_entry_term = 0;
    Index applied_to = 0;
    std::optional<SnapshotMeta> snapshot;
  } handed_;
};

}  // namespace raft
