// Re-checks the safety properties of Raft (paper, Figure 3) over every node
// of a simulated cluster after every step, in the manner of LogCabin's
// RaftConsensusInvariants.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "raft/core.h"

namespace raft::sim {

/// Observes cores and records the first violation it finds.
///
/// - Election Safety: at most one leader per term.
/// - Leader Append-Only: a leader never overwrites or deletes its entries.
/// - Log Matching: entries with the same index and term hold the same data
///   and are preceded by the same entry (checked inductively: every
///   (index, term) always has the same data and the same previous term).
/// - Leader Completeness: an entry committed before a term began is in the
///   log of that term's leader.
/// - State Machine Safety: no two nodes apply different entries at an index
///   (checked by the cluster through a hash chain, see note_applied()).
class Invariants {
 public:
  /// Check one node after it handled an input. Returns a violation, if any.
  std::optional<std::string> check(const Core& core);

  /// A node applied state-machine index `index` reaching chain hash `hash`.
  std::optional<std::string> note_applied(NodeId node, Index index, uint64_t hash);

  /// The node lost its memory (crash): its in-memory markers restart.
  void forget(NodeId node) { nodes_.erase(node); }

  /// Highest index known committed anywhere.
  Index max_committed() const { return max_committed_; }
  /// Hash chain value at `index`, if any node applied it.
  std::optional<uint64_t> chain_at(Index index) const;

 private:
  struct NodeView {
    Term leader_term = 0;  ///< term in which we last saw it leading (0 = not leader)
    Index leader_last = 0;
    Term leader_last_term = 0;
    Index commit_seen = 0;
    Index verified_upto = 0;  ///< log matching verified through here
    Term verified_term = 0;
    uint64_t verified_truncations = 0;
  };
  std::optional<std::string> check_log_matching(const Core& core, NodeView& v);

  std::map<Term, NodeId> leaders_;
  std::unordered_map<NodeId, NodeView> nodes_;
  struct Seen {
    uint64_t data_hash;
    Term prev_term;
  };
  std::map<std::pair<Index, Term>, Seen> seen_;
  std::map<Index, Term> committed_;       ///< committed index -> entry term
  std::map<Term, Index> committed_by_term_;  ///< observer term -> highest index seen committed in it
  Index max_committed_ = 0;
  std::map<Index, uint64_t> chain_;
};

uint64_t hash_bytes(const std::string& s, uint64_t h = 1469598103934665603ULL);

}  // namespace raft::sim
