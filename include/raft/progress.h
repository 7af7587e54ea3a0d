// Per-follower replication progress kept by the leader: match/next indexes,
// the probe/replicate/snapshot flow-control state and in-flight limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

#include "raft/types.h"

namespace raft {

/// How the leader currently feeds a follower (etcd's progress states).
enum class ProgressState : uint8_t {
  Probe,      ///< next is a guess: one Append at a time until a match is found
  Replicate,  ///< next is known: Appends are pipelined, bounded by Inflights
  Snapshot,   ///< the follower needs compacted entries: InstallSnapshot in chunks
};
const char* progress_state_name(ProgressState s);

/// Bounded window of Appends sent but not yet acknowledged. Each entry is
/// (last index in the message, bytes of entries in it).
class Inflights {
 public:
  Inflights(size_t max_msgs, size_t max_bytes) : max_msgs_(max_msgs), max_bytes_(max_bytes) {}
  void add(Index last, size_t bytes);
  /// Free every message whose last index is <= `index`.
  void free_to(Index index);
  void reset();
  bool full() const;
  size_t count() const { return q_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  size_t max_msgs_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::deque<std::pair<Index, size_t>> q_;
};

/// The leader's view of one follower (or learner).
struct Progress {
  Progress(Index next_index, size_t max_msgs, size_t max_bytes)
      : next(next_index), inflights(max_msgs, max_bytes) {}

  Index match = 0;  ///< highest index known replicated on the follower
  Index next = 1;   ///< next index to send
  ProgressState state = ProgressState::Probe;
  /// Probe: an Append is outstanding; wait for its answer or a heartbeat.
  bool probe_sent = false;
  /// CheckQuorum: heard from this follower since the last check.
  bool recent_active = false;
  bool learner = false;
  Index applied = 0;  ///< follower's reported durably applied index
  Inflights inflights;

  // Snapshot state: which snapshot is being sent and how far.
  Index pending_snapshot = 0;    ///< index of the snapshot being sent
  uint64_t snap_sent = 0;        ///< bytes sent (next chunk offset)
  uint64_t snap_acked = 0;       ///< bytes the follower confirmed
  int snap_idle_ticks = 0;       ///< ticks without an acknowledgement
  bool snap_done_sent = false;   ///< the last chunk has been sent
  /// Replicate: match at the previous heartbeat answer; no progress across a
  /// whole heartbeat round means Appends were lost, so fall back to probing.
  Index match_at_heartbeat = 0;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  /// A successful answer covering through `n`: returns false if stale.
  bool maybe_update(Index n);
  /// A rejection of the Append at `rejected`; next becomes `hint_next`.
  /// Returns false if the rejection is stale.
  bool maybe_decr_to(Index rejected, Index hint_next);
  /// True when no more Appends may be sent now.
  bool is_paused() const;
  /// Record an Append carrying entries through `last` (bytes of data).
  void sent_entries(Index last, size_t bytes);
};

}  // namespace raft
