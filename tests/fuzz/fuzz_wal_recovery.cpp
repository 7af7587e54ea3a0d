// Fuzz target: LogStorage::open() over a directory holding arbitrary segment
// (and snapshot) bytes recovers or refuses with a message, never crashes, and
// recovery is stable: reopening what it left yields the same log.
//
// Input layout: parts separated by the 4 bytes "\xffSEP". Part 0 is the first
// segment, part 1 (if any) a second segment whose first 8 bytes (little-endian)
// are the first index written in its file name, part 2 (if any) a snapshot file
// whose first 16 bytes are the index and term of its file name.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "raft/mem_file_system.h"
#include "raft/storage.h"

namespace {

constexpr const char* kDir = "/data/raft";
constexpr std::string_view kSeparator("\xffSEP", 4);

std::vector<std::string> split(std::string_view in) {
  std::vector<std::string> parts;
  while (parts.size() < 2) {
    size_t at = in.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.emplace_back(in.substr(0, at));
    in.remove_prefix(at + kSeparator.size());
  }
  parts.emplace_back(in);
  return parts;
}

uint64_t le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

raft::StorageOptions options(raft::MemFileSystem& fs) {
  raft::StorageOptions o;
  o.fs = &fs;
  o.segment_bytes = 4096;  // small segments: rolling happens within a run
  o.max_entry_bytes = 1 << 20;
  return o;
}

struct State {
  raft::HardState hs;
  raft::SnapshotMeta snap;
  raft::Index first = 0;
  raft::Index last = 0;
  std::vector<raft::Entry> entries;
  bool operator==(const State&) const = default;
};

State state_of(const raft::LogStorage& s) {
  return State{s.hard_state(), s.snapshot_meta(), s.first_index(), s.last_index(), s.all_entries()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> parts = split(std::string_view(reinterpret_cast<const char*>(data), size));
  raft::MemFileSystem fs;
  (void)fs.create_dirs(kDir);
  fs.set_contents(std::string(kDir) + "/wal-0000000000000001-0000000000000001.log", parts[0]);
  if (parts.size() > 1) {
    uint64_t first = 1;
    std::string body = parts[1];
    if (body.size() >= 8) {
      first = le64(body.data());
      body.erase(0, 8);
    }
    char name[64];
    std::snprintf(name, sizeof name, "/wal-0000000000000002-%016llx.log", static_cast<unsigned long long>(first));
    fs.set_contents(std::string(kDir) + name, body);
  }
  if (parts.size() > 2) {
    std::string body = parts[2];
    uint64_t index = 1, term = 1;
    if (body.size() >= 16) {
      index = le64(body.data());
      term = le64(body.data() + 8);
      body.erase(0, 16);
    }
    char name[80];
    std::snprintf(name, sizeof name, "/snap-%016llx-%016llx.snap", static_cast<unsigned long long>(index),
                  static_cast<unsigned long long>(term));
    fs.set_contents(std::string(kDir) + name, body);
  }

  auto opened = raft::LogStorage::open(kDir, options(fs));
  if (!opened.ok()) {
    if (opened.error().message.empty()) std::abort();  // the operator must learn why
    return 0;
  }
  raft::LogStorage& s = *opened.value();
  if (s.last_index() + 1 < s.first_index()) std::abort();
  const State first = state_of(s);
  opened.value().reset();

  // Recovery repaired whatever it reported; a second open sees the same log.
  auto reopened = raft::LogStorage::open(kDir, options(fs));
  if (!reopened.ok()) {
    std::fprintf(stderr, "the first open recovered, the second refused: %s\n", reopened.error().message.c_str());
    std::abort();
  }
  if (!(state_of(*reopened.value()) == first)) std::abort();

  // The recovered storage accepts the next entry, and it survives a reopen.
  raft::LogStorage& r = *reopened.value();
  const raft::Index next = r.last_index() + 1;
  raft::Term term = r.hard_state().term;
  if (auto t = r.term(r.last_index()); t && *t > term) term = *t;
  if (next == 0 || term == UINT64_MAX) return 0;
  if (!r.append({raft::Entry{term, next, raft::EntryType::Normal, "fuzz"}}).ok()) return 0;
  if (!r.sync().ok()) return 0;
  const State written = state_of(r);
  reopened.value().reset();
  auto third = raft::LogStorage::open(kDir, options(fs));
  if (!third.ok()) std::abort();
  if (!(state_of(*third.value()) == written)) std::abort();
  return 0;
}
