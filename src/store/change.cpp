// Binary encoding of a Change, the payload of a Raft log entry.
#include "store/change.h"

#include "util/bytes.h"

namespace store {
namespace {
// Version 2 added the optional RFC 2136 update after the ops; version 3 the
// session stamp (time_ms, stamped_after) after the sequence; version 4 the
// optional replicated settings at the end, then the optional transfer-in
// marker. Versions 2 and 3 are still read:
// logs and seed-state files written before stay readable.
constexpr uint8_t kChangeVersion = 4;
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

void write_name(util::ByteWriter& w, const dns::Name& name) {
  w.u8(static_cast<uint8_t>(name.wire_length()));
  w.raw(name.wire());
}

util::Result<dns::Name> read_name(util::ByteReader& r, const std::string& where) {
  std::string_view wire = r.raw(r.u8());
  if (!r.ok()) return util::make_error("change: " + where + " is truncated");
  auto name = dns::Name::from_wire(wire);
  if (!name) return util::make_error("change: " + where + ": " + name.error().message);
  return name;
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

std::vector<Op> new_zone_ops(const dns::Name& apex, const dns::Name& mname, const dns::Name& rname, uint32_t serial) {
  dns::SoaFields soa;
  soa.mname = mname;
  soa.rname = rname;
  soa.serial = serial;
  soa.refresh = 3600;
  soa.retry = 600;
  soa.expire = 1209600;
  soa.minimum = 300;
  std::vector<Op> ops;
  ops.push_back(Op{OpKind::Add, dns::RR{apex, dns::rrtype::SOA, dns::rrclass::IN, 3600, dns::soa_encode(soa)}});
  ops.push_back(Op{OpKind::Add, dns::RR{apex, dns::rrtype::NS, dns::rrclass::IN, 3600, mname.wire()}});
  return ops;
}

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
  w.u8(change.settings ? 1 : 0);
  if (change.settings) {
    const Settings& s = *change.settings;
    w.u8(s.catalog ? 1 : 0);
    if (s.catalog) write_name(w, *s.catalog);
    w.u32(static_cast<uint32_t>(s.serial_policies.size()));
    for (const auto& [apex, policy] : s.serial_policies) {
      write_name(w, apex);
      w.u8(static_cast<uint8_t>(policy));
    }
  }
  w.u8(change.transfer ? 1 : 0);
  if (change.transfer) {
    write_name(w, change.transfer->zone);
    w.u8(change.transfer->from_serial ? 1 : 0);
    w.u32(change.transfer->from_serial.value_or(0));
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
    if (kind < static_cast<uint8_t>(OpKind::Add) || kind > static_cast<uint8_t>(OpKind::RemoveZone)) {
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
  if (version >= 4) {
    uint8_t has_settings = r.u8();
    if (!r.ok() || has_settings > 1) return util::make_error("change: truncated or bad settings flag");
    if (has_settings) {
      Settings s;
      uint8_t has_catalog = r.u8();
      if (!r.ok() || has_catalog > 1) return util::make_error("change: truncated or bad catalog flag");
      if (has_catalog) {
        auto catalog = read_name(r, "catalog name");
        if (!catalog) return catalog.error();
        s.catalog = std::move(catalog.value());
      }
      uint32_t count = r.u32();
      if (!r.ok() || count > r.remaining()) return util::make_error("change: truncated or oversized serial policies");
      for (uint32_t i = 0; i < count; ++i) {
        auto apex = read_name(r, "serial policy " + std::to_string(i));
        if (!apex) return apex.error();
        uint8_t policy = r.u8();
        if (!r.ok() || policy > static_cast<uint8_t>(SerialPolicy::DateSerial)) {
          return util::make_error("change: serial policy " + std::to_string(i) + " is truncated or unknown");
        }
        s.serial_policies[std::move(apex.value())] = static_cast<SerialPolicy>(policy);
      }
      change.settings = std::move(s);
    }
  }
  if (version >= 4) {
    uint8_t has_transfer = r.u8();
    if (!r.ok() || has_transfer > 1) return util::make_error("change: truncated or bad transfer flag");
    if (has_transfer) {
      TransferIn t;
      auto zone = read_name(r, "transfer zone");
      if (!zone) return zone.error();
      t.zone = std::move(zone.value());
      uint8_t has_serial = r.u8();
      uint32_t serial = r.u32();
      if (!r.ok() || has_serial > 1) return util::make_error("change: truncated or bad transfer serial");
      if (has_serial) t.from_serial = serial;
      change.transfer = std::move(t);
    }
  }
  if (!r.at_end()) return util::make_error("change: trailing bytes after the last op");
  return change;
}

}  // namespace store
