// The in-memory Raft log: consistency check, conflict truncation, commit,
// apply and persistence markers (§5.3).
#include "raft/log.h"

#include <algorithm>
#include <iterator>

namespace raft {

RaftLog::RaftLog(Index snap_index, Term snap_term, std::vector<Entry> entries)
    : snap_index_(snap_index),
      snap_term_(snap_term),
      entries_(std::move(entries)),
      committed_(snap_index),
      applied_(snap_index),
      unstable_from_(snap_index + entries_.size() + 1) {}

Term RaftLog::last_term() const { return entries_.empty() ? snap_term_ : entries_.back().term; }

std::optional<Term> RaftLog::term_at(Index i) const {
  if (i == snap_index_) return snap_term_;
  if (i < snap_index_ || i > last_index()) return std::nullopt;
  return entries_[i - snap_index_ - 1].term;
}

bool RaftLog::match_term(Index i, Term t) const {
  auto term = term_at(i);
  return term && *term == t;
}

const Entry* RaftLog::entry(Index i) const {
  if (i <= snap_index_ || i > last_index()) return nullptr;
  return &entries_[i - snap_index_ - 1];
}

bool RaftLog::is_up_to_date(Index last_index, Term last_term) const {
  Term ours = this->last_term();
  return last_term > ours || (last_term == ours && last_index >= this->last_index());
}

Index RaftLog::append(std::vector<Entry> ents) {
  for (auto& e : ents) entries_.push_back(std::move(e));
  return last_index();
}

std::optional<Index> RaftLog::maybe_append(Index prev, Term prev_term, const std::vector<Entry>& ents,
                                           std::optional<Index>* truncated) {
  if (!match_term(prev, prev_term)) return std::nullopt;
  Index last_new = prev + ents.size();
  // Find the first entry that is new or conflicts; entries already held with
  // the same term are identical by the Log Matching property (§5.3).
  size_t k = 0;
  for (; k < ents.size(); ++k) {
    const Entry& e = ents[k];
    if (e.index <= snap_index_) continue;  // already covered by the snapshot
    auto t = term_at(e.index);
    if (!t) break;  // beyond our end
    if (*t != e.term) {
      // Conflict: delete the existing entry and all that follow it (§5.3).
      // Committed entries never conflict; the caller validated commit bounds.
      entries_.resize(e.index - snap_index_ - 1);
      unstable_from_ = std::min(unstable_from_, e.index);
      ++rewrites_;
      if (truncated) *truncated = e.index;
      break;
    }
  }
  for (; k < ents.size(); ++k) {
    if (ents[k].index <= snap_index_) continue;
    if (ents[k].index == last_index() + 1) entries_.push_back(ents[k]);
  }
  return last_new;
}

std::pair<Index, Term> RaftLog::find_conflict_by_term(Index index, Term term) const {
  index = std::min(index, last_index());
  while (index > snap_index_) {
    Term t = entries_[index - snap_index_ - 1].term;
    if (t <= term) return {index, t};
    --index;
  }
  return {snap_index_, snap_term_};
}

std::vector<Entry> RaftLog::slice(Index lo, Index hi, size_t max_bytes) const {
  std::vector<Entry> out;
  lo = std::max(lo, first_index());
  hi = std::min(hi, last_index() + 1);
  size_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - snap_index_ - 1];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

void RaftLog::commit_to(Index i) {
  if (i > committed_) committed_ = std::min(i, last_index());
}

void RaftLog::applied_to(Index i) {
  if (i > applied_) applied_ = std::min(i, committed_);
}

void RaftLog::restore(Index snap_index, Term snap_term) {
  snap_index_ = snap_index;
  snap_term_ = snap_term;
  entries_.clear();
  committed_ = snap_index;
  applied_ = snap_index;
  unstable_from_ = snap_index + 1;
  ++rewrites_;
}

void RaftLog::compact(Index index, std::vector<Entry>* dropped) {
  if (index <= snap_index_ || index > applied_ || index > last_index()) return;
  Term t = *term_at(index);
  const auto end = entries_.begin() + static_cast<std::ptrdiff_t>(index - snap_index_);
  if (dropped) dropped->insert(dropped->end(), std::make_move_iterator(entries_.begin()), std::make_move_iterator(end));
  entries_.erase(entries_.begin(), end);
  snap_index_ = index;
  snap_term_ = t;
  unstable_from_ = std::max(unstable_from_, index + 1);
}

std::vector<Entry> RaftLog::unstable_entries() const {
  std::vector<Entry> out;
  for (Index i = std::max(unstable_from_, first_index()); i <= last_index(); ++i) {
    out.push_back(entries_[i - snap_index_ - 1]);
  }
  return out;
}

void RaftLog::stable_to(Index i, Term t) {
  // Only if the entry is still the one handed out: a truncation since then
  // replaced it and the new one still needs persisting.
  if (match_term(i, t) && i >= unstable_from_) unstable_from_ = i + 1;
}

std::vector<Entry> RaftLog::next_committed(Index from, size_t max_bytes) const {
  std::vector<Entry> out;
  size_t bytes = 0;
  for (Index i = std::max(from + 1, first_index()); i <= committed_; ++i) {
    const Entry& e = entries_[i - snap_index_ - 1];
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

}  // namespace raft
