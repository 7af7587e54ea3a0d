// Waiting for a submitted change: submit_and_wait() for callers that answer in order.
#include "node/change_submitter.h"

#include <chrono>
#include <future>

namespace node {

void TimestampingSubmitter::submit(store::Change change, std::function<void(SubmitResult)> done) {
  // A session's change carries its session's stamp (store/session.h), which
  // apply also reads for expiry: only changes outside any session get one here.
  if (change.sequence == 0 && change.time_ms == 0) {
    change.time_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
  }
  inner_.submit(std::move(change), std::move(done));
}

SubmitResult submit_and_wait(ChangeSubmitter& submitter, store::Change change) {
  std::promise<SubmitResult> promise;
  auto future = promise.get_future();
  submitter.submit(std::move(change), [&promise](SubmitResult r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace node
