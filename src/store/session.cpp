// Client sessions and the pool that lends them to concurrent callers.
#include "store/session.h"

#include <random>
#include <utility>

namespace store {

ClientSession ClientSession::open() {
  std::random_device rd;
  uint64_t id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  // 0 is never a session: a change with client id 0 and sequence 0 has no dedupe.
  return ClientSession(id == 0 ? 1 : id);
}

SessionPool::SessionPool() : state_(std::make_shared<State>()) {}

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
  ClientSession session = take();
  session.stamp(change);
  submit(std::move(change), [state = state_, session, done = std::move(done)](util::Result<ApplyResult> result) {
    {
      std::lock_guard lock(state->mu);
      state->free.push_back(session);
    }
    done(std::move(result));
  });
}

}  // namespace store
