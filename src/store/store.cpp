// The record store: applies committed changes, publishes immutable
// snapshots for readers, and serializes its whole state for checkpoints.
#include "store/store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/bytes.h"

namespace store {
namespace {

constexpr std::string_view kStateMagic = "DNSNODE-STATE\x01";
constexpr std::string_view kCheckpointMagic = "DNSNODE-CKPT\x01";

std::string errno_text() { return std::strerror(errno); }

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

// Writes `bytes` to `path` so that after a crash the file is either the old
// version or the new one, never a mix: temp file, fsync, rename, fsync dir.
util::Result<void> write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return util::make_error("cannot create " + tmp + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = "cannot write " + tmp + ": " + errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return util::make_error(err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = "cannot fsync " + tmp + ": " + errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return util::make_error(err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = "cannot rename " + tmp + " to " + path + ": " + errno_text();
    ::unlink(tmp.c_str());
    return util::make_error(err);
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
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
  return write_file_atomically(path, file);
}

util::Result<bool> Store::load_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return false;
    return util::make_error("cannot read checkpoint " + path + ": " + errno_text());
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string file = buf.str();
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
