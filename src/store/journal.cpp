// The IXFR journal: serial policies, diff composition, bounds, and the
// checkpoint form of a diff.
#include "store/journal.h"

#include <cstdint>
#include <unordered_set>

namespace store {
namespace {

uint32_t soa_serial_of(const dns::RR& soa) {
  auto fields = dns::soa_decode(soa.rdata);
  return fields ? fields->serial : 0;
}

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

size_t diff_bytes(const dns::RR& rr) { return rr.owner.wire_length() + 10 + rr.rdata.size(); }

size_t Diff::bytes() const {
  size_t n = diff_bytes(old_soa) + diff_bytes(new_soa);
  for (const dns::RR& rr : removed) n += diff_bytes(rr);
  for (const dns::RR& rr : added) n += diff_bytes(rr);
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

namespace {
// Diffs per chunk: a change copies one or two chunks, and a journal copy
// holds one pointer per chunk (1,000 diffs: 32 chunks of 32).
constexpr size_t kChunkDiffs = 32;
}  // namespace

ZoneJournal::const_iterator& ZoneJournal::const_iterator::operator++() {
  if (++entry_ == (*chunks_)[chunk_]->size()) {
    ++chunk_;
    entry_ = 0;
  }
  return *this;
}

ZoneJournal::Position ZoneJournal::locate(size_t i) const {
  size_t c = 0;
  while (i >= chunks_[c]->size()) i -= chunks_[c++]->size();
  return {c, i};
}

const std::shared_ptr<const Diff>& ZoneJournal::operator[](size_t i) const {
  const Position at = locate(i);
  return (*chunks_[at.chunk])[at.entry].diff;
}

ZoneJournal::Chunk& ZoneJournal::own(size_t c) {
  auto copy = std::make_shared<Chunk>(*chunks_[c]);
  Chunk& mine = *copy;
  chunks_[c] = std::move(copy);
  return mine;
}

void ZoneJournal::push(std::shared_ptr<const Diff> diff) {
  Entry e{std::move(diff), 0, 0};
  e.records = e.diff->removed.size() + e.diff->added.size();
  e.bytes = e.diff->bytes();
  bytes_ += e.bytes;
  ++size_;
  if (chunks_.empty() || chunks_.back()->size() >= kChunkDiffs) {
    auto fresh = std::make_shared<Chunk>();
    fresh->reserve(kChunkDiffs);
    fresh->push_back(std::move(e));
    chunks_.push_back(std::move(fresh));
    return;
  }
  own(chunks_.size() - 1).push_back(std::move(e));
}

void ZoneJournal::erase(Position at) {
  bytes_ -= (*chunks_[at.chunk])[at.entry].bytes;
  --size_;
  if (chunks_[at.chunk]->size() == 1) {
    chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(at.chunk));
    return;
  }
  Chunk& c = own(at.chunk);
  c.erase(c.begin() + static_cast<std::ptrdiff_t>(at.entry));
}

void ZoneJournal::condense_smallest_pair() {
  // The adjacent pair smallest together, sized by records (kept beside each
  // diff, so the scan reads no diff).
  Position best{0, 0}, prev{0, 0};
  size_t best_records = SIZE_MAX, prev_records = 0;
  bool first = true;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const Chunk& chunk = *chunks_[c];
    for (size_t e = 0; e < chunk.size(); ++e) {
      if (!first && prev_records + chunk[e].records < best_records) {
        best = prev;
        best_records = prev_records + chunk[e].records;
      }
      first = false;
      prev = {c, e};
      prev_records = chunk[e].records;
    }
  }
  Position next = best.entry + 1 < chunks_[best.chunk]->size() ? Position{best.chunk, best.entry + 1}
                                                                : Position{best.chunk + 1, 0};
  condensed_records_ += best_records;
  Entry merged;
  merged.diff = std::make_shared<const Diff>(condense(*(*chunks_[best.chunk])[best.entry].diff,
                                                      *(*chunks_[next.chunk])[next.entry].diff));
  merged.records = merged.diff->removed.size() + merged.diff->added.size();
  merged.bytes = merged.diff->bytes();
  erase(next);  // after `best`: its position stays valid
  Entry& slot = own(best.chunk)[best.entry];
  bytes_ = bytes_ - slot.bytes + merged.bytes;
  slot = std::move(merged);
}

void ZoneJournal::drop_oldest() { erase({0, 0}); }

void ZoneJournal::restore(std::shared_ptr<const Diff> diff) { push(std::move(diff)); }

void ZoneJournal::append(std::shared_ptr<const Diff> diff, const JournalLimits& limits) {
  push(std::move(diff));
  // Too many entries: the adjacent pair smallest together becomes one. The
  // chain from the oldest serial to the newest stays whole, and each record
  // is condensed about log(entries) times over its life, where always taking
  // the oldest pair would condense an ever larger first entry on every
  // change (a journal of 1,000 changes of one name each then costs every
  // change a pass over all the names added since the journal filled).
  while (size_ > limits.max_entries && size_ >= 2) condense_smallest_pair();
  // Too many bytes: the oldest entries go (their serials then get the whole zone).
  while (size_ > 1 && bytes_ > limits.max_bytes) drop_oldest();
  if (bytes_ > limits.max_bytes) {
    chunks_.clear();
    size_ = 0;
    bytes_ = 0;
  }
}

std::optional<std::vector<std::shared_ptr<const Diff>>> ZoneJournal::since(uint32_t serial) const {
  for (auto it = begin(); it != end(); ++it) {
    if ((*it)->from_serial() != serial) continue;
    return std::vector<std::shared_ptr<const Diff>>(it, end());
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
