// The single-node change path: apply directly to the store, in order.
#include "node/change_submitter.h"

#include <future>

namespace node {

LocalSubmitter::LocalSubmitter(store::Store& store) : store_(store) {}

void LocalSubmitter::submit(store::Change change, std::function<void(SubmitResult)> done) {
  store::ApplyResult result;
  {
    std::lock_guard lock(mu_);
    // Each change takes the next log index, as if Raft had committed it.
    result = store_.apply(change, store_.applied_index() + 1);
  }
  done(std::move(result));
}

SubmitResult submit_and_wait(ChangeSubmitter& submitter, store::Change change) {
  std::promise<SubmitResult> promise;
  auto future = promise.get_future();
  submitter.submit(std::move(change), [&promise](SubmitResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace node
