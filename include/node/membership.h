// Cluster membership as replicated state: which nodes belong and where they
// listen. The config file gives the first members; afterwards the committed
// member list counts (it is in every checkpoint and survives restarts).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "raft/types.h"
#include "util/result.h"

namespace node {

struct MemberInfo {
  std::string query_loc;
  std::string raft_loc;
  /// Set (by the leader) once the node has acknowledged log entries: if it
  /// then starts with an empty data directory, its data was lost, and it must
  /// not take part as a voter that forgot its log and its votes.
  bool holds_data = false;
  bool operator==(const MemberInfo&) const = default;
};

/// Config id -> addresses of every member.
using MemberMap = std::map<uint32_t, MemberInfo>;

/// One change to the member list, carried in a Raft log entry of its own.
struct MemberOp {
  enum class Kind : uint8_t { Set = 1, Remove = 2 } kind = Kind::Set;
  uint32_t id = 0;
  MemberInfo info;  // Set only
  // Who asked, for the reply (the same identity a store::Change carries).
  uint32_t origin = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
};

/// True if a log entry's bytes hold a MemberOp rather than a store change.
bool is_member_entry(std::string_view bytes);
std::string encode_member_op(const MemberOp& op);
util::Result<MemberOp> decode_member_op(std::string_view bytes);

/// Applies `op` to `members` deterministically (every node gets the same
/// outcome): "" on success, or the reason it was refused.
std::string apply_member_op(MemberMap& members, const MemberOp& op);

/// The bytes of a checkpoint: the member list, then the store's state.
std::string encode_cluster_state(const MemberMap& members, std::string_view store_state);
/// Splits checkpoint bytes into the member list and the store's state.
util::Result<std::pair<MemberMap, std::string_view>> decode_cluster_state(std::string_view bytes);

/// The leader's side of the holds-data marks. A voter's acknowledgement
/// counts toward commitment only from the log entry that marks it as holding
/// data (raft::Core::CommitFloor), so every entry committed with a voter's
/// help commits its mark too: a voter that comes back with its data lost is
/// always recognised and refused, never taken for a new member.
class DataMarks {
 public:
  /// The leader of `term` appended `member`'s mark at `index`.
  void proposed(uint32_t member, raft::Term term, raft::Index index);
  /// True if the leader of `term` should append a mark for `member` (once it
  /// has acknowledged entries): `committed` does not record it as holding
  /// data, and this leader has not appended its mark yet.
  bool needs_mark(uint32_t member, raft::Term term, const MemberMap& committed) const;
  /// From which index `member`'s replica counts on the leader of `term`:
  /// 0 once `committed` records it as holding data, or no longer lists it
  /// (`committed` not empty); the index of this leader's mark for it;
  /// otherwise never (raft::Core::kNoCommitFloor).
  raft::Index commit_floor(uint32_t member, raft::Term term, const MemberMap& committed) const;
  /// `member` left the member list: a node added again under its id is a new
  /// one and needs a mark of its own.
  void forget(uint32_t member) { marks_.erase(member); }

 private:
  struct Mark {
    raft::Term term = 0;
    raft::Index index = 0;
  };
  std::map<uint32_t, Mark> marks_;
};

/// Adds what a mark (a Set with holds_data) in a log entry not yet applied
/// says to `members`: a member whose mark is committed but not yet applied
/// here is already one that holds data. Other entries change nothing.
void note_unapplied_mark(MemberMap& members, std::string_view entry_bytes);

/// {"0": {"query_loc": ..., "raft_loc": ..., "holds_data": ...}, ...}
nlohmann::json members_to_json(const MemberMap& members);

/// What a member answers a node that asks to join or probes whether it held
/// data (raft::MessageType::JoinResponse).
struct JoinAnswer {
  std::vector<raft::NodeId> voters;  ///< Raft's initial membership (raft::Config::initial_membership)
  MemberMap members;                 ///< the member list, with marks committed but not applied yet
  raft::Term term = 0;               ///< the member's current term
};
/// JSON: {"voters": [1, 2], "members": {...members_to_json...}, "term": 5}.
std::string encode_join_answer(const JoinAnswer& answer);
/// The inverse; peer input, so anything malformed (a field of the wrong type,
/// a member id that is not a number) is an error, never an exception.
util::Result<JoinAnswer> decode_join_answer(std::string_view bytes);

}  // namespace node
