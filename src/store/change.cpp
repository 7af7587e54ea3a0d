// Binary encoding of a Change, the payload of a Raft log entry.
#include "store/change.h"

#include "util/bytes.h"

namespace store {
namespace {
constexpr uint8_t kChangeVersion = 1;
// Bounds a decoder never trusts beyond: a change holds at most this many ops.
constexpr uint32_t kMaxOps = 10'000'000;
}  // namespace

std::string encode_change(const Change& change) {
  std::string out;
  out.reserve(32 + change.ops.size() * 48);
  util::ByteWriter w(out);
  w.u8(kChangeVersion);
  w.u32(change.origin);
  w.u64(change.client_id);
  w.u64(change.sequence);
  w.u32(static_cast<uint32_t>(change.ops.size()));
  for (const Op& op : change.ops) {
    w.u8(static_cast<uint8_t>(op.kind));
    w.u8(static_cast<uint8_t>(op.rr.owner.wire_length()));
    w.raw(op.rr.owner.wire());
    w.u16(op.rr.type);
    w.u16(op.rr.rclass);
    w.u32(op.rr.ttl);
    w.u16(static_cast<uint16_t>(op.rr.rdata.size()));
    w.raw(op.rr.rdata);
  }
  return out;
}

util::Result<Change> decode_change(std::string_view bytes) {
  util::ByteReader r(bytes);
  if (uint8_t version = r.u8(); version != kChangeVersion) {
    return util::make_error("change: unknown encoding version " + std::to_string(version));
  }
  Change change;
  change.origin = r.u32();
  change.client_id = r.u64();
  change.sequence = r.u64();
  uint32_t count = r.u32();
  if (!r.ok() || count > kMaxOps) return util::make_error("change: truncated or oversized header");
  change.ops.reserve(std::min<size_t>(count, r.remaining() / 12));
  for (uint32_t i = 0; i < count; ++i) {
    Op op;
    uint8_t kind = r.u8();
    if (kind < static_cast<uint8_t>(OpKind::Add) || kind > static_cast<uint8_t>(OpKind::RemoveRRset)) {
      return util::make_error("change: op " + std::to_string(i) + " has unknown kind " + std::to_string(kind));
    }
    op.kind = static_cast<OpKind>(kind);
    std::string_view owner_wire = r.raw(r.u8());
    op.rr.type = r.u16();
    op.rr.rclass = r.u16();
    op.rr.ttl = r.u32();
    op.rr.rdata = std::string(r.raw(r.u16()));
    if (!r.ok()) return util::make_error("change: op " + std::to_string(i) + " is truncated");
    auto owner = dns::Name::from_wire(owner_wire);
    if (!owner) return util::make_error("change: op " + std::to_string(i) + ": " + owner.error().message);
    op.rr.owner = std::move(owner.value());
    change.ops.push_back(std::move(op));
  }
  if (!r.at_end()) return util::make_error("change: trailing bytes after the last op");
  return change;
}

}  // namespace store
