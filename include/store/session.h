// Client sessions: the identity that makes a change exactly-once, and the
// rule every entry point (stdin, HTTP, UPDATE, zone seeding, membership)
// follows so that the store's dedupe table can keep that promise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "store/change.h"
#include "store/store.h"
#include "util/result.h"

namespace store {

/// What identifies one change of one session (Change::client_id, sequence).
struct SessionStamp {
  uint64_t client_id = 0;
  uint64_t sequence = 0;
};

/// One client session (Raft dissertation §6.3; LogCabin's ExactlyOnceRPCInfo).
///
/// The store remembers, per (origin node, client id), the sequence and the
/// outcome of the last change it applied from the session (Store::apply):
///   - a higher sequence is applied, and its outcome kept;
///   - the same sequence is a retry: not applied again, answered with the
///     kept outcome (ApplyResult::duplicate);
///   - a lower sequence is refused, not applied (ApplyResult::stale).
///
/// THE RULE: a session has at most one change outstanding. A caller stamps a
/// change with next(), submits it, may submit it again with the same stamp
/// (a retry), and stamps the next change only once the outstanding one's
/// outcome is known or given up (an "outcome unknown" error).
///
/// Why: the store keeps one outcome per session. Were changes n and n+1 in
/// flight together and n+1 committed first, n's copy arriving later could
/// neither be applied (the session has moved past it) nor answered with its
/// own outcome (the one kept is n+1's): its caller would be told something
/// false. With one change outstanding, every copy the caller still waits for
/// carries the session's last sequence or the next one.
///
/// Giving up on a change (a timeout) and stamping the next one is safe: if a
/// late copy of the old change commits after the new one, the store refuses
/// it as stale; if before, it is applied once, in its order. Either way the
/// old change is applied at most once, and its caller was told its outcome
/// was unknown.
///
/// Sessions expire (dissertation §6.3): apply forgets a session idle for
/// longer than store::SessionLimits::idle_ms of log time, or the least
/// recently used one beyond SessionLimits::max_sessions, so the table stays
/// bounded across restarts and bursts. A change that could be a copy of one
/// applied before its session was forgotten is refused (ApplyResult::expired,
/// "session expired"). The caller hears the outcome of the first copy of its
/// change that reaches apply, so when it submitted the change once (no retry
/// after an unknown outcome), "session expired" means not applied, and it
/// may submit the change again on a new session; a session that simply
/// comes back after a long idle time starts over without an error.
///
/// Callers that have several changes in flight at once (HTTP, UPDATE) take a
/// session each from a SessionPool.
class ClientSession {
 public:
  /// A session with a fresh random client id, so a restarted process is
  /// never taken for a retry of the previous run's changes.
  static ClientSession open();
  explicit ClientSession(uint64_t client_id) : client_id_(client_id) {}

  uint64_t client_id() const { return client_id_; }

  /// The stamp of this session's next change. Call it only once the previous
  /// change's outcome is known or given up (the rule above).
  SessionStamp next() { return {client_id_, ++sequence_}; }
  /// next(), written onto `change` with the session's place in time
  /// (Change::time_ms, the wall clock now; Change::stamped_after, the index
  /// `store` has applied, above which every copy of the change will land).
  void stamp(Change& change, const Store& store);

 private:
  uint64_t client_id_;
  uint64_t sequence_ = 0;
};

/// Where a stamped change goes: node::ChangeSubmitter::submit in the daemon.
/// `done` runs once, maybe on another thread, after this node applied the
/// change or with why it could not.
using SubmitFn = std::function<void(Change, std::function<void(util::Result<ApplyResult>)>)>;

/// Sessions lent to concurrent callers, one change at a time each, so that
/// concurrent changes never share a session (the rule of ClientSession).
/// Sessions are reused, which keeps the store's dedupe table at the number of
/// changes ever in flight at once. Thread-safe; callbacks of changes in
/// flight keep the pool's state alive.
class SessionPool {
 public:
  /// `store` is this node's store, which stamps read their log position from.
  explicit SessionPool(const Store& store);

  /// A session no other caller holds (a new one when every one is taken).
  ClientSession take();
  /// Returns a session once its change's outcome is known or given up.
  void give_back(ClientSession session);

  /// Takes a session, stamps `change` with it, hands it to `submit`, and
  /// gives the session back when `done` runs (before calling `done`). A
  /// change refused because its session expired was not applied (it was
  /// submitted once): it is submitted once more on a new session.
  void submit(const SubmitFn& submit, Change change, std::function<void(util::Result<ApplyResult>)> done);

  /// Sessions opened so far (held and free).
  size_t opened() const;

 private:
  struct State {
    explicit State(const Store& s) : store(s) {}
    const Store& store;
    mutable std::mutex mu;
    std::vector<ClientSession> free;
    size_t opened = 0;
  };
  static void submit_on(std::shared_ptr<State> state, ClientSession session, const SubmitFn& submit, Change change,
                        bool renewed, std::function<void(util::Result<ApplyResult>)> done);
  std::shared_ptr<State> state_;
};

}  // namespace store
