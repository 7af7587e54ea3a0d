// Raft vocabulary shared by the core, storage and transport: entries, hard
// state, snapshots and messages. Nothing here knows what the entries mean.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace raft {

using NodeId = uint64_t;
using Term = uint64_t;
using Index = uint64_t;

inline constexpr NodeId kNoNode = 0;  // node ids start at 1 inside Raft

enum class EntryType : uint8_t {
  Normal = 0,        // application data (opaque bytes)
  ConfChange = 1,    // membership change, data is an encoded ConfChange
  Noop = 2,          // appended by a new leader to commit entries of earlier terms (§5.4.2)
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::Normal;
  std::string data;
  bool operator==(const Entry&) const = default;
};

/// What must be on disk before a vote is granted or an append acknowledged.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

/// Cluster membership: voters and non-voting learners.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  bool operator==(const Membership&) const = default;

  bool is_voter(NodeId id) const;
  bool is_learner(NodeId id) const;
  bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
};

/// The kinds of single-server membership change (dissertation §4.1).
enum class ConfChangeType : uint8_t {
  AddLearner = 1,  // add a node that receives the log but never votes
  Promote = 2,     // turn a learner into a voter
  Remove = 3,      // remove a voter or a learner
};

/// One membership change; stored encoded in the data of a ConfChange entry.
struct ConfChange {
  ConfChangeType type = ConfChangeType::AddLearner;
  NodeId node = kNoNode;
  bool operator==(const ConfChange&) const = default;

  /// Fixed 9-byte encoding: type, then node id little-endian.
  std::string encode() const;
  /// nullopt when `data` is not a valid encoding.
  static std::optional<ConfChange> decode(const std::string& data);
  /// `m` with this change applied; nullopt when the change does not fit `m`
  /// (adding a present node, promoting a non-learner, removing an absent node).
  std::optional<Membership> apply_to(const Membership& m) const;
};

/// A snapshot of the state machine up to (and including) `index`.
struct SnapshotMeta {
  Index index = 0;
  Term term = 0;
  Membership membership;
  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // state-machine bytes
};

enum class MessageType : uint8_t {
  PreVote = 1,
  PreVoteResp = 2,
  Vote = 3,
  VoteResp = 4,
  Append = 5,
  AppendResp = 6,
  Heartbeat = 7,
  HeartbeatResp = 8,
  Snapshot = 9,        // one chunk of InstallSnapshot
  SnapshotResp = 10,
  TimeoutNow = 11,     // leadership transfer
  Forward = 12,        // a follower hands a proposal to the leader
  ReadIndex = 13,
  ReadIndexResp = 14,
  AppliedReport = 15,  // a follower reports its durably applied index
  JoinRequest = 16,    // a joining node asks a member for the cluster's peer addresses (to = kNoNode)
  JoinResponse = 17,   // the member's answer; data carries the addresses (host layer, not the core)
};

/// The type's name for logs and traces ("AppendResp").
const char* message_type_name(MessageType t);

/// One message between peers. Fields unused by a type are left zero.
struct Message {
  MessageType type = MessageType::Heartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  Term log_term = 0;      // Append: term of entry at `index`; votes: last log term
  Index index = 0;        // Append: index preceding entries; votes: last log index
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;  // AppendResp: follower's hint for fast backtracking
  Term hint_term = 0;
  std::vector<Entry> entries;
  SnapshotMeta snapshot;   // Snapshot chunks: meta of the snapshot being sent
  uint64_t offset = 0;     // Snapshot chunks: byte offset of `data`
  bool done = false;       // Snapshot chunks: last chunk
  std::string data;        // Snapshot chunk bytes; Forward: proposal bytes
  // --- fields added for the core; zero when unused ---
  std::string context;     // ReadIndex/ReadIndexResp/Heartbeat(+Resp): read request context
  Index applied = 0;       // AppendResp/HeartbeatResp/AppliedReport: sender's durably applied index
  Index compact_hint = 0;  // Append/Heartbeat: index up to which the leader lets logs be pruned
  uint64_t snapshot_size = 0;  // Snapshot chunks: total size of the snapshot data in bytes
  bool leader_transfer = false;  // Vote: campaign started by TimeoutNow (ignores the leader lease)
};

/// The answer to a read_index() request: reads of state applied through `index`
/// are linearizable (§6.4). `context` is the caller's request context.
struct ReadState {
  Index index = 0;
  std::string context;
  bool operator==(const ReadState&) const = default;
};

}  // namespace raft
