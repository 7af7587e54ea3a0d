// Client sessions and the pool that lends them to concurrent callers.
#include "store/session.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <utility>

namespace store {

ClientSession ClientSession::open() {
  std::random_device rd;
  uint64_t id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  // 0 is never a session: a change with client id 0 and sequence 0 has no dedupe.
  return ClientSession(id == 0 ? 1 : id);
}

void ClientSession::stamp(Change& change, const Store& store) {
  const SessionStamp s = next();
  change.client_id = s.client_id;
  change.sequence = s.sequence;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  change.time_ms = std::max<int64_t>(1, now.count());  // 0 means "not stamped"
  change.stamped_after = store.applied_index();
}

SessionPool::SessionPool(const Store& store) : state_(std::make_shared<State>(store)) {}

ClientSession SessionPool::take() {
  std::lock_guard lock(state_->mu);
  if (state_->free.empty()) {
    ++state_->opened;
    return ClientSession::open();
  }
  ClientSession s = state_->free.back();
  state_->free.pop_back();
  return s;
}

void SessionPool::give_back(ClientSession session) {
  std::lock_guard lock(state_->mu);
  state_->free.push_back(session);
}

size_t SessionPool::opened() const {
  std::lock_guard lock(state_->mu);
  return state_->opened;
}

void SessionPool::submit(const SubmitFn& submit, Change change, std::function<void(util::Result<ApplyResult>)> done) {
  submit_on(state_, take(), submit, std::move(change), false, std::move(done));
}

void SessionPool::submit_on(std::shared_ptr<State> state, ClientSession session, const SubmitFn& submit,
                            Change change, bool renewed, std::function<void(util::Result<ApplyResult>)> done) {
  session.stamp(change, state->store);
  // Kept for a second try only: the change is copied once per submission.
  std::optional<Change> again;
  if (!renewed) again = change;
  submit(std::move(change), [state, session, submit, renewed, again = std::move(again),
                             done = std::move(done)](util::Result<ApplyResult> result) mutable {
    if (result && result->expired && !renewed) {
      // Apply forgot the session; this change was not applied. The
      // session is dropped and the change goes once more on a new one.
      {
        std::lock_guard lock(state->mu);
        ++state->opened;
      }
      return submit_on(state, ClientSession::open(), submit, std::move(*again), true, std::move(done));
    }
    if (!(result && result->expired)) {
      std::lock_guard lock(state->mu);
      state->free.push_back(session);
    }
    done(std::move(result));
  });
}

}  // namespace store
