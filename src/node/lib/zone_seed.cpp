// The difference between a node's zone files and what it last loaded.
#include "node/zone_seed.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include <unistd.h>

#include <ctime>
#include <optional>

#include "util/file.h"

namespace node {
namespace {

using RecordKey = std::tuple<std::string, uint16_t, std::string>;

RecordKey key_of(const dns::RR& rr) { return {rr.owner.lowercased().wire(), rr.type, rr.rdata}; }

std::string describe(const store::Op& op) {
  return std::string(op.kind == store::OpKind::Add ? "adding " : "removing ") + op.rr.owner.to_text() + " " +
         dns::type_to_text(op.rr.type) + " " + dns::rdata_to_text(op.rr.type, op.rr.rdata);
}

void sleep_unless_stopping(const std::atomic<bool>& stopping, int ms) {
  for (int waited = 0; waited < ms && !stopping; waited += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

/// Submits `change` until it is committed (a fresh sequence each try, since
/// an earlier try may still commit: adds and removes are idempotent).
std::optional<store::ApplyResult> submit_until_committed(ChangeSubmitter& submitter, store::Change& change,
                                                         const std::atomic<bool>& stopping) {
  while (!stopping) {
    ++change.sequence;
    SubmitResult result = submit_and_wait(submitter, change);
    if (result) return std::move(result.value());
    spdlog::warn("zone file changes not committed yet ({}); retrying", result.error().message);
    sleep_unless_stopping(stopping, 1000);
  }
  return std::nullopt;
}

}  // namespace

std::vector<store::Op> zone_seed_diff(const std::vector<dns::RR>& last_loaded,
                                      const std::vector<dns::RR>& in_files) {
  std::map<RecordKey, const dns::RR*> old_records, new_records;
  for (const auto& rr : last_loaded) old_records[key_of(rr)] = &rr;
  for (const auto& rr : in_files) new_records[key_of(rr)] = &rr;
  std::vector<store::Op> ops;
  for (const auto& rr : last_loaded) {
    if (!new_records.count(key_of(rr))) ops.push_back({store::OpKind::Remove, rr});
  }
  for (const auto& rr : in_files) {
    auto it = old_records.find(key_of(rr));
    if (it == old_records.end() || it->second->ttl != rr.ttl) ops.push_back({store::OpKind::Add, rr});
  }
  return ops;
}

void seed_from_zone_files(ChangeSubmitter& submitter, const store::Store& store, const std::string& state_path,
                          const ZoneLoad& load, const std::atomic<bool>& stopping, int zone_wait_ms) {
  auto last = load_seed_state(state_path);
  if (!last) {
    spdlog::error("{}; proposing every zone file record again", last.error().message);
    last = std::vector<dns::RR>{};
  }
  std::vector<dns::RR> in_files;
  for (const auto& op : load.change.ops) in_files.push_back(op.rr);
  store::Change change;
  change.client_id = (static_cast<uint64_t>(::getpid()) << 32) ^ static_cast<uint64_t>(::time(nullptr));
  change.ops = zone_seed_diff(*last, in_files);
  if (change.ops.empty()) {
    spdlog::info("zone files unchanged since last loaded ({} records)", in_files.size());
    return;
  }
  const size_t proposed = change.ops.size();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(zone_wait_ms);
  std::vector<std::pair<store::Op, std::string>> refused;
  while (!change.ops.empty()) {
    auto result = submit_until_committed(submitter, change, stopping);
    if (!result) return;  // stopping: the next start proposes the same difference
    std::vector<store::Op> waiting_for_zone;
    for (size_t i = 0; i < change.ops.size(); ++i) {
      if (result->op_errors[i].empty()) continue;
      const store::Op& op = change.ops[i];
      bool zone_missing = op.kind == store::OpKind::Add && !store.snapshot()->find_zone(op.rr.owner);
      if (zone_missing && std::chrono::steady_clock::now() < deadline) {
        waiting_for_zone.push_back(op);
      } else {
        refused.emplace_back(op, result->op_errors[i]);
      }
    }
    change.ops.clear();
    // Propose again what now has its zone; wait for the rest.
    while (!waiting_for_zone.empty() && change.ops.empty() && !stopping &&
           std::chrono::steady_clock::now() < deadline) {
      sleep_unless_stopping(stopping, 200);
      for (auto it = waiting_for_zone.begin(); it != waiting_for_zone.end();) {
        if (store.snapshot()->find_zone(it->rr.owner)) {
          change.ops.push_back(*it);
          it = waiting_for_zone.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (stopping) return;
    for (const auto& op : waiting_for_zone) refused.emplace_back(op, "no zone for " + op.rr.owner.to_text());
    if (change.ops.empty()) break;
  }

  std::set<RecordKey> refused_adds;
  for (const auto& [op, reason] : refused) {
    spdlog::warn("zone files: rejected {}: {}", describe(op), reason);
    if (op.kind == store::OpKind::Add) refused_adds.insert(key_of(op.rr));
  }
  std::vector<dns::RR> loaded;
  for (const auto& rr : in_files) {
    if (!refused_adds.count(key_of(rr))) loaded.push_back(rr);
  }
  if (auto saved = save_seed_state(state_path, loaded); !saved) spdlog::error("{}", saved.error().message);
  spdlog::info("zone files: {} changes committed, {} rejected, {} lines skipped", proposed - refused.size(),
               refused.size(), load.warnings.size());
}

util::Result<std::vector<dns::RR>> load_seed_state(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::vector<dns::RR>{};
  auto bytes = util::read_file(path);
  if (!bytes) return bytes.error();
  auto change = store::decode_change(bytes.value());
  if (!change) return util::make_error(path + ": " + change.error().message);
  std::vector<dns::RR> records;
  records.reserve(change->ops.size());
  for (auto& op : change->ops) records.push_back(std::move(op.rr));
  return records;
}

util::Result<void> save_seed_state(const std::string& path, const std::vector<dns::RR>& records) {
  // The state reuses the change encoding: a list of Add ops.
  store::Change state;
  state.ops.reserve(records.size());
  for (const auto& rr : records) state.ops.push_back({store::OpKind::Add, rr});
  return util::write_file_atomically(path, store::encode_change(state));
}

}  // namespace node
