// Where a change goes once a front end (stdin, UPDATE, HTTP) has built it:
// node::Cluster, which proposes it through Raft.
#pragma once

#include <cstdint>
#include <functional>

#include "store/change.h"
#include "store/store.h"
#include "util/result.h"

namespace node {

/// The outcome of a submitted change: the per-op results once it is applied,
/// or why it could not be (no quorum, timeout, shutting down).
using SubmitResult = util::Result<store::ApplyResult>;

/// Takes a change and reports, once, after it has been applied to this
/// node's store (so a query made after `done` sees it) or has failed.
/// `done` may run on another thread, or inline before submit returns.
class ChangeSubmitter {
 public:
  virtual ~ChangeSubmitter() = default;
  virtual void submit(store::Change change, std::function<void(SubmitResult)> done) = 0;
};

/// Stamps a change outside any client session (sequence 0) with this node's
/// wall clock before passing it on: the proposer's time (Change::time_ms) is
/// apply's only clock (serial policies unixtime and dateserial), carried in
/// the change so every node applies the same value. A session stamps its own.
class TimestampingSubmitter final : public ChangeSubmitter {
 public:
  explicit TimestampingSubmitter(ChangeSubmitter& inner) : inner_(inner) {}
  void submit(store::Change change, std::function<void(SubmitResult)> done) override;

 private:
  ChangeSubmitter& inner_;
};

/// Submits and waits for the result (for callers that answer in order,
/// like the stdin reader and startup).
SubmitResult submit_and_wait(ChangeSubmitter& submitter, store::Change change);

}  // namespace node
