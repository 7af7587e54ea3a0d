// The IXFR journal: serial policies, diff composition, bounds, and the
// checkpoint form of a diff.
#include "store/journal.h"

#include <unordered_set>

namespace store {
namespace {

uint32_t soa_serial_of(const dns::RR& soa) {
  auto fields = dns::soa_decode(soa.rdata);
  return fields ? fields->serial : 0;
}

size_t rr_bytes(const dns::RR& rr) { return rr.owner.wire_length() + 10 + rr.rdata.size(); }

/// A record as an exact tuple (owner in any case, type, TTL, rdata).
std::string rr_key(const dns::RR& rr) {
  std::string k = rr.owner.lowercased().wire();
  util::ByteWriter w(k);
  w.u16(rr.type);
  w.u32(rr.ttl);
  w.raw(rr.rdata);
  return k;
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil inverse).
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

void write_rr(util::ByteWriter& w, const dns::RR& rr) {
  w.u8(static_cast<uint8_t>(rr.owner.wire_length()));
  w.raw(rr.owner.wire());
  w.u16(rr.type);
  w.u32(rr.ttl);
  w.u16(static_cast<uint16_t>(rr.rdata.size()));
  w.raw(rr.rdata);
}

util::Result<dns::RR> read_rr(util::ByteReader& r) {
  dns::RR rr;
  std::string_view owner = r.raw(r.u8());
  rr.type = r.u16();
  rr.ttl = r.u32();
  rr.rdata = std::string(r.raw(r.u16()));
  if (!r.ok()) return util::make_error("journal record is truncated");
  auto name = dns::Name::from_wire(owner);
  if (!name) return util::make_error("journal record owner: " + name.error().message);
  rr.owner = std::move(name.value());
  return rr;
}

}  // namespace

uint32_t next_serial(SerialPolicy policy, uint32_t current, uint64_t timestamp_ms) {
  const uint32_t incremented = current + 1;  // RFC 1982 §3.1
  if (timestamp_ms == 0) return incremented;
  uint32_t candidate = incremented;
  switch (policy) {
    case SerialPolicy::Increment:
      return incremented;
    case SerialPolicy::UnixTime:
      candidate = static_cast<uint32_t>(timestamp_ms / 1000);
      break;
    case SerialPolicy::DateSerial: {
      int64_t y = 0;
      unsigned m = 0, d = 0;
      civil_from_days(static_cast<int64_t>(timestamp_ms / 86400000), &y, &m, &d);
      candidate = static_cast<uint32_t>(y * 1000000 + m * 10000 + d * 100);
      break;
    }
  }
  return serial_newer(candidate, current) ? candidate : incremented;
}

uint32_t Diff::from_serial() const { return soa_serial_of(old_soa); }
uint32_t Diff::to_serial() const { return soa_serial_of(new_soa); }

size_t Diff::bytes() const {
  size_t n = rr_bytes(old_soa) + rr_bytes(new_soa);
  for (const dns::RR& rr : removed) n += rr_bytes(rr);
  for (const dns::RR& rr : added) n += rr_bytes(rr);
  return n;
}

Diff condense(const Diff& first, const Diff& second) {
  // state0 -first-> state1 -second-> state2. What second removes that first
  // added never existed in state0; what first removes and second adds back
  // is in both state0 and state2, so it is neither removed nor added.
  Diff out;
  out.old_soa = first.old_soa;
  out.new_soa = second.new_soa;
  std::unordered_set<std::string> first_added, second_removed;
  for (const dns::RR& rr : first.added) first_added.insert(rr_key(rr));
  for (const dns::RR& rr : second.removed) second_removed.insert(rr_key(rr));
  std::unordered_set<std::string> readded;
  for (const dns::RR& rr : second.added) readded.insert(rr_key(rr));
  std::unordered_set<std::string> cancelled;
  for (const dns::RR& rr : first.removed) {
    std::string k = rr_key(rr);
    if (readded.count(k)) {
      cancelled.insert(std::move(k));
    } else {
      out.removed.push_back(rr);
    }
  }
  for (const dns::RR& rr : second.removed) {
    if (!first_added.count(rr_key(rr))) out.removed.push_back(rr);
  }
  for (const dns::RR& rr : first.added) {
    if (!second_removed.count(rr_key(rr))) out.added.push_back(rr);
  }
  for (const dns::RR& rr : second.added) {
    if (!cancelled.count(rr_key(rr))) out.added.push_back(rr);
  }
  return out;
}

void ZoneJournal::append(std::shared_ptr<const Diff> diff, const JournalLimits& limits) {
  bytes += diff->bytes();
  diffs.push_back(std::move(diff));
  // Each pass removes one entry, so this ends.
  while (!diffs.empty() && (diffs.size() > limits.max_entries || bytes > limits.max_bytes)) {
    const size_t old_bytes = diffs[0]->bytes();
    if (diffs.size() >= 2) {
      const size_t pair_bytes = old_bytes + diffs[1]->bytes();
      auto merged = std::make_shared<const Diff>(condense(*diffs[0], *diffs[1]));
      if (diffs.size() > limits.max_entries || merged->bytes() < pair_bytes) {
        bytes = bytes - pair_bytes + merged->bytes();
        diffs.pop_front();
        diffs.front() = std::move(merged);
        continue;
      }
    }
    bytes -= old_bytes;
    diffs.pop_front();
  }
}

std::optional<std::vector<std::shared_ptr<const Diff>>> ZoneJournal::since(uint32_t serial) const {
  for (size_t i = 0; i < diffs.size(); ++i) {
    if (diffs[i]->from_serial() != serial) continue;
    return std::vector<std::shared_ptr<const Diff>>(diffs.begin() + static_cast<std::ptrdiff_t>(i), diffs.end());
  }
  return std::nullopt;
}

void write_diff(util::ByteWriter& w, const Diff& diff) {
  write_rr(w, diff.old_soa);
  write_rr(w, diff.new_soa);
  w.u32(static_cast<uint32_t>(diff.removed.size()));
  for (const dns::RR& rr : diff.removed) write_rr(w, rr);
  w.u32(static_cast<uint32_t>(diff.added.size()));
  for (const dns::RR& rr : diff.added) write_rr(w, rr);
}

util::Result<Diff> read_diff(util::ByteReader& r) {
  Diff d;
  for (dns::RR* soa : {&d.old_soa, &d.new_soa}) {
    auto rr = read_rr(r);
    if (!rr) return rr.error();
    if (rr->type != dns::rrtype::SOA || !dns::soa_decode(rr->rdata)) return util::make_error("journal SOA is not an SOA");
    *soa = std::move(rr.value());
  }
  for (std::vector<dns::RR>* list : {&d.removed, &d.added}) {
    uint32_t count = r.u32();
    if (!r.ok() || count > r.remaining() / 11) return util::make_error("journal diff is truncated");
    list->reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      auto rr = read_rr(r);
      if (!rr) return rr.error();
      list->push_back(std::move(rr.value()));
    }
  }
  return d;
}

}  // namespace store
