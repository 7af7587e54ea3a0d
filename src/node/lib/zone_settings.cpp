// Config -> replicated zone settings, proposed when the cluster differs.
#include "node/zone_settings.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

namespace node {

store::Settings settings_from_config(const Config& config) {
  store::Settings s;
  for (const auto& [key, z] : config.zones) {
    if (!z.serial_policy || *z.serial_policy == "increment") continue;
    auto apex = dns::Name::from_text(z.name);
    if (!apex) continue;  // the config reader checked it
    s.serial_policies[*apex] =
        *z.serial_policy == "unixtime" ? store::SerialPolicy::UnixTime : store::SerialPolicy::DateSerial;
  }
  if (config.catalog) {
    if (auto c = dns::Name::from_text(*config.catalog)) s.catalog = *c;
  }
  return s;
}

void propose_settings(ChangeSubmitter& submitter, const store::Store& store, const store::Settings& wanted,
                      const std::atomic<bool>& stopping) {
  constexpr int kAttempts = 60;
  for (int attempt = 0; attempt < kAttempts && !stopping; ++attempt) {
    if (store.version()->settings == wanted) return;
    store::Change change;
    change.settings = wanted;
    SubmitResult r = submit_and_wait(submitter, std::move(change));
    if (r) {
      spdlog::info("zone settings from the config are now the cluster's (serial policies, catalog)");
      return;
    }
    spdlog::info("zone settings not proposed yet: {}; retrying", r.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace node
