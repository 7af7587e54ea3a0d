// Waiting for a submitted change: submit_and_wait() for callers that answer in order.
#include "node/change_submitter.h"

#include <future>

namespace node {

SubmitResult submit_and_wait(ChangeSubmitter& submitter, store::Change change) {
  std::promise<SubmitResult> promise;
  auto future = promise.get_future();
  submitter.submit(std::move(change), [&promise](SubmitResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace node
