// Zone files seed the cluster (docs/design.md): on start a node proposes the
// difference between its zone files and what it last loaded from them, so
// edits propagate and runtime changes survive a restart.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dns/rr.h"
#include "node/change_submitter.h"
#include "node/zone_loader.h"
#include "store/store.h"
#include "store/change.h"
#include "util/result.h"

namespace node {

/// The ops that turn `last_loaded` into `in_files`: removes for records no
/// longer in the files, adds for new records and for records whose TTL
/// changed. Records compare by owner (ignoring case), type and rdata.
std::vector<store::Op> zone_seed_diff(const std::vector<dns::RR>& last_loaded,
                                      const std::vector<dns::RR>& in_files);

/// The records this node last loaded from its zone files, kept in its data
/// directory. A missing file means nothing was loaded yet.
util::Result<std::vector<dns::RR>> load_seed_state(const std::string& path);
util::Result<void> save_seed_state(const std::string& path, const std::vector<dns::RR>& records);

/// A fingerprint of the zone files as bytes: SHA-256 over each path, its
/// size and its content, in order. Nullopt when a file cannot be read, or
/// when one uses $INCLUDE (the included files would not be covered).
std::optional<std::string> zone_files_fingerprint(const std::vector<std::string>& paths);

/// Whether `fingerprint` is the one saved beside the seed state at
/// `state_path` when that state was last written from clean files (no line
/// skipped, no record refused). Then the files hold exactly the records last
/// loaded and reading them would propose nothing: a restart skips them.
bool zone_files_unchanged(const std::string& state_path, const std::string& fingerprint);

/// Records per change when zone files seed the store. By default the whole
/// difference is one change: every change a zone takes copies that zone in
/// the store (copy-on-write) and advances its SOA serial, so a load split in
/// many changes is slower and would not serve the file's serial. A smaller
/// value bounds the size of each Raft entry instead.
inline constexpr size_t kSeedWholeDiff = SIZE_MAX;
/// Bytes per change, at most, when zone files seed the store: a little
/// under what a Raft log entry takes (raft::StorageOptions::max_entry_bytes,
/// 64 MiB; the estimate counts 16 bytes per record where the encoding takes
/// 12, and one record more than this at most), some 1,300,000 records of a
/// typical zone. A larger difference goes in several changes; its zone then
/// serves the file's serial plus one per change after the first. Each is
/// built at once (store::Store applies adds over the journal's byte bound
/// in bulk), and the zone's IXFR journal starts after the last.
inline constexpr size_t kSeedChunkBytes = 60u << 20;

/// Proposes the difference between the zone files and what this node last
/// loaded from them, in changes of at most `chunk_ops` records and about
/// `chunk_bytes` bytes proposed one
/// after the other, retrying each until the cluster commits it or `stopping`
/// is set, then records the files as loaded. Consumes `load` and frees it
/// (and hands freed heap back to the kernel) before returning. A record refused because its zone
/// did not exist yet (its SOA is in another node's file, still on its way)
/// is proposed again once the zone appears, for up to `zone_wait_ms`; other
/// refusals are logged and stay out of the saved state, so the next start
/// reports them again. `load.fingerprint`, when set, is saved beside the
/// state once the files' records are all in (zone_files_unchanged).
void seed_from_zone_files(ChangeSubmitter& submitter, const store::Store& store, const std::string& state_path,
                          ZoneLoad load, const std::atomic<bool>& stopping, int zone_wait_ms = 60000,
                          size_t chunk_ops = kSeedWholeDiff, size_t chunk_bytes = kSeedChunkBytes);

}  // namespace node
