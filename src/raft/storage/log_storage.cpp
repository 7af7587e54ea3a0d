// LogStorage: recovery, group-committed appends, compaction and snapshot files
// of the Raft write-ahead log.
#include <algorithm>
#include <iterator>

#include "raft/storage.h"
#include "wal_format.h"

namespace raft {

using wal::RecordType;

LogStorage::LogStorage(std::string dir, StorageOptions options)
    : dir_(std::move(dir)),
      options_(options),
      fs_(options.fs != nullptr ? options.fs : &posix_file_system()) {}

LogStorage::~LogStorage() = default;

std::string LogStorage::path(const std::string& name) const { return join_path(dir_, name); }

util::Result<std::unique_ptr<LogStorage>> LogStorage::open(const std::string& dir,
                                                           StorageOptions options) {
  if (options.segment_bytes == 0) return util::make_error("storage option segment_bytes must be > 0");
  std::unique_ptr<LogStorage> s(new LogStorage(dir, options));
  if (auto r = s->recover(); !r) return r.error();
  return s;
}

// ---------------------------------------------------------------- recovery

util::Result<void> LogStorage::recover() {
  if (auto r = fs_->create_dirs(dir_); !r) return r;
  auto names = fs_->list_dir(dir_);
  if (!names) return names.error();

  for (const auto& name : *names) {
    uint64_t seq = 0;
    Index index = 0;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      // A snapshot whose writer crashed before the rename: never visible, never used.
      if (auto r = fs_->remove(path(name)); !r) return r;
      report_.warnings.push_back(path(name) + ": removed an unfinished snapshot file");
    } else if (name.ends_with(kObsoleteSegmentSuffix)) {
      // A compacted segment whose removal a crash interrupted (remove_segment_gradually).
      if (auto r = fs_->remove(path(name)); !r) return r;
    } else if (wal::parse_segment_name(name, &seq, &index)) {
      segments_.push_back(Segment{seq, index, 0, 0, name});
    }
  }
  // A segment may have been created by a process that died before it synced
  // the directory: its entry is then in the page cache only. Appending to it
  // would acknowledge entries a power loss can take with the entry, so
  // every entry found here is made durable first.
  if (options_.fsync) {
    if (auto r = fs_->sync_dir(dir_); !r) return r;
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.seq < b.seq; });
  if (auto r = load_newest_snapshot(); !r) return r;
  if (auto r = drop_segments_before_a_hole(); !r) return r;

  for (size_t i = 0; i < segments_.size(); ++i) {
    if (auto r = replay_segment(segments_[i], i == 0, i + 1 == segments_.size()); !r) return r;
  }
  report_.segments = segments_.size();

  // A snapshot the WAL does not know about yet (saved, then a crash before
  // the log recorded it) still becomes the base, by the InstallSnapshot rule;
  // it is written down below so that later appends replay on top of it.
  // A torn header of the last segment is written again below as following
  // what the segments before it hold, not the snapshot: the next replay
  // checks it against them, and the base record after it moves the base.
  const Index replayed_last = last_index();
  const Term replayed_last_term = term(replayed_last).value_or(0);
  bool base_from_snapshot = snapshot_meta_.index > base_index_;
  bool kept_suffix = base_from_snapshot && apply_base(snapshot_meta_.index, snapshot_meta_.term);

  if (segments_.empty()) {
    if (auto r = start_segment(1); !r) return r;
  } else {
    auto file = fs_->open_append(path(segments_.back().name), false);
    if (!file) return file.error();
    active_ = std::move(*file);
    // A process that died between a write and its fsync left records in the
    // page cache only. They are taken as durable below (durable_index_) and
    // may be acknowledged, so they are made durable first.
    if (options_.fsync && active_->size() > 0) {
      if (auto r = active_->sync(); !r) return r;
    }
    if (active_->size() == 0) {
      // The last segment's header was torn away: write it again.
      Segment& seg = segments_.back();
      std::string head;
      wal::append_record(head, RecordType::SegmentHeader,
                         wal::encode_segment_header({seg.seq, replayed_last, replayed_last_term}));
      wal::append_record(head, RecordType::HardState, wal::encode_hard_state(hard_state_));
      pending_ = std::move(head);
      seg.max_index = std::max(seg.max_index, last_index());
    }
  }
  if (base_from_snapshot) {
    wal::append_record(pending_, RecordType::LogBase,
                       wal::encode_base({base_index_, base_term_, kept_suffix}));
    segments_.back().max_index = std::max(segments_.back().max_index, base_index_);
  }
  if (!pending_.empty()) {
    if (auto r = sync(); !r) return r;
  }
  durable_index_ = last_index();
  return {};
}

util::Result<void> LogStorage::drop_segments_before_a_hole() {
  for (size_t i = segments_.size(); i-- > 1;) {
    if (segments_[i].seq == segments_[i - 1].seq + 1) continue;
    // Compacted segments are removed oldest first, but a remover on other
    // threads (StorageOptions::remove_segment) may finish them in any order
    // and a crash may keep any of them. Everything before the hole is
    // obsolete when the snapshot covers every index the segment after it
    // does not hold: the older segments hold only indices below its first.
    if (snapshot_meta_.index + 1 < segments_[i].first_index) {
      return util::make_error(dir_ + ": WAL segment " + std::to_string(segments_[i - 1].seq + 1) +
                              " is missing (found " + segments_[i - 1].name + " then " +
                              segments_[i].name + "); the log has a hole and cannot be replayed");
    }
    for (size_t j = 0; j < i; ++j) {
      if (auto r = fs_->remove(path(segments_[j].name)); !r) return r;
      report_.warnings.push_back(path(segments_[j].name) + ": removed a compacted segment left behind by a crash");
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(i));
    break;
  }
  return {};
}

util::Result<void> LogStorage::load_newest_snapshot() {
  auto names = fs_->list_dir(dir_);
  if (!names) return names.error();
  std::vector<std::pair<Index, std::string>> snaps;
  for (const auto& name : *names) {
    Index index = 0;
    Term term = 0;
    if (wal::parse_snapshot_name(name, &index, &term)) snaps.emplace_back(index, name);
  }
  if (snaps.empty()) return {};
  std::sort(snaps.begin(), snaps.end());
  const std::string& newest = snaps.back().second;
  auto bytes = fs_->read_file(path(newest));
  if (!bytes) return bytes.error();
  auto snap = wal::decode_snapshot(*bytes);
  if (!snap) {
    return util::make_error(path(newest) + ": corrupt snapshot: " + snap.error().message +
                            "; restore the file or remove it and let the node fetch a snapshot "
                            "from the leader");
  }
  if (wal::snapshot_name(snap->meta.index, snap->meta.term) != newest) {
    return util::make_error(path(newest) + ": snapshot contents are for index " +
                            std::to_string(snap->meta.index) + " term " +
                            std::to_string(snap->meta.term) + ", which does not match its name");
  }
  snapshot_meta_ = snap->meta;
  snapshot_name_ = newest;
  snapshot_bytes_ = bytes->size();
  // Older snapshots are left over from a crash between save and cleanup.
  for (size_t i = 0; i + 1 < snaps.size(); ++i) {
    if (auto r = fs_->remove(path(snaps[i].second)); !r) return r;
  }
  return {};
}

util::Result<void> LogStorage::replay_segment(Segment& seg, bool first, bool last) {
  const std::string file = path(seg.name);
  auto bytes = fs_->read_file(file);
  if (!bytes) return bytes.error();
  std::string_view buf = *bytes;
  auto at = [&](uint64_t off) { return file + ": byte " + std::to_string(off) + ": "; };

  uint64_t off = 0;
  while (off < buf.size()) {
    std::string why;
    auto rec = wal::read_record(buf, off, &why);
    if (!rec) {
      if (!last || wal::valid_record_after(buf, off)) {
        return util::make_error(at(off) + "corrupt WAL record (" + why +
                                ") with valid data after it; refusing to start rather than lose "
                                "acknowledged entries. Restore this node's data directory from a "
                                "backup or wipe it and rejoin the cluster");
      }
      // A torn tail: the last write before a crash, never acknowledged because
      // it never completed its fsync. Cut it off so appends continue cleanly.
      uint64_t cut = buf.size() - off;
      auto f = fs_->open_append(file, false);
      if (!f) return f.error();
      if (auto r = (*f)->truncate(off); !r) return r;
      if (options_.fsync) {
        if (auto r = (*f)->sync(); !r) return r;
      }
      report_.truncated_bytes += cut;
      report_.warnings.push_back(at(off) + "torn record at the end of the log (" + why + ", " +
                                 std::to_string(cut) + " bytes) truncated; the log now ends at index " +
                                 std::to_string(last_index()));
      break;
    }
    if (off == 0) {
      if (rec->type != RecordType::SegmentHeader) {
        return util::make_error(at(0) + "segment does not start with a segment header");
      }
      auto h = wal::decode_segment_header(rec->payload);
      if (!h) return util::make_error(at(0) + h.error().message);
      if (h->seq != seg.seq) {
        return util::make_error(at(0) + "header says segment " + std::to_string(h->seq) +
                                " but the name says " + std::to_string(seg.seq));
      }
      seg.max_index = std::max(seg.max_index, h->prev_index);
      if (first) {
        // Older segments were compacted away: the log resumes after prev.
        base_index_ = h->prev_index;
        base_term_ = h->prev_term;
      } else if (h->prev_index != last_index() || term(h->prev_index) != h->prev_term) {
        return util::make_error(at(0) + "segment starts after index " + std::to_string(h->prev_index) +
                                " term " + std::to_string(h->prev_term) +
                                " but the segments before it end at index " +
                                std::to_string(last_index()));
      }
    } else {
      switch (rec->type) {
        case RecordType::Entry: {
          auto e = wal::decode_entry(rec->payload);
          if (!e) return util::make_error(at(off) + e.error().message);
          seg.max_index = std::max(seg.max_index, e->index);
          if (e->index <= base_index_) {
            // Only in the first segment replayed: the log was overwritten
            // below the point where replay starts (the entries before it were
            // in compacted segments). The log now ends at this entry; it
            // becomes the base, and what follows is appended after it.
            entries_.clear();
            base_index_ = e->index;
            base_term_ = e->term;
          } else if (e->index > last_index() + 1) {
            return util::make_error(at(off) + "entry " + std::to_string(e->index) +
                                    " leaves a gap after index " + std::to_string(last_index()));
          } else {
            append_in_memory(std::move(*e));
          }
          break;
        }
        case RecordType::HardState: {
          auto hs = wal::decode_hard_state(rec->payload);
          if (!hs) return util::make_error(at(off) + hs.error().message);
          hard_state_ = *hs;
          break;
        }
        case RecordType::LogBase: {
          auto b = wal::decode_base(rec->payload);
          if (!b) return util::make_error(at(off) + b.error().message);
          seg.max_index = std::max(seg.max_index, b->index);
          if (!b->kept_suffix) {
            // The whole log was replaced by the snapshot. Replay may have
            // started above b->index (first segment after compaction); the
            // log still ended at the snapshot then, so the base moves down.
            entries_.clear();
            base_index_ = b->index;
            base_term_ = b->term;
          } else if (b->index > base_index_) {
            apply_base(b->index, b->term);
          }
          break;
        }
        default:
          return util::make_error(at(off) + "unknown WAL record type " +
                                  std::to_string(static_cast<int>(rec->type)));
      }
    }
    off += rec->size;
    ++report_.records;
  }
  seg.bytes = std::min<uint64_t>(off, buf.size());
  return {};
}

// ---------------------------------------------------------------- in memory

std::optional<Term> LogStorage::term(Index index) const {
  if (index == base_index_) return base_term_;
  if (index < base_index_ || index > last_index()) return std::nullopt;
  return entries_[index - base_index_ - 1].term;
}

util::Result<std::vector<Entry>> LogStorage::entries(Index lo, Index hi) const {
  if (lo < first_index() || hi > last_index() + 1 || lo > hi) {
    return util::make_error("entries [" + std::to_string(lo) + ", " + std::to_string(hi) +
                            ") outside the log [" + std::to_string(first_index()) + ", " +
                            std::to_string(last_index() + 1) + ")");
  }
  auto begin = entries_.begin() + static_cast<std::ptrdiff_t>(lo - first_index());
  return std::vector<Entry>(begin, begin + static_cast<std::ptrdiff_t>(hi - lo));
}

void LogStorage::append_in_memory(const Entry& e) {
  // Raft §5.3: an entry that conflicts replaces it and everything after it.
  if (e.index <= last_index()) entries_.resize(e.index - base_index_ - 1);
  entries_.push_back(e);
}

bool LogStorage::apply_base(Index index, Term term) {
  // Raft §7: keep the entries after the snapshot only if the log agrees with
  // it at its last index; otherwise the snapshot replaces the whole log.
  auto t = this->term(index);
  bool keep = t && *t == term;
  if (keep) {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(index - base_index_));
  } else {
    entries_.clear();
  }
  base_index_ = index;
  base_term_ = term;
  return keep;
}

uint64_t LogStorage::size_on_disk() const {
  uint64_t total = snapshot_bytes_ + pending_.size();
  for (const auto& s : segments_) total += s.bytes;
  return total;
}

// ---------------------------------------------------------------- writing

util::Result<void> LogStorage::fail(std::string message) {
  failure_ = message;
  return util::make_error(std::move(message));
}

util::Result<void> LogStorage::check_writable() const {
  if (failed()) {
    return util::make_error("log storage in " + dir_ + " refuses writes after an earlier failure (" +
                            failure_ + "); restart the node to recover from what is on disk");
  }
  return {};
}

util::Result<void> LogStorage::append(const std::vector<Entry>& entries) {
  if (auto r = check_writable(); !r) return r;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != entries[0].index + i) {
      return util::make_error("append: entries are not contiguous (index " +
                              std::to_string(entries[i].index) + " after " +
                              std::to_string(entries[i - 1].index) + ")");
    }
    if (entries[i].data.size() > options_.max_entry_bytes) {
      return util::make_error("append: entry " + std::to_string(entries[i].index) + " has " +
                              std::to_string(entries[i].data.size()) + " bytes, over the limit of " +
                              std::to_string(options_.max_entry_bytes));
    }
  }
  // Skip entries a snapshot already covers: those at or below the base, and
  // those at or below the saved snapshot that the log has with the same term
  // (by Log Matching, §5.3, the same entry). From the first entry on, the log
  // mirrors the batch: whatever it held from that index on is replaced.
  size_t skip = 0;
  while (skip < entries.size() &&
         (entries[skip].index <= base_index_ ||
          (entries[skip].index <= snapshot_meta_.index && term(entries[skip].index) == entries[skip].term))) {
    ++skip;
  }
  if (skip == entries.size()) return {};
  Index first = entries[skip].index;
  if (first > last_index() + 1) {
    return util::make_error("append: entry " + std::to_string(first) + " would leave a gap after index " +
                            std::to_string(last_index()));
  }
  if (first <= snapshot_meta_.index) {
    // The snapshot holds applied, hence committed, entries: Raft never
    // replaces those, so this is a bug in the caller, not a conflict.
    return util::make_error("append: entry " + std::to_string(first) + " term " +
                            std::to_string(entries[skip].term) + " would replace a committed entry "
                            "covered by the snapshot at index " + std::to_string(snapshot_meta_.index));
  }
  if (first <= durable_index_) durable_index_ = first - 1;
  Index max_index = 0;
  for (size_t i = skip; i < entries.size(); ++i) {
    wal::append_record(pending_, RecordType::Entry, wal::encode_entry(entries[i]));
    append_in_memory(entries[i]);
    max_index = entries[i].index;
  }
  segments_.back().max_index = std::max(segments_.back().max_index, max_index);
  return {};
}

util::Result<void> LogStorage::set_hard_state(const HardState& hs) {
  if (auto r = check_writable(); !r) return r;
  if (hs == hard_state_) return {};
  wal::append_record(pending_, RecordType::HardState, wal::encode_hard_state(hs));
  hard_state_ = hs;
  return {};
}

util::Result<void> LogStorage::write() {
  if (auto r = check_writable(); !r) return r;
  if (pending_.empty()) return {};
  uint64_t before = active_->size();
  if (auto r = active_->append(pending_); !r) {
    // Take back the partial write so the file ends on a whole record again;
    // the batch stays buffered and a later sync() may retry it.
    if (auto t = active_->truncate(before); !t) {
      return fail(r.error().message + "; removing the partial write failed too: " + t.error().message);
    }
    return util::make_error(r.error().message + "; nothing of this batch is durable (" +
                            std::to_string(pending_.size()) + " bytes stay buffered)");
  }
  pending_.clear();
  segments_.back().bytes = active_->size();
  unsynced_ = true;
  return {};
}

util::Result<void> LogStorage::sync() {
  if (auto r = write(); !r) return r;
  if (unsynced_ && options_.fsync) {
    if (auto r = active_->sync(); !r) {
      // fsyncgate: after a failed fsync the kernel may have dropped the dirty
      // pages, so a retry that "succeeds" proves nothing. Stop here.
      return fail(r.error().message);
    }
  }
  if (unsynced_) ++batches_synced_;
  unsynced_ = false;
  durable_index_ = last_index();
  return maybe_roll();
}

util::Result<void> LogStorage::maybe_roll() {
  if (segments_.back().bytes < options_.segment_bytes) return {};
  if (auto r = start_segment(segments_.back().seq + 1); !r) {
    // A half-made segment after the active one would be replayed after it;
    // writing on into the old one could then reorder history. Stop.
    return fail(r.error().message);
  }
  return {};
}

util::Result<void> LogStorage::start_segment(uint64_t seq) {
  Segment seg{seq, last_index() + 1, last_index(), 0, wal::segment_name(seq, last_index() + 1)};
  std::string head;
  wal::append_record(head, RecordType::SegmentHeader,
                     wal::encode_segment_header({seq, last_index(), *term(last_index())}));
  wal::append_record(head, RecordType::HardState, wal::encode_hard_state(hard_state_));
  auto file = fs_->open_append(path(seg.name), true);
  if (!file) return file.error();
  if (auto r = (*file)->append(head); !r) return r;
  if (options_.fsync) {
    if (auto r = (*file)->sync(); !r) return r;
    if (auto r = fs_->sync_dir(dir_); !r) return r;
  }
  seg.bytes = (*file)->size();
  segments_.push_back(std::move(seg));
  active_ = std::move(*file);
  return {};
}

util::Result<void> LogStorage::compact(Index index, std::vector<Entry>* dropped) {
  if (auto r = check_writable(); !r) return r;
  if (index <= base_index_) return {};
  if (!pending_.empty() || unsynced_) {
    // A snapshot marker still in the buffer must not outlive the segments
    // that give it meaning: compact only a fully synced log.
    return util::make_error("compact(" + std::to_string(index) + "): the log has unsynced writes; call sync() first");
  }
  if (index > durable_index_) {
    return util::make_error("compact(" + std::to_string(index) + "): only durable entries can be "
                            "compacted, and the log is durable up to index " +
                            std::to_string(durable_index_) + "; call sync() first");
  }
  Term t = *term(index);
  const auto end = entries_.begin() + static_cast<std::ptrdiff_t>(index - base_index_);
  if (dropped) dropped->insert(dropped->end(), std::make_move_iterator(entries_.begin()), std::make_move_iterator(end));
  entries_.erase(entries_.begin(), end);
  base_index_ = index;
  base_term_ = t;

  // Whole segments only, oldest first, never the active one. The next
  // segment's header records where the log resumes, so no marker is needed.
  bool removed = false;
  while (segments_.size() > 1 && segments_.front().max_index <= index) {
    const std::string file = path(segments_.front().name);
    if (options_.remove_segment) {
      options_.remove_segment(file);
    } else if (auto r = fs_->remove(file); !r) {
      return r;
    }
    segments_.erase(segments_.begin());
    removed = !options_.remove_segment;
  }
  if (removed && options_.fsync) {
    if (auto r = fs_->sync_dir(dir_); !r) return r;
  }
  return {};
}

// ---------------------------------------------------------------- snapshots

util::Result<void> LogStorage::save_snapshot(const Snapshot& snapshot) {
  if (auto r = check_writable(); !r) return r;
  if (snapshot.meta.index < snapshot_meta_.index) {
    return util::make_error("save_snapshot: snapshot at index " + std::to_string(snapshot.meta.index) +
                            " is older than the saved one at index " +
                            std::to_string(snapshot_meta_.index));
  }
  auto written = write_snapshot_file(snapshot);
  if (!written) return written.error();
  return publish_snapshot_file(*written);
}

util::Result<LogStorage::WrittenSnapshot> LogStorage::write_snapshot_file(const Snapshot& snapshot) const {
  // Only the temp file: dir_, fs_ and options_ never change after open.
  const std::string name = wal::snapshot_name(snapshot.meta.index, snapshot.meta.term);
  const std::string tmp = path(name + ".tmp");
  std::string bytes = wal::encode_snapshot(snapshot);
  auto file = fs_->open_append(tmp, true);
  if (!file) return file.error();
  // Written and fsynced a few MiB at a time: one fsync of the whole file
  // (48 MB at 1,000,000 records) held the node's own log fsyncs behind it
  // for some 30 ms, the file system committing its data first.
  constexpr size_t kPieceBytes = 4u << 20;
  util::Result<void> r;
  for (size_t at = 0; r && (at < bytes.size() || at == 0); at += kPieceBytes) {
    r = (*file)->append(std::string_view(bytes).substr(at, kPieceBytes));
    if (r && options_.fsync) r = (*file)->sync();
  }
  if (!r) {
    (void)fs_->remove(tmp);  // best effort; open() removes leftovers anyway
    return r.error();
  }
  return WrittenSnapshot{snapshot.meta, tmp, bytes.size()};
}

util::Result<void> LogStorage::publish_snapshot_file(const WrittenSnapshot& written) {
  if (auto r = check_writable(); !r) {
    (void)fs_->remove(written.temp_path);
    return r;
  }
  if (written.meta.index < snapshot_meta_.index) {
    (void)fs_->remove(written.temp_path);
    return util::make_error("save_snapshot: snapshot at index " + std::to_string(written.meta.index) +
                            " is older than the saved one at index " +
                            std::to_string(snapshot_meta_.index));
  }
  const std::string name = wal::snapshot_name(written.meta.index, written.meta.term);
  // Until this rename the old snapshot is the one on disk; after it (and the
  // directory sync) the new one is, whole: there is no moment with neither.
  if (auto r = fs_->rename(written.temp_path, path(name)); !r) {
    (void)fs_->remove(written.temp_path);
    return r;
  }
  if (options_.fsync) {
    if (auto r = fs_->sync_dir(dir_); !r) return fail(r.error().message);
  }
  std::string old = snapshot_name_;
  snapshot_meta_ = written.meta;
  snapshot_name_ = name;
  snapshot_bytes_ = written.bytes;
  if (!old.empty() && old != name) {
    if (auto r = fs_->remove(path(old)); !r) return r;
  }
  return {};
}

util::Result<std::optional<Snapshot>> LogStorage::load_snapshot() const {
  if (snapshot_name_.empty()) return std::optional<Snapshot>();
  auto bytes = fs_->read_file(path(snapshot_name_));
  if (!bytes) return bytes.error();
  auto snap = wal::decode_snapshot(*bytes);
  if (!snap) return util::make_error(path(snapshot_name_) + ": corrupt snapshot: " + snap.error().message);
  return std::optional<Snapshot>(std::move(*snap));
}

util::Result<void> LogStorage::apply_snapshot(const SnapshotMeta& meta) {
  if (auto r = check_writable(); !r) return r;
  if (meta.index != snapshot_meta_.index || meta.term != snapshot_meta_.term) {
    return util::make_error("apply_snapshot: snapshot at index " + std::to_string(meta.index) +
                            " term " + std::to_string(meta.term) +
                            " is not the saved one; call save_snapshot() first");
  }
  if (meta.index <= base_index_) return {};
  segments_.back().max_index = std::max(segments_.back().max_index, meta.index);
  bool agrees = apply_base(meta.index, meta.term);
  wal::append_record(pending_, RecordType::LogBase, wal::encode_base({meta.index, meta.term, agrees}));
  // Everything up to meta.index is in the (durable) snapshot file; a crash
  // before the marker is synced ends in the same log (see recover()).
  durable_index_ = agrees ? std::max(durable_index_, meta.index) : meta.index;
  return {};
}

util::Result<void> LogStorage::install_snapshot(const Snapshot& snapshot) {
  if (auto r = save_snapshot(snapshot); !r) return r;
  return apply_snapshot(snapshot.meta);
}

}  // namespace raft
