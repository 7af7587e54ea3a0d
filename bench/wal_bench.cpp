// WAL append throughput with fsync on: one entry per sync, and group commit
// of 10 and 100 entries per sync, on the real file system under /tmp.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "raft/storage.h"

namespace {

/// A fresh directory under /tmp, removed when the benchmark ends.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/wal-bench-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path_ = p != nullptr ? p : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Args: entries per sync, bytes per entry, fsync (1/0).
void BM_WalAppendSync(benchmark::State& state) {
  const auto batch = static_cast<raft::Index>(state.range(0));
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  TempDir dir;
  raft::StorageOptions options;
  options.fsync = state.range(2) != 0;
  options.segment_bytes = 16ull << 20;
  auto opened = raft::LogStorage::open(dir.path(), options);
  if (!opened.ok()) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  auto& log = **opened;
  raft::Index next = 1;
  std::vector<raft::Entry> entries(batch);
  uint64_t syncs = 0;
  for (auto _ : state) {
    for (raft::Index i = 0; i < batch; ++i) entries[i] = raft::Entry{1, next++, raft::EntryType::Normal, payload};
    auto a = log.append(entries);
    auto s = log.sync();
    if (!a.ok() || !s.ok()) {
      state.SkipWithError((a.ok() ? s.error() : a.error()).message.c_str());
      return;
    }
    ++syncs;
    // Keep the directory small the way a node would: compact what is durable.
    if (next % 65536 < batch) (void)log.compact(next - 1 - 1024);
  }
  state.SetItemsProcessed(static_cast<int64_t>(syncs * batch));
  state.counters["syncs_per_s"] = benchmark::Counter(static_cast<double>(syncs), benchmark::Counter::kIsRate);
  state.counters["entries_per_sync"] = static_cast<double>(batch);
}

BENCHMARK(BM_WalAppendSync)
    ->ArgNames({"batch", "bytes", "fsync"})
    ->Args({1, 128, 1})
    ->Args({10, 128, 1})
    ->Args({100, 128, 1})
    ->Args({100, 128, 0})
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
