// Binary encoding of a Change, the payload of a Raft log entry.
#include "store/change.h"

#include "util/bytes.h"

namespace store {
namespace {
// Version 2 added the optional RFC 2136 update after the ops; version 3 the
// session stamp (time_ms, stamped_after) after the sequence. Version 2 is
// still read: logs and seed-state files written before stay readable.
constexpr uint8_t kChangeVersion = 3;
constexpr uint8_t kOldestChangeVersion = 2;
// Bounds a decoder never trusts beyond: a change holds at most this many ops.
constexpr uint32_t kMaxOps = 10'000'000;

void write_rr(util::ByteWriter& w, const dns::RR& rr) {
  w.u8(static_cast<uint8_t>(rr.owner.wire_length()));
  w.raw(rr.owner.wire());
  w.u16(rr.type);
  w.u16(rr.rclass);
  w.u32(rr.ttl);
  w.u16(static_cast<uint16_t>(rr.rdata.size()));
  w.raw(rr.rdata);
}

util::Result<dns::RR> read_rr(util::ByteReader& r, const std::string& where) {
  dns::RR rr;
  std::string_view owner_wire = r.raw(r.u8());
  rr.type = r.u16();
  rr.rclass = r.u16();
  rr.ttl = r.u32();
  rr.rdata = std::string(r.raw(r.u16()));
  if (!r.ok()) return util::make_error("change: " + where + " is truncated");
  auto owner = dns::Name::from_wire(owner_wire);
  if (!owner) return util::make_error("change: " + where + ": " + owner.error().message);
  rr.owner = std::move(owner.value());
  return rr;
}

}  // namespace

std::string encode_change(const Change& change) {
  std::string out;
  out.reserve(32 + change.ops.size() * 48);
  util::ByteWriter w(out);
  w.u8(kChangeVersion);
  w.u32(change.origin);
  w.u64(change.client_id);
  w.u64(change.sequence);
  w.u64(change.time_ms);
  w.u64(change.stamped_after);
  w.u32(static_cast<uint32_t>(change.ops.size()));
  for (const Op& op : change.ops) {
    w.u8(static_cast<uint8_t>(op.kind));
    write_rr(w, op.rr);
  }
  w.u8(change.update ? 1 : 0);
  if (change.update) {
    const Update& u = *change.update;
    w.u8(static_cast<uint8_t>(u.zone.wire_length()));
    w.raw(u.zone.wire());
    w.u32(static_cast<uint32_t>(u.prereqs.size()));
    for (const Prereq& p : u.prereqs) {
      w.u8(static_cast<uint8_t>(p.kind));
      write_rr(w, p.rr);
    }
    w.u32(static_cast<uint32_t>(u.updates.size()));
    for (const UpdateOp& op : u.updates) {
      w.u8(static_cast<uint8_t>(op.kind));
      write_rr(w, op.rr);
    }
  }
  return out;
}

util::Result<Change> decode_change(std::string_view bytes) {
  util::ByteReader r(bytes);
  const uint8_t version = r.u8();
  if (version < kOldestChangeVersion || version > kChangeVersion) {
    return util::make_error("change: unknown encoding version " + std::to_string(version));
  }
  Change change;
  change.origin = r.u32();
  change.client_id = r.u64();
  change.sequence = r.u64();
  if (version >= 3) {
    change.time_ms = r.u64();
    change.stamped_after = r.u64();
  }
  uint32_t count = r.u32();
  if (!r.ok() || count > kMaxOps) return util::make_error("change: truncated or oversized header");
  change.ops.reserve(std::min<size_t>(count, r.remaining() / 12));
  for (uint32_t i = 0; i < count; ++i) {
    Op op;
    uint8_t kind = r.u8();
    if (kind < static_cast<uint8_t>(OpKind::Add) || kind > static_cast<uint8_t>(OpKind::SetSigningKeys)) {
      return util::make_error("change: op " + std::to_string(i) + " has unknown kind " + std::to_string(kind));
    }
    op.kind = static_cast<OpKind>(kind);
    auto rr = read_rr(r, "op " + std::to_string(i));
    if (!rr) return rr.error();
    op.rr = std::move(rr.value());
    change.ops.push_back(std::move(op));
  }
  uint8_t has_update = r.u8();
  if (!r.ok() || has_update > 1) return util::make_error("change: truncated or bad update flag");
  if (has_update) {
    Update u;
    auto zone = dns::Name::from_wire(r.raw(r.u8()));
    if (!r.ok() || !zone) return util::make_error("change: update zone is truncated or malformed");
    u.zone = std::move(zone.value());
    uint32_t prereqs = r.u32();
    if (!r.ok() || prereqs > kMaxOps) return util::make_error("change: truncated or oversized prerequisites");
    for (uint32_t i = 0; i < prereqs; ++i) {
      uint8_t kind = r.u8();
      if (kind < static_cast<uint8_t>(PrereqKind::RRsetExists) || kind > static_cast<uint8_t>(PrereqKind::NameNotInUse)) {
        return util::make_error("change: prerequisite " + std::to_string(i) + " has unknown kind " + std::to_string(kind));
      }
      auto rr = read_rr(r, "prerequisite " + std::to_string(i));
      if (!rr) return rr.error();
      u.prereqs.push_back(Prereq{static_cast<PrereqKind>(kind), std::move(rr.value())});
    }
    uint32_t updates = r.u32();
    if (!r.ok() || updates > kMaxOps) return util::make_error("change: truncated or oversized updates");
    for (uint32_t i = 0; i < updates; ++i) {
      uint8_t kind = r.u8();
      if (kind < static_cast<uint8_t>(UpdateKind::Add) || kind > static_cast<uint8_t>(UpdateKind::DeleteRR)) {
        return util::make_error("change: update " + std::to_string(i) + " has unknown kind " + std::to_string(kind));
      }
      auto rr = read_rr(r, "update " + std::to_string(i));
      if (!rr) return rr.error();
      u.updates.push_back(UpdateOp{static_cast<UpdateKind>(kind), std::move(rr.value())});
    }
    change.update = std::move(u);
  }
  if (!r.at_end()) return util::make_error("change: trailing bytes after the last op");
  return change;
}

}  // namespace store
