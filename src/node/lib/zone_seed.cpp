// The difference between a node's zone files and what it last loaded.
#include "node/zone_seed.h"

#include <filesystem>
#include <map>
#include <tuple>

#include "util/file.h"

namespace node {
namespace {

using RecordKey = std::tuple<std::string, uint16_t, std::string>;

RecordKey key_of(const dns::RR& rr) { return {rr.owner.lowercased().wire(), rr.type, rr.rdata}; }

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
