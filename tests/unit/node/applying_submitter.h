// Test doubles for a node without a cluster: each change is applied straight
// to the store, as a cluster of one would commit it.
#pragma once

#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "node/change_submitter.h"
#include "store/store.h"

namespace node::test_support {

/// Applies each change at once, in submission order, with the next log index.
class ApplyingSubmitter final : public ChangeSubmitter {
 public:
  explicit ApplyingSubmitter(store::Store& store) : store_(store) {}
  void submit(store::Change change, std::function<void(SubmitResult)> done) override {
    store::ApplyResult result;
    {
      std::lock_guard lock(mu_);  // Store::apply has a single writer
      result = store_.apply(change, store_.applied_index() + 1);
    }
    done(std::move(result));
  }

 private:
  store::Store& store_;
  std::mutex mu_;
};

/// The STATUS object of such a node.
inline nlohmann::json status_of(const std::string& node_id, const store::Store& store) {
  auto snap = store.snapshot();
  return nlohmann::json{{"node", node_id},
                        {"role", "leader"},
                        {"applied_index", store.applied_index()},
                        {"records", snap ? snap->record_count() : 0},
                        {"zones", snap ? snap->zone_names().size() : 0}};
}

}  // namespace node::test_support
