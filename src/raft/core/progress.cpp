// Leader-side flow control per follower: probe, pipelined replicate, snapshot.
#include "raft/progress.h"

#include <algorithm>

namespace raft {

const char* progress_state_name(ProgressState s) {
  switch (s) {
    case ProgressState::Probe: return "probe";
    case ProgressState::Replicate: return "replicate";
    case ProgressState::Snapshot: return "snapshot";
  }
  return "?";
}

void Inflights::add(Index last, size_t bytes) {
  q_.emplace_back(last, bytes);
  bytes_ += bytes;
}

void Inflights::free_to(Index index) {
  while (!q_.empty() && q_.front().first <= index) {
    bytes_ -= q_.front().second;
    q_.pop_front();
  }
}

void Inflights::reset() {
  q_.clear();
  bytes_ = 0;
}

bool Inflights::full() const {
  return q_.size() >= max_msgs_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Progress::become_probe() {
  // Coming back from a snapshot, the follower has at least the snapshot.
  if (state == ProgressState::Snapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::Probe;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::Replicate;
  next = match + 1;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_snapshot(Index snapshot_index) {
  state = ProgressState::Snapshot;
  pending_snapshot = snapshot_index;
  snap_sent = 0;
  snap_acked = 0;
  snap_idle_ticks = 0;
  snap_done_sent = false;
  probe_sent = false;
  inflights.reset();
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index hint_next) {
  if (state == ProgressState::Replicate) {
    // In pipelined mode a rejection at or below match is an old message.
    if (rejected <= match) return false;
    next = std::max(match + 1, std::min(hint_next, rejected));
    return true;
  }
  // Probe: only the answer to the outstanding probe (at next-1) counts.
  if (next == 0 || rejected != next - 1) return false;
  next = std::max(std::min(rejected, hint_next), Index{1});
  next = std::max(next, match + 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::Probe: return probe_sent;
    case ProgressState::Replicate: return inflights.full();
    case ProgressState::Snapshot: return true;
  }
  return true;
}

void Progress::sent_entries(Index last, size_t bytes) {
  if (state == ProgressState::Replicate) {
    next = last + 1;
    inflights.add(last, bytes);
  } else if (state == ProgressState::Probe) {
    probe_sent = true;
  }
}

}  // namespace raft
