// Byte layout of WAL records and snapshot files (see include/raft/storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "util/result.h"

namespace raft::wal {

inline constexpr size_t kHeaderBytes = 16;
inline constexpr uint32_t kMaxPayload = 0x7FFFFFFFu;
inline constexpr std::string_view kSegmentMagic = "RAFTWAL1";
inline constexpr std::string_view kSnapshotMagic = "RAFTSNP1";
inline constexpr uint32_t kVersion = 1;

enum class RecordType : uint8_t {
  SegmentHeader = 1,  // magic, version, segment seq, index/term of the entry before it
  Entry = 2,          // one log entry
  HardState = 3,      // term, vote, commit
  LogBase = 4,        // index, term, kept flag: a snapshot became the log base
};

/// Appends one framed record to `out`.
void append_record(std::string& out, RecordType type, std::string_view payload);

/// One record found in a buffer.
struct Record {
  RecordType type;
  std::string_view payload;
  uint64_t size;  // header + payload
};

/// Reads the record at `offset`; nullopt if the bytes there are not a whole,
/// checksum-valid record (torn or corrupt). `why` says which check failed.
std::optional<Record> read_record(std::string_view buf, uint64_t offset, std::string* why);

/// True if any valid record starts after `offset` (corruption, not a torn tail).
bool valid_record_after(std::string_view buf, uint64_t offset);

// Payload codecs. Decoders fail with a message on malformed payloads.
std::string encode_entry(const Entry& e);
util::Result<Entry> decode_entry(std::string_view p);
std::string encode_hard_state(const HardState& hs);
util::Result<HardState> decode_hard_state(std::string_view p);
/// A snapshot became the log base. `kept_suffix` records whether the entries
/// after it were kept (the log agreed at index) or the whole log was dropped.
struct LogBase {
  Index index = 0;
  Term term = 0;
  bool kept_suffix = false;
};
std::string encode_base(const LogBase& b);
util::Result<LogBase> decode_base(std::string_view p);
struct SegmentHeader {
  uint64_t seq = 0;
  Index prev_index = 0;  // last index of the log when the segment was started
  Term prev_term = 0;
};
std::string encode_segment_header(const SegmentHeader& h);
util::Result<SegmentHeader> decode_segment_header(std::string_view p);

/// A whole snapshot file: magic, lengths, checksums, meta, data.
std::string encode_snapshot(const Snapshot& s);
/// Parses a snapshot file; the error says what is wrong (not the file name).
util::Result<Snapshot> decode_snapshot(std::string_view file);

/// "wal-<seq>-<index>.log" and back.
std::string segment_name(uint64_t seq, Index first_index);
bool parse_segment_name(std::string_view name, uint64_t* seq, Index* first_index);
/// "snap-<index>-<term>.snap" and back.
std::string snapshot_name(Index index, Term term);
bool parse_snapshot_name(std::string_view name, Index* index, Term* term);

}  // namespace raft::wal
