// The replicated zone settings the config asks for (serial policies, the
// catalog zone), and proposing them when the cluster holds other values.
#pragma once

#include <atomic>

#include "node/change_submitter.h"
#include "node/config.h"
#include "store/change.h"
#include "store/store.h"

namespace node {

/// The settings `config` describes.
store::Settings settings_from_config(const Config& config);

/// Proposes `wanted` as one change when the store's settings differ, retrying
/// (bounded) while the cluster has no quorum; gives up when `stopping` is set.
/// Every node proposes its own config's settings, so nodes whose configs
/// differ leave the last proposer's values in force: keep them identical.
void propose_settings(ChangeSubmitter& submitter, const store::Store& store, const store::Settings& wanted,
                      const std::atomic<bool>& stopping);

}  // namespace node
