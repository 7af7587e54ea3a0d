// The difference between a node's zone files and what it last loaded.
#include "node/zone_seed.h"

#include <malloc.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "node/progress_log.h"
#include "store/session.h"
#include "util/file.h"

namespace node {
namespace {

/// Owner (lowercased wire form), type and rdata: what makes two records the
/// same record. The owner's wire form is length-prefixed, so the
/// concatenation is unambiguous.
std::string record_key(const dns::RR& rr) {
  std::string key = rr.owner.lowercased().wire();
  key.push_back(static_cast<char>(rr.type >> 8));
  key.push_back(static_cast<char>(rr.type & 0xFF));
  key += rr.rdata;
  return key;
}

std::string describe(const store::Op& op) {
  return std::string(op.kind == store::OpKind::Add ? "adding " : "removing ") + op.rr.owner.to_text() + " " +
         dns::type_to_text(op.rr.type) + " " + dns::rdata_to_text(op.rr.type, op.rr.rdata);
}

void sleep_unless_stopping(const std::atomic<bool>& stopping, int ms) {
  for (int waited = 0; waited < ms && !stopping; waited += 50) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

/// The difference as positions: records of the last state to remove, then
/// records of the files to add, each list in its input's order. Positions
/// rather than copies, so that a large zone is not held twice while its
/// changes are built.
struct SeedDiff {
  std::vector<size_t> removes;  // into last_loaded
  std::vector<size_t> adds;     // into the files' records
};

template <class Files, class RecordOf>
SeedDiff diff_positions(const std::vector<dns::RR>& last_loaded, const Files& files, RecordOf record_of) {
  SeedDiff diff;
  if (last_loaded.empty()) {  // first load: everything is new, no index needed
    diff.adds.resize(files.size());
    std::iota(diff.adds.begin(), diff.adds.end(), size_t{0});
    return diff;
  }
  struct Old {
    uint32_t ttl = 0;        // of the last occurrence in last_loaded
    bool in_files = false;
  };
  std::unordered_map<std::string, Old> old;
  old.reserve(last_loaded.size());
  std::vector<Old*> slot_of(last_loaded.size());
  for (size_t i = 0; i < last_loaded.size(); ++i) {
    Old& o = old[record_key(last_loaded[i])];
    o.ttl = last_loaded[i].ttl;
    slot_of[i] = &o;  // unordered_map values do not move on rehash
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const dns::RR& rr = record_of(files[i]);
    auto it = old.find(record_key(rr));
    if (it == old.end()) {
      diff.adds.push_back(i);
      continue;
    }
    it->second.in_files = true;
    if (it->second.ttl != rr.ttl) diff.adds.push_back(i);
  }
  for (size_t i = 0; i < last_loaded.size(); ++i) {
    if (!slot_of[i]->in_files) diff.removes.push_back(i);
  }
  return diff;
}

/// Submits `change`, already stamped by its session, until it is committed.
/// Each try keeps the stamp: if an earlier try did commit, the store answers
/// the retry with that try's outcome instead of applying the change twice.
std::optional<store::ApplyResult> submit_until_committed(ChangeSubmitter& submitter, const store::Change& change,
                                                         const std::atomic<bool>& stopping) {
  while (!stopping) {
    SubmitResult result = submit_and_wait(submitter, change);
    if (result) return std::move(result.value());
    spdlog::warn("zone file changes not committed yet ({}); retrying", result.error().message);
    sleep_unless_stopping(stopping, 1000);
  }
  return std::nullopt;
}

/// Proposes ops one change of at most `chunk_ops` at a time, in order, and
/// sorts out what the store refused: records whose zone does not exist yet
/// wait (their SOA may be in another node's file), the rest are refused.
class Proposer {
 public:
  Proposer(ChangeSubmitter& submitter, const store::Store& store, const std::atomic<bool>& stopping,
           size_t chunk_ops, size_t chunk_bytes, std::chrono::steady_clock::time_point zone_deadline)
      : submitter_(submitter), store_(store), stopping_(stopping), chunk_ops_(std::max<size_t>(1, chunk_ops)),
        chunk_bytes_(std::max<size_t>(1, chunk_bytes)), zone_deadline_(zone_deadline),
        session_(store::ClientSession::open()) {}

  /// Adds an op to the change being built; proposes it once full (by ops
  /// or by bytes: a log entry has a size limit). False when stopping.
  bool add(store::Op op) {
    change_bytes_ += op.rr.owner.wire_length() + op.rr.rdata.size() + kOpOverhead;
    change_.ops.push_back(std::move(op));
    return (change_.ops.size() < chunk_ops_ && change_bytes_ < chunk_bytes_) || flush();
  }

  /// Proposes what has been added and not proposed yet. False when stopping.
  bool flush() {
    if (change_.ops.empty()) return !stopping_;
    // One chunk at a time, each waited for: one session (store/session.h).
    session_.stamp(change_, store_);
    auto result = submit_until_committed(submitter_, change_, stopping_);
    while (result && result->expired) {
      // Apply forgot the session (after tries of unknown outcome, one of
      // which may have been applied: adds and removes are idempotent).
      session_ = store::ClientSession::open();
      session_.stamp(change_, store_);
      result = submit_until_committed(submitter_, change_, stopping_);
    }
    if (!result) return false;  // stopping: the next start proposes the same difference
    for (size_t i = 0; i < change_.ops.size(); ++i) {
      if (i >= result->op_errors.size() || result->op_errors[i].empty()) continue;
      store::Op& op = change_.ops[i];
      bool zone_missing = op.kind == store::OpKind::Add && !store_.snapshot()->find_zone(op.rr.owner);
      if (zone_missing && std::chrono::steady_clock::now() < zone_deadline_) {
        waiting_for_zone_.push_back(std::move(op));
      } else {
        refused_.emplace_back(std::move(op), result->op_errors[i]);
      }
    }
    change_.ops.clear();
    change_bytes_ = 0;
    return true;
  }

  /// Proposes again, as their zones appear, the records that were waiting
  /// for one, until none waits or the deadline passes. False when stopping.
  bool settle_waiting() {
    while (!waiting_for_zone_.empty() && !stopping_ && std::chrono::steady_clock::now() < zone_deadline_) {
      sleep_unless_stopping(stopping_, 200);
      std::vector<store::Op> still;
      std::vector<store::Op> ready;
      for (auto& op : waiting_for_zone_) {
        (store_.snapshot()->find_zone(op.rr.owner) ? ready : still).push_back(std::move(op));
      }
      waiting_for_zone_ = std::move(still);
      for (auto& op : ready) {
        if (!add(std::move(op))) return false;
      }
      if (!flush()) return false;
    }
    if (stopping_) return false;
    for (auto& op : waiting_for_zone_) {
      std::string reason = "no zone for " + op.rr.owner.to_text();
      refused_.emplace_back(std::move(op), std::move(reason));
    }
    waiting_for_zone_.clear();
    return true;
  }

  const std::vector<std::pair<store::Op, std::string>>& refused() const { return refused_; }

 private:
  ChangeSubmitter& submitter_;
  const store::Store& store_;
  const std::atomic<bool>& stopping_;
  /// An op's encoding beyond its owner and rdata (kind, type, class, TTL, lengths), about.
  static constexpr size_t kOpOverhead = 16;
  const size_t chunk_ops_;
  const size_t chunk_bytes_;
  size_t change_bytes_ = 0;  // of the change being built, about
  const std::chrono::steady_clock::time_point zone_deadline_;
  store::ClientSession session_;
  store::Change change_;
  std::vector<store::Op> waiting_for_zone_;
  std::vector<std::pair<store::Op, std::string>> refused_;
};

/// Writes the seed state: the records as a change of Add ops (the change
/// encoding, as load_seed_state reads it).
util::Result<void> save_state_ops(const std::string& path, std::vector<store::Op> ops) {
  store::Change state;
  state.ops = std::move(ops);
  return util::write_file_atomically(path, store::encode_change(state));
}

/// The file beside the seed state that holds the fingerprint of the files
/// the state was written from.
std::string fingerprint_path(const std::string& state_path) { return state_path + ".sha256"; }

/// Whether master-file text holds a $INCLUDE directive (any case).
bool has_include(std::string_view text) {
  static constexpr std::string_view kDirective = "$include";
  for (size_t at = text.find('$'); at != std::string_view::npos; at = text.find('$', at + 1)) {
    if (text.size() - at >= kDirective.size() && ::strncasecmp(text.data() + at, kDirective.data(), kDirective.size()) == 0) {
      return true;
    }
  }
  return false;
}

/// Hands the heap that loading freed back to the kernel: glibc keeps freed
/// memory for reuse, and the peak of a large load is far above what serving
/// needs.
void release_free_memory() { ::malloc_trim(0); }

}  // namespace

std::optional<std::string> zone_files_fingerprint(const std::vector<std::string>& paths) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return std::nullopt;
  auto put = [&](std::string_view bytes) { EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()); };
  for (const std::string& path : paths) {
    auto bytes = util::read_file(path);
    if (!bytes || has_include(bytes.value())) return std::nullopt;
    const std::string sizes = std::to_string(path.size()) + ":" + std::to_string(bytes->size()) + ":";
    put(sizes);
    put(path);
    put(bytes.value());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return std::nullopt;
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

bool zone_files_unchanged(const std::string& state_path, const std::string& fingerprint) {
  if (!std::filesystem::exists(state_path)) return false;
  auto saved = util::read_file(fingerprint_path(state_path));
  return saved && saved.value() == fingerprint + "\n";
}

std::vector<store::Op> zone_seed_diff(const std::vector<dns::RR>& last_loaded,
                                      const std::vector<dns::RR>& in_files) {
  SeedDiff diff = diff_positions(last_loaded, in_files, [](const dns::RR& rr) -> const dns::RR& { return rr; });
  std::vector<store::Op> ops;
  ops.reserve(diff.removes.size() + diff.adds.size());
  for (size_t i : diff.removes) ops.push_back({store::OpKind::Remove, last_loaded[i]});
  for (size_t i : diff.adds) ops.push_back({store::OpKind::Add, in_files[i]});
  return ops;
}

void seed_from_zone_files(ChangeSubmitter& submitter, const store::Store& store, const std::string& state_path,
                          ZoneLoad load, const std::atomic<bool>& stopping, int zone_wait_ms, size_t chunk_ops,
                          size_t chunk_bytes) {
  auto last = load_seed_state(state_path);
  if (!last) {
    spdlog::error("{}; proposing every zone file record again", last.error().message);
    last = std::vector<dns::RR>{};
  }
  // The files' records, in load order (SOAs first); they become the saved state.
  std::vector<store::Op>& files = load.change.ops;
  const size_t skipped = load.warnings.size();
  const std::optional<std::string> fingerprint = std::move(load.fingerprint);
  // Saved only beside a state that holds every record of clean files: a
  // skipped line or a refused record must be reported again next start.
  auto save_fingerprint = [&](bool clean) {
    if (!fingerprint || !clean) return;
    if (auto saved = util::write_file_atomically(fingerprint_path(state_path), *fingerprint + "\n"); !saved) {
      spdlog::warn("{}", saved.error().message);
    }
  };
  SeedDiff diff = diff_positions(*last, files, [](const store::Op& op) -> const dns::RR& { return op.rr; });
  const size_t proposed = diff.removes.size() + diff.adds.size();
  if (proposed == 0) {
    spdlog::info("zone files unchanged since last loaded ({} records)", files.size());
    save_fingerprint(skipped == 0);
    load = ZoneLoad{};
    last = std::vector<dns::RR>{};
    release_free_memory();
    return;
  }
  // The state to save once committed, encoded now so that the records can
  // move into the changes instead of being copied (the files' records are
  // already Add ops, the state's encoding).
  std::string state_bytes = store::encode_change(load.change);
  // The old fingerprint goes before anything is proposed: a state written
  // later, then a crash, must not pair with it.
  std::error_code gone;
  std::filesystem::remove(fingerprint_path(state_path), gone);
  spdlog::info("zone files: proposing {} removals and {} additions", diff.removes.size(), diff.adds.size());
  const auto started = std::chrono::steady_clock::now();
  std::optional<ProgressTicker> ticker(std::in_place, "committing the zone files' changes");
  Proposer proposer(submitter, store, stopping, chunk_ops, chunk_bytes,
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(zone_wait_ms));
  // Removes before adds, so that a name turning from A into a CNAME loses
  // its A records first.
  for (size_t i : diff.removes) {
    if (!proposer.add({store::OpKind::Remove, std::move((*last)[i])})) return;
  }
  last = std::vector<dns::RR>{};
  for (size_t i : diff.adds) {
    if (!proposer.add(std::move(files[i]))) return;
  }
  diff = SeedDiff{};
  load = ZoneLoad{};
  if (!proposer.flush() || !proposer.settle_waiting()) return;
  ticker.reset();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::unordered_set<std::string> refused_adds;
  for (const auto& [op, reason] : proposer.refused()) {
    spdlog::warn("zone files: rejected {}: {}", describe(op), reason);
    if (op.kind == store::OpKind::Add) refused_adds.insert(record_key(op.rr));
  }
  // A refused record stays out of the state, so the next start reports it again.
  if (!refused_adds.empty()) {
    auto state = store::decode_change(state_bytes);
    if (state) {
      std::erase_if(state->ops, [&](const store::Op& op) { return refused_adds.count(record_key(op.rr)) != 0; });
      state_bytes = store::encode_change(*state);
    }
  }
  const size_t refused = proposer.refused().size();
  if (auto saved = util::write_file_atomically(state_path, state_bytes); !saved) {
    spdlog::error("{}", saved.error().message);
  } else {
    save_fingerprint(skipped == 0 && refused == 0);
  }
  spdlog::info("zone files: {} changes committed, {} rejected, {} lines skipped, in {:.2f} s ({})", proposed - refused,
               refused, skipped, seconds, rate_text(proposed, seconds, "records"));
  std::string().swap(state_bytes);
  release_free_memory();
}

util::Result<std::vector<dns::RR>> load_seed_state(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::vector<dns::RR>{};
  auto bytes = util::read_file(path);
  if (!bytes) return bytes.error();
  auto change = store::decode_change(bytes.value());
  if (!change) return util::make_error(path + ": " + change.error().message);
  std::string().swap(bytes.value());  // the decoded copy is enough
  std::vector<dns::RR> records;
  records.reserve(change->ops.size());
  for (auto& op : change->ops) records.push_back(std::move(op.rr));
  return records;
}

util::Result<void> save_seed_state(const std::string& path, const std::vector<dns::RR>& records) {
  std::vector<store::Op> ops;
  ops.reserve(records.size());
  for (const auto& rr : records) ops.push_back({store::OpKind::Add, rr});
  return save_state_ops(path, std::move(ops));
}

}  // namespace node
