// Encoding and checking of WAL records and snapshot files. All integers are
// little-endian; every record and snapshot carries CRC-32C checksums.
#include "wal_format.h"

#include <cstdio>
#include <cstring>

#include "raft/crc32c.h"

namespace raft::wal {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint32_t get_u32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return v;
}
uint64_t get_u64(std::string_view b, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return v;
}

/// Sequential reader over a payload; any overrun sets `bad`.
struct Reader {
  std::string_view b;
  size_t at = 0;
  bool bad = false;
  uint64_t u64() {
    if (b.size() - at < 8) { bad = true; return 0; }
    uint64_t v = get_u64(b, at);
    at += 8;
    return v;
  }
  uint32_t u32() {
    if (b.size() - at < 4) { bad = true; return 0; }
    uint32_t v = get_u32(b, at);
    at += 4;
    return v;
  }
  uint8_t u8() {
    if (at >= b.size()) { bad = true; return 0; }
    return static_cast<uint8_t>(b[at++]);
  }
};

void put_ids(std::string& out, const std::vector<NodeId>& ids) {
  put_u32(out, static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) put_u64(out, id);
}
bool get_ids(Reader& r, std::vector<NodeId>* ids) {
  uint32_t n = r.u32();
  if (r.bad || n > (r.b.size() - r.at) / 8) return false;
  ids->clear();
  for (uint32_t i = 0; i < n; ++i) ids->push_back(r.u64());
  return !r.bad;
}

bool parse_hex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool parse_two_hex(std::string_view name, std::string_view prefix, std::string_view suffix,
                   uint64_t* a, uint64_t* b) {
  if (name.size() != prefix.size() + 16 + 1 + 16 + suffix.size()) return false;
  if (name.substr(0, prefix.size()) != prefix) return false;
  if (name.substr(name.size() - suffix.size()) != suffix) return false;
  std::string_view mid = name.substr(prefix.size(), 33);
  if (mid[16] != '-') return false;
  return parse_hex16(mid.substr(0, 16), a) && parse_hex16(mid.substr(17), b);
}

}  // namespace

void append_record(std::string& out, RecordType type, std::string_view payload) {
  size_t start = out.size();
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out.push_back(static_cast<char>(type));
  out.append(3, '\0');
  put_u32(out, crc32c(payload));
  put_u32(out, crc32c(std::string_view(out).substr(start, 12)));
  out.append(payload);
}

std::optional<Record> read_record(std::string_view buf, uint64_t offset, std::string* why) {
  if (offset > buf.size() || buf.size() - offset < kHeaderBytes) {
    if (why) *why = "incomplete record header";
    return std::nullopt;
  }
  std::string_view h = buf.substr(offset, kHeaderBytes);
  if (crc32c(h.substr(0, 12)) != get_u32(h, 12)) {
    if (why) *why = "record header checksum mismatch";
    return std::nullopt;
  }
  uint32_t len = get_u32(h, 0);
  if (len > kMaxPayload || buf.size() - offset - kHeaderBytes < len) {
    if (why) *why = "record payload cut short";
    return std::nullopt;
  }
  std::string_view payload = buf.substr(offset + kHeaderBytes, len);
  if (crc32c(payload) != get_u32(h, 8)) {
    if (why) *why = "record payload checksum mismatch";
    return std::nullopt;
  }
  return Record{static_cast<RecordType>(h[4]), payload, kHeaderBytes + len};
}

bool valid_record_after(std::string_view buf, uint64_t offset) {
  for (uint64_t p = offset + 1; p + kHeaderBytes <= buf.size(); ++p) {
    if (read_record(buf, p, nullptr)) return true;
  }
  return false;
}

std::string encode_entry(const Entry& e) {
  std::string out;
  out.reserve(17 + e.data.size());
  put_u64(out, e.term);
  put_u64(out, e.index);
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  return out;
}

util::Result<Entry> decode_entry(std::string_view p) {
  if (p.size() < 17) return util::make_error("entry record shorter than 17 bytes");
  Entry e;
  e.term = get_u64(p, 0);
  e.index = get_u64(p, 8);
  uint8_t type = static_cast<uint8_t>(p[16]);
  if (type > static_cast<uint8_t>(EntryType::Noop)) {
    return util::make_error("entry record has unknown entry type " + std::to_string(type));
  }
  e.type = static_cast<EntryType>(type);
  e.data.assign(p.substr(17));
  return e;
}

std::string encode_hard_state(const HardState& hs) {
  std::string out;
  put_u64(out, hs.term);
  put_u64(out, hs.vote);
  put_u64(out, hs.commit);
  return out;
}

util::Result<HardState> decode_hard_state(std::string_view p) {
  if (p.size() != 24) return util::make_error("hard state record is not 24 bytes");
  return HardState{get_u64(p, 0), get_u64(p, 8), get_u64(p, 16)};
}

std::string encode_base(const LogBase& b) {
  std::string out;
  put_u64(out, b.index);
  put_u64(out, b.term);
  out.push_back(b.kept_suffix ? 1 : 0);
  return out;
}

util::Result<LogBase> decode_base(std::string_view p) {
  if (p.size() != 17 || static_cast<uint8_t>(p[16]) > 1) return util::make_error("log base record is malformed");
  return LogBase{get_u64(p, 0), get_u64(p, 8), p[16] == 1};
}

std::string encode_segment_header(const SegmentHeader& h) {
  std::string out(kSegmentMagic);
  put_u32(out, kVersion);
  put_u64(out, h.seq);
  put_u64(out, h.prev_index);
  put_u64(out, h.prev_term);
  return out;
}

util::Result<SegmentHeader> decode_segment_header(std::string_view p) {
  if (p.size() < 12 || p.substr(0, 8) != kSegmentMagic) {
    return util::make_error("not a WAL segment header");
  }
  uint32_t version = get_u32(p, 8);
  if (version != kVersion) {
    return util::make_error("WAL segment format version " + std::to_string(version) +
                            " is not supported (expected " + std::to_string(kVersion) + ")");
  }
  if (p.size() != 36) return util::make_error("WAL segment header is not 36 bytes");
  return SegmentHeader{get_u64(p, 12), get_u64(p, 20), get_u64(p, 28)};
}

// Snapshot file: magic(8) | u32 version | u32 meta length | u64 data length |
// u32 crc32c(meta + data) | u32 crc32c(previous 28 bytes) | meta | data.
std::string encode_snapshot(const Snapshot& s) {
  std::string meta;
  put_u64(meta, s.meta.index);
  put_u64(meta, s.meta.term);
  put_ids(meta, s.meta.membership.voters);
  put_ids(meta, s.meta.membership.learners);
  std::string out(kSnapshotMagic);
  put_u32(out, kVersion);
  put_u32(out, static_cast<uint32_t>(meta.size()));
  put_u64(out, s.data.size());
  put_u32(out, crc32c(s.data, crc32c(meta)));
  put_u32(out, crc32c(out));
  out.reserve(out.size() + meta.size() + s.data.size());
  out.append(meta);
  out.append(s.data);
  return out;
}

util::Result<Snapshot> decode_snapshot(std::string_view f) {
  constexpr size_t kHead = 32;
  if (f.size() < kHead) return util::make_error("file is shorter than the 32-byte snapshot header");
  if (f.substr(0, 8) != kSnapshotMagic) return util::make_error("bad magic at byte 0: not a snapshot file");
  if (crc32c(f.substr(0, 28)) != get_u32(f, 28)) {
    return util::make_error("snapshot header checksum mismatch at byte 0");
  }
  uint32_t version = get_u32(f, 8);
  if (version != kVersion) {
    return util::make_error("snapshot format version " + std::to_string(version) + " is not supported");
  }
  uint64_t meta_len = get_u32(f, 12);
  uint64_t data_len = get_u64(f, 16);
  if (f.size() - kHead != meta_len + data_len) {
    return util::make_error("snapshot is " + std::to_string(f.size()) + " bytes, header says " +
                            std::to_string(kHead + meta_len + data_len));
  }
  std::string_view meta = f.substr(kHead, meta_len);
  std::string_view data = f.substr(kHead + meta_len);
  if (crc32c(data, crc32c(meta)) != get_u32(f, 24)) {
    return util::make_error("snapshot body checksum mismatch (bytes " + std::to_string(kHead) + ".." +
                            std::to_string(f.size()) + ")");
  }
  Snapshot s;
  Reader r{meta};
  s.meta.index = r.u64();
  s.meta.term = r.u64();
  if (r.bad || !get_ids(r, &s.meta.membership.voters) || !get_ids(r, &s.meta.membership.learners) ||
      r.at != meta.size()) {
    return util::make_error("snapshot meta is malformed");
  }
  s.data.assign(data);
  return s;
}

std::string segment_name(uint64_t seq, Index first_index) {
  return "wal-" + hex16(seq) + "-" + hex16(first_index) + ".log";
}

bool parse_segment_name(std::string_view name, uint64_t* seq, Index* first_index) {
  return parse_two_hex(name, "wal-", ".log", seq, first_index);
}

std::string snapshot_name(Index index, Term term) {
  return "snap-" + hex16(index) + "-" + hex16(term) + ".snap";
}

bool parse_snapshot_name(std::string_view name, Index* index, Term* term) {
  return parse_two_hex(name, "snap-", ".snap", index, term);
}

}  // namespace raft::wal
