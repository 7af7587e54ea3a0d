// Safety invariants of Raft re-checked after every simulated step.
#include "invariants.h"

#include <algorithm>

namespace raft::sim {

uint64_t hash_bytes(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

namespace {
std::string str(uint64_t v) { return std::to_string(v); }
}  // namespace

std::optional<uint64_t> Invariants::chain_at(Index index) const {
  auto it = chain_.find(index);
  if (it == chain_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Invariants::note_applied(NodeId node, Index index, uint64_t hash) {
  auto [it, inserted] = chain_.emplace(index, hash);
  if (!inserted && it->second != hash) {
    return "State Machine Safety: node " + str(node) + " applied a different entry at index " + str(index);
  }
  return std::nullopt;
}

std::optional<std::string> Invariants::check_log_matching(const Core& core, NodeView& v) {
  const RaftLog& log = core.log();
  Index from = log.first_index();
  // Re-verify only entries appended since the last check, unless the log was
  // rewritten (truncated or replaced by a snapshot) in between.
  if (v.verified_truncations == log.rewrites() && v.verified_upto >= log.snapshot_index() &&
      log.match_term(v.verified_upto, v.verified_term)) {
    from = v.verified_upto + 1;
  }
  for (Index i = from; i <= log.last_index(); ++i) {
    const Entry* e = log.entry(i);
    Term prev = *log.term_at(i - 1);
    uint64_t h = hash_bytes(e->data, static_cast<uint64_t>(e->type) + 7);
    if (e->index != i) return "log of node " + str(core.id()) + " holds entry " + str(e->index) + " at " + str(i);
    if (e->term < prev) return "log of node " + str(core.id()) + " has decreasing terms at " + str(i);
    auto [it, inserted] = seen_.emplace(std::make_pair(i, e->term), Seen{h, prev});
    if (!inserted && (it->second.data_hash != h || it->second.prev_term != prev)) {
      return "Log Matching: node " + str(core.id()) + " entry (index " + str(i) + ", term " + str(e->term) +
             ") differs from another log's entry with the same index and term";
    }
  }
  v.verified_upto = log.last_index();
  v.verified_term = log.last_term();
  v.verified_truncations = log.rewrites();
  return std::nullopt;
}

std::optional<std::string> Invariants::check(const Core& core) {
  NodeView& v = nodes_[core.id()];
  const RaftLog& log = core.log();
  const NodeId id = core.id();

  if (auto err = check_log_matching(core, v)) return err;

  // Commitment: an index, once committed anywhere, keeps its term forever.
  if (log.committed() > log.last_index()) return "node " + str(id) + " commit beyond its last index";
  if (log.committed() > v.commit_seen) {
    for (Index i = std::max({v.commit_seen + 1, log.snapshot_index(), Index{1}}); i <= log.committed(); ++i) {
      Term t = *log.term_at(i);
      auto [it, inserted] = committed_.emplace(i, t);
      if (!inserted && it->second != t) {
        return "committed entry changed: node " + str(id) + " committed term " + str(t) + " at index " + str(i) +
               ", another node committed term " + str(it->second);
      }
    }
    Index& by_term = committed_by_term_[core.term()];
    by_term = std::max(by_term, log.committed());
    max_committed_ = std::max(max_committed_, log.committed());
    v.commit_seen = log.committed();
  }

  if (core.role() == Role::Leader) {
    Term term = core.term();
    // Election Safety: at most one leader can be elected in a given term.
    auto [it, inserted] = leaders_.emplace(term, id);
    if (!inserted && it->second != id) {
      return "Election Safety: nodes " + str(it->second) + " and " + str(id) + " both leaders of term " + str(term);
    }
    // Leader Append-Only: a leader never overwrites or deletes entries.
    if (v.leader_term == term) {
      if (log.last_index() < v.leader_last) {
        return "Leader Append-Only: leader " + str(id) + " log shrank from " + str(v.leader_last) + " to " +
               str(log.last_index());
      }
      if (v.leader_last >= log.snapshot_index() && !log.match_term(v.leader_last, v.leader_last_term)) {
        return "Leader Append-Only: leader " + str(id) + " overwrote entry " + str(v.leader_last);
      }
    }
    v.leader_term = term;
    v.leader_last = log.last_index();
    v.leader_last_term = log.last_term();
    // Leader Completeness: entries committed in earlier terms are present.
    Index need = 0;
    for (auto& [t, idx] : committed_by_term_) {
      if (t >= term) break;
      need = std::max(need, idx);
    }
    if (need > log.last_index()) {
      return "Leader Completeness: leader " + str(id) + " of term " + str(term) + " lacks committed index " +
             str(need) + " (last " + str(log.last_index()) + ")";
    }
    auto want = committed_.find(need);
    if (need >= log.first_index() && want != committed_.end() && log.term_at(need) != want->second) {
      return "Leader Completeness: leader " + str(id) + " of term " + str(term) + " has a different entry at committed index " +
             str(need);
    }
  } else {
    v.leader_term = 0;
  }
  return std::nullopt;
}

}  // namespace raft::sim
