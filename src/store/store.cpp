// The record store: applies committed changes, publishes immutable
// snapshots for readers, and serializes its whole state for checkpoints.
#include "store/store.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <filesystem>

#include "util/bytes.h"
#include "util/file.h"

namespace store {
namespace {

constexpr std::string_view kStateMagic = "DNSNODE-STATE\x01";
constexpr std::string_view kCheckpointMagic = "DNSNODE-CKPT\x01";

bool is_soa_add(const Op& op) { return op.kind == OpKind::Add && op.rr.type == dns::rrtype::SOA; }

std::string apply_op(zone::ZoneSet& zones, const Op& op) {
  switch (op.kind) {
    case OpKind::Add: {
      auto r = zones.add(op.rr);
      return r ? "" : r.error().message;
    }
    case OpKind::Remove: {
      auto r = zones.remove(op.rr);
      if (!r) return r.error().message;
      if (!r.value()) {
        return "no such record: " + op.rr.owner.to_text() + " " + dns::type_to_text(op.rr.type) + " " +
               dns::rdata_to_text(op.rr.type, op.rr.rdata);
      }
      return "";
    }
    case OpKind::RemoveRRset: {
      auto r = zones.remove_rrset(op.rr.owner, op.rr.type);
      if (!r) return r.error().message;
      if (r.value() == 0) {
        return "no " + dns::type_to_text(op.rr.type) + " records at " + op.rr.owner.to_text();
      }
      return "";
    }
  }
  return "unknown operation";
}

}  // namespace

bool ApplyResult::all_ok() const {
  for (const auto& e : op_errors) {
    if (!e.empty()) return false;
  }
  return true;
}

std::string ApplyResult::first_error() const {
  for (const auto& e : op_errors) {
    if (!e.empty()) return e;
  }
  return "";
}

Store::Store() : current_(std::make_shared<const zone::ZoneSet>()) {}

ApplyResult Store::apply_one(zone::ZoneSet& next, const Change& change) {
  ApplyResult result;
  if (change.sequence != 0) {
    auto it = dedupe_.find({change.origin, change.client_id});
    if (it != dedupe_.end() && change.sequence <= it->second.sequence) {
      // A retry of a change already applied (exactly-once across leader changes).
      result.duplicate = true;
      if (change.sequence == it->second.sequence) {
        result.op_errors = it->second.op_errors;
      } else {
        result.op_errors.assign(change.ops.size(), "");
      }
      return result;
    }
  }
  result.op_errors.resize(change.ops.size());
  // SOA additions go first so that a batch which creates a zone (a zone file
  // seeding the cluster) can hold the zone's other records in any order.
  for (size_t i = 0; i < change.ops.size(); ++i) {
    if (is_soa_add(change.ops[i])) result.op_errors[i] = apply_op(next, change.ops[i]);
  }
  for (size_t i = 0; i < change.ops.size(); ++i) {
    if (!is_soa_add(change.ops[i])) result.op_errors[i] = apply_op(next, change.ops[i]);
  }
  if (change.sequence != 0) {
    dedupe_[{change.origin, change.client_id}] = Dedupe{change.sequence, result.op_errors};
  }
  return result;
}

void Store::publish(zone::ZoneSet next, uint64_t index) {
  current_.store(std::make_shared<const zone::ZoneSet>(std::move(next)), std::memory_order_release);
  applied_index_.store(index, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

ApplyResult Store::apply(const Change& change, uint64_t index) {
  zone::ZoneSet next = *snapshot();
  ApplyResult result = apply_one(next, change);
  publish(std::move(next), index);
  return result;
}

std::vector<ApplyResult> Store::apply_batch(const std::vector<std::pair<Change, uint64_t>>& changes) {
  std::vector<ApplyResult> results;
  if (changes.empty()) return results;
  results.reserve(changes.size());
  zone::ZoneSet next = *snapshot();
  for (const auto& [change, index] : changes) results.push_back(apply_one(next, change));
  publish(std::move(next), changes.back().second);
  return results;
}

std::string Store::serialize() const {
  auto zones = snapshot();
  std::string out;
  util::ByteWriter w(out);
  w.raw(kStateMagic);
  w.u64(applied_index());
  w.u32(static_cast<uint32_t>(dedupe_.size()));
  for (const auto& [key, d] : dedupe_) {
    w.u32(key.first);
    w.u64(key.second);
    w.u64(d.sequence);
    w.u32(static_cast<uint32_t>(d.op_errors.size()));
    for (const auto& e : d.op_errors) w.str(e);
  }
  w.u64(zones->record_count());
  zones->for_each_record([&](const dns::RR& rr) {
    w.u8(static_cast<uint8_t>(rr.owner.wire_length()));
    w.raw(rr.owner.wire());
    w.u16(rr.type);
    w.u32(rr.ttl);
    w.u16(static_cast<uint16_t>(rr.rdata.size()));
    w.raw(rr.rdata);
  });
  return out;
}

util::Result<void> Store::restore(std::string_view bytes) {
  util::ByteReader r(bytes);
  if (r.raw(kStateMagic.size()) != kStateMagic) return util::make_error("state: not a dns-node state image");
  uint64_t index = r.u64();
  std::map<std::pair<uint32_t, uint64_t>, Dedupe> dedupe;
  uint32_t dedupe_count = r.u32();
  for (uint32_t i = 0; i < dedupe_count && r.ok(); ++i) {
    uint32_t origin = r.u32();
    uint64_t client = r.u64();
    Dedupe d;
    d.sequence = r.u64();
    uint32_t n = r.u32();
    if (n > r.remaining()) return util::make_error("state: dedupe entry " + std::to_string(i) + " is corrupt");
    for (uint32_t j = 0; j < n && r.ok(); ++j) d.op_errors.emplace_back(r.str());
    dedupe[{origin, client}] = std::move(d);
  }
  uint64_t record_count = r.u64();
  if (!r.ok()) return util::make_error("state: truncated header");
  std::vector<dns::RR> records;
  records.reserve(std::min<uint64_t>(record_count, r.remaining() / 10));
  for (uint64_t i = 0; i < record_count; ++i) {
    dns::RR rr;
    std::string_view owner_wire = r.raw(r.u8());
    rr.type = r.u16();
    rr.ttl = r.u32();
    rr.rdata = std::string(r.raw(r.u16()));
    if (!r.ok()) return util::make_error("state: record " + std::to_string(i) + " is truncated");
    auto owner = dns::Name::from_wire(owner_wire);
    if (!owner) return util::make_error("state: record " + std::to_string(i) + ": " + owner.error().message);
    rr.owner = std::move(owner.value());
    records.push_back(std::move(rr));
  }
  if (!r.at_end()) return util::make_error("state: trailing bytes");
  zone::ZoneSet zones;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& rr : records) {
      if ((rr.type == dns::rrtype::SOA) != (pass == 0)) continue;
      if (auto added = zones.add(rr); !added) {
        return util::make_error("state: record " + rr.owner.to_text() + " " + dns::type_to_text(rr.type) +
                                " does not load: " + added.error().message);
      }
    }
  }
  dedupe_ = std::move(dedupe);
  publish(std::move(zones), index);
  return {};
}

util::Result<void> Store::save_checkpoint(const std::string& path) const {
  std::string state = serialize();
  std::string file;
  util::ByteWriter w(file);
  w.raw(kCheckpointMagic);
  w.u64(state.size());
  w.raw(state);
  w.u32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(state.data()), static_cast<uInt>(state.size()))));
  return util::write_file_atomically(path, file);
}

util::Result<bool> Store::load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) return false;
  auto contents = util::read_file(path);
  if (!contents) return contents.error();
  const std::string& file = contents.value();
  util::ByteReader r(file);
  if (r.raw(kCheckpointMagic.size()) != kCheckpointMagic) {
    return util::make_error("checkpoint " + path + " is not a dns-node checkpoint (bad magic at offset 0)");
  }
  uint64_t size = r.u64();
  std::string_view state = r.raw(size);
  uint32_t stored_crc = r.u32();
  if (!r.ok() || !r.at_end()) {
    return util::make_error("checkpoint " + path + " is truncated or has trailing bytes (" +
                            std::to_string(file.size()) + " bytes)");
  }
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(state.data()), static_cast<uInt>(state.size())));
  if (crc != stored_crc) {
    return util::make_error("checkpoint " + path + " is corrupt: checksum mismatch over bytes " +
                            std::to_string(kCheckpointMagic.size() + 8) + ".." +
                            std::to_string(kCheckpointMagic.size() + 8 + size));
  }
  if (auto restored = restore(state); !restored) {
    return util::make_error("checkpoint " + path + ": " + restored.error().message);
  }
  return true;
}

std::string Store::digest() const {
  auto zones = snapshot();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string buf;
  zones->for_each_record([&](const dns::RR& rr) {
    buf.clear();
    util::ByteWriter w(buf);
    w.raw(rr.owner.lowercased().wire());
    w.u16(rr.type);
    w.u32(rr.ttl);
    w.str(rr.rdata);
    EVP_DigestUpdate(ctx, buf.data(), buf.size());
  });
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xF]);
  }
  return hex;
}

}  // namespace store
