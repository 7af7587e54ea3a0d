// The replicated change path: one io thread runs the Raft core, persists its
// output to the write-ahead log, talks to peers and applies committed
// changes to the store, which queries read without waiting on any of this.
#include "node/cluster.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "raft/core.h"
#include "raft/storage.h"

namespace node {
namespace {

using Clock = std::chrono::steady_clock;

// Raft node ids start at 1; config ids start at 0.
raft::NodeId raft_id(uint32_t config_id) { return static_cast<raft::NodeId>(config_id) + 1; }
uint32_t config_id(raft::NodeId id) { return static_cast<uint32_t>(id - 1); }

// How often a change that has not been applied yet is proposed again (a
// forwarded proposal may have been lost; apply deduplicates the copies).
constexpr auto kReproposeInterval = std::chrono::milliseconds(1000);

}  // namespace

class Cluster::Impl {
 public:
  Impl(ClusterOptions options, store::Store& store) : options_(std::move(options)), store_(store) {}
  ~Impl() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  util::Result<void> open();
  util::Result<void> start();
  void stop();
  void submit(store::Change change, std::function<void(SubmitResult)> done);
  void read_barrier(std::function<void(util::Result<void>)> done);
  nlohmann::json status();

 private:
  // A change waiting for its commit, keyed by (client id, sequence).
  struct Pending {
    store::Change change;
    std::string bytes;
    std::function<void(SubmitResult)> done;
    Clock::time_point deadline;
    Clock::time_point next_try;
    bool sent = false;           // ever appended or forwarded: outcome may be unknown
    raft::Term appended_term = 0;  // leader: term it was appended in (0 = forwarded or not yet)
  };
  using PendingKey = std::pair<uint64_t, uint64_t>;

  // A read barrier waiting for its ReadState, then for apply to reach it.
  struct PendingRead {
    std::function<void(util::Result<void>)> done;
    Clock::time_point deadline;
    Clock::time_point next_try;
    raft::Index read_index = 0;  // 0 until the leader confirmed it
  };
  void try_read_index(uint64_t id, PendingRead& r);
  void release_reads();

  void try_propose(Pending& p);
  void on_tick();
  void schedule_tick();
  void on_message(raft::Message m);
  void schedule_ready();
  void process_ready();
  void apply_committed(const std::vector<raft::Entry>& entries);
  void take_checkpoint();
  void maybe_compact();
  void fail_pending_past_deadline();
  void fatal_storage(const std::string& what, const util::Error& e);
  nlohmann::json status_on_io_thread() const;

  ClusterOptions options_;
  store::Store& store_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  std::unique_ptr<raft::LogStorage> storage_;
  std::unique_ptr<raft::Core> core_;
  std::unique_ptr<raft::Transport> transport_;
  std::thread io_thread_;
  bool ready_scheduled_ = false;
  bool storage_failed_ = false;
  std::atomic<bool> stopping_{false};

  std::map<PendingKey, Pending> pending_;
  std::map<uint64_t, PendingRead> pending_reads_;
  uint64_t next_read_id_ = 1;
  raft::Index applied_ = 0;
  raft::Index snapshot_index_ = 0;
  raft::Index compact_hint_ = 0;
  int lock_fd_ = -1;
};

util::Result<void> Cluster::Impl::open() {
  const std::string dir = options_.data_dir + "/raft";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return util::make_error("cannot create data directory " + dir + ": " + ec.message());
  // Two processes on one data directory would corrupt each other's log.
  const std::string lock_path = options_.data_dir + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return util::make_error("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return util::make_error("data directory " + options_.data_dir + " is in use by another dns-node process (" +
                            lock_path + " is locked)");
  }

  raft::StorageOptions so;
  so.fsync = options_.fsync;
  so.segment_bytes = options_.wal_segment_bytes;
  auto storage = raft::LogStorage::open(dir, so);
  if (!storage) return util::make_error(storage.error().message);
  storage_ = std::move(storage.value());
  for (const auto& w : storage_->recovery().warnings) spdlog::warn("log recovery: {}", w);

  raft::Restored restored;
  restored.hard_state = storage_->hard_state();
  auto snapshot = storage_->load_snapshot();
  if (!snapshot) return util::make_error(snapshot.error().message);
  if (snapshot.value()) {
    const raft::Snapshot& snap = *snapshot.value();
    if (auto r = store_.restore(snap.data); !r) {
      return util::make_error("checkpoint in " + dir + " (index " + std::to_string(snap.meta.index) +
                              "): " + r.error().message);
    }
    restored.snapshot = snap.meta;
    snapshot_index_ = snap.meta.index;
    applied_ = snap.meta.index;
    spdlog::info("loaded checkpoint at index {} ({} records)", snap.meta.index,
                 store_.snapshot()->record_count());
  }
  for (raft::Entry& e : storage_->all_entries()) {
    if (e.index > restored.snapshot.index) restored.entries.push_back(std::move(e));
  }
  restored.applied = restored.snapshot.index;

  raft::Config rc;
  rc.id = raft_id(options_.self);
  for (const auto& [id, addr] : options_.members) rc.initial_membership.voters.push_back(raft_id(id));
  rc.election_tick = static_cast<int>(options_.election_ticks);
  rc.heartbeat_tick = 1;
  rc.seed = (static_cast<uint64_t>(Clock::now().time_since_epoch().count()) << 8) ^ rc.id;
  rc.max_log_lag_entries = options_.prune_lag_entries;
  auto core = raft::Core::create(rc, std::move(restored));
  if (!core) return util::make_error("raft state in " + dir + ": " + core.error().message);
  core_ = std::move(core.value());
  if (snapshot.value()) {
    const raft::Snapshot& snap = *snapshot.value();
    (void)core_->set_snapshot(snap.meta, std::make_shared<const std::string>(snap.data));
    core_->report_checkpoint(snap.meta.index);
  }

  // Replay what the log says is committed, before serving: a restarted node
  // answers from its own data at once (DESIGN.md "Reads never need a quorum").
  while (core_->has_ready()) process_ready();
  spdlog::info("restored state: applied index {}, {} records", applied_, store_.snapshot()->record_count());
  return {};
}

util::Result<void> Cluster::Impl::start() {
  raft::Transport::PeerMap peers;
  for (const auto& [id, addr] : options_.members) {
    if (id != options_.self) peers[raft_id(id)] = addr;
  }
  raft::Transport::Options to;
  to.insecure = options_.insecure_peers;
  to.unreliable = options_.unreliable;
  transport_ = std::make_unique<raft::Transport>(io_, raft_id(options_.self), options_.members.at(options_.self),
                                                 peers, options_.secret, to);
  transport_->on_message([this](raft::Message m) { on_message(std::move(m)); });
  if (auto r = transport_->start(); !r) return r;

  // A cluster of one elects itself at once instead of waiting a timeout.
  if (core_->membership().voters.size() == 1 && core_->membership().voters[0] == core_->id()) {
    core_->campaign();
  }
  tick_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  schedule_tick();
  schedule_ready();
  io_thread_ = std::thread([this] { io_.run(); });
  return {};
}

void Cluster::Impl::stop() {
  if (!io_thread_.joinable()) return;
  // Hand leadership over first so that writes continue without waiting for
  // an election timeout (dissertation §3.10).
  std::promise<raft::NodeId> transfer;
  boost::asio::post(io_, [this, &transfer] {
    raft::NodeId target = raft::kNoNode;
    if (core_->role() == raft::Role::Leader) {
      raft::Index best = 0;
      for (const auto& p : core_->status().peers) {
        if (!p.learner && p.match > best) best = p.match, target = p.id;
      }
      if (target != raft::kNoNode && !core_->transfer_leadership(target)) target = raft::kNoNode;
      schedule_ready();
    }
    transfer.set_value(target);
  });
  if (transfer.get_future().get() != raft::kNoNode) {
    auto until = Clock::now() + std::chrono::milliseconds(options_.tick_ms * options_.election_ticks);
    while (Clock::now() < until) {
      std::promise<bool> still_leader;
      boost::asio::post(io_, [this, &still_leader] { still_leader.set_value(core_->role() == raft::Role::Leader); });
      if (!still_leader.get_future().get()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  boost::asio::post(io_, [this] {
    stopping_ = true;
    for (auto& [key, p] : pending_) p.done(util::make_error("shutting down: the change's outcome is unknown"));
    pending_.clear();
    for (auto& [id, r] : pending_reads_) r.done(util::make_error("shutting down"));
    pending_reads_.clear();
    if (tick_timer_) tick_timer_->cancel();
    transport_->stop();
    io_.stop();
  });
  io_thread_.join();
}

void Cluster::Impl::submit(store::Change change, std::function<void(SubmitResult)> done) {
  change.origin = options_.self;
  boost::asio::post(io_, [this, change = std::move(change), done = std::move(done)]() mutable {
    if (stopping_) {
      done(util::make_error("shutting down"));
      return;
    }
    if (storage_failed_) {
      done(util::make_error("this node's log storage failed (see its log); changes are refused"));
      return;
    }
    PendingKey key{change.client_id, change.sequence};
    Pending p;
    p.bytes = store::encode_change(change);
    p.change = std::move(change);
    p.done = std::move(done);
    p.deadline = Clock::now() + std::chrono::milliseconds(options_.propose_timeout_ms);
    if (pending_.count(key)) {
      p.done(util::make_error("a change with this client id and sequence is already pending"));
      return;
    }
    auto it = pending_.emplace(key, std::move(p)).first;
    try_propose(it->second);
    schedule_ready();
  });
}

void Cluster::Impl::read_barrier(std::function<void(util::Result<void>)> done) {
  boost::asio::post(io_, [this, done = std::move(done)]() mutable {
    if (stopping_) return done(util::make_error("shutting down"));
    uint64_t id = next_read_id_++;
    PendingRead r;
    r.done = std::move(done);
    r.deadline = Clock::now() + std::chrono::milliseconds(options_.propose_timeout_ms);
    try_read_index(id, pending_reads_.emplace(id, std::move(r)).first->second);
    schedule_ready();
  });
}

void Cluster::Impl::try_read_index(uint64_t id, PendingRead& r) {
  // The context names the request; a lost request is asked again later.
  r.next_try = Clock::now() + kReproposeInterval;
  (void)core_->read_index(std::to_string(id));
}

void Cluster::Impl::release_reads() {
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (it->second.read_index != 0 && applied_ >= it->second.read_index) {
      it->second.done({});
      it = pending_reads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Cluster::Impl::try_propose(Pending& p) {
  auto r = core_->propose_or_forward(p.bytes);
  p.next_try = Clock::now() + kReproposeInterval;
  if (!r) return;  // no leader known yet: wait for one until the deadline
  p.sent = true;
  p.appended_term = r->kind == raft::Proposed::Kind::Appended ? r->term : 0;
}

void Cluster::Impl::schedule_tick() {
  tick_timer_->expires_after(std::chrono::milliseconds(options_.tick_ms));
  tick_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    on_tick();
    schedule_tick();
  });
}

void Cluster::Impl::on_tick() {
  core_->tick();
  auto now = Clock::now();
  for (auto& [key, p] : pending_) {
    // A leader's own appended entry needs no second copy unless its term passed.
    bool appended_here = p.appended_term != 0 && p.appended_term == core_->term() &&
                         core_->role() == raft::Role::Leader;
    if (!appended_here && now >= p.next_try) try_propose(p);
  }
  for (auto& [id, r] : pending_reads_) {
    if (r.read_index == 0 && now >= r.next_try) try_read_index(id, r);
  }
  fail_pending_past_deadline();
  schedule_ready();
}

void Cluster::Impl::fail_pending_past_deadline() {
  auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    const auto ms = std::to_string(options_.propose_timeout_ms);
    if (it->second.sent) {
      it->second.done(util::make_error("timeout: the change reached a leader but was not committed within " + ms +
                                       " ms; its outcome is unknown (retrying is safe)"));
    } else {
      it->second.done(util::make_error("no quorum: no leader reachable within " + ms +
                                       " ms; the change was not applied"));
    }
    it = pending_.erase(it);
  }
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    it->second.done(util::make_error(core_->leader() == raft::kNoNode
                                         ? "no quorum: no leader reachable for a consistent read"
                                         : "timeout: the leader did not confirm a consistent read in time"));
    it = pending_reads_.erase(it);
  }
}

void Cluster::Impl::on_message(raft::Message m) {
  if (stopping_) return;
  core_->step(m);
  schedule_ready();
}

void Cluster::Impl::schedule_ready() {
  // Coalesce: everything that arrives before the io thread gets here shares
  // one Ready, hence one fsync (group commit).
  if (ready_scheduled_) return;
  ready_scheduled_ = true;
  boost::asio::post(io_, [this] {
    ready_scheduled_ = false;
    if (stopping_) return;
    while (core_->has_ready()) process_ready();
  });
}

void Cluster::Impl::fatal_storage(const std::string& what, const util::Error& e) {
  // The disk state is unknown: stop taking part rather than acknowledge
  // something that may not be durable. Queries keep being answered.
  spdlog::critical("{}: {}; this node stops replicating and refuses changes until restarted", what, e.message);
  storage_failed_ = true;
  stopping_ = true;
  if (tick_timer_) tick_timer_->cancel();
  if (transport_) transport_->stop();
  for (auto& [key, p] : pending_) p.done(util::make_error("log storage failed: " + e.message));
  pending_.clear();
}

void Cluster::Impl::process_ready() {
  raft::Ready rd = core_->ready();

  // 1. A snapshot from the leader replaces the state machine.
  if (rd.snapshot) {
    if (auto r = storage_->install_snapshot(*rd.snapshot); !r) return fatal_storage("installing a snapshot", r.error());
    if (auto r = store_.restore(rd.snapshot->data); !r) {
      return fatal_storage("loading the snapshot from the leader", r.error());
    }
    applied_ = rd.snapshot->meta.index;
    snapshot_index_ = rd.snapshot->meta.index;
    spdlog::info("installed snapshot at index {} from the leader", applied_);
  }
  // 2. Entries and hard state durable before any message leaves (Raft §5.2, §5.3).
  if (!rd.entries.empty()) {
    if (auto r = storage_->append(rd.entries); !r) return fatal_storage("appending to the log", r.error());
  }
  if (rd.hard_state) {
    if (auto r = storage_->set_hard_state(*rd.hard_state); !r) return fatal_storage("saving term and vote", r.error());
  }
  if (rd.must_sync()) {
    if (auto r = storage_->sync(); !r) return fatal_storage("syncing the log", r.error());
  }
  // 3. Messages.
  if (transport_) {
    for (auto& m : rd.messages) transport_->send(std::move(m));
  }
  // 4. Apply.
  apply_committed(rd.committed_entries);
  if (rd.snapshot) core_->report_checkpoint(snapshot_index_);
  for (const raft::ReadState& rs : rd.read_states) {
    uint64_t id = std::strtoull(rs.context.c_str(), nullptr, 10);
    if (auto it = pending_reads_.find(id); it != pending_reads_.end()) it->second.read_index = std::max<raft::Index>(rs.index, 1);
  }
  release_reads();
  core_->advance();
  // 5. Checkpoint and prune, once the core counts this batch as applied.
  if (rd.compact_hint) compact_hint_ = *rd.compact_hint;
  if (rd.need_snapshot || applied_ >= snapshot_index_ + options_.checkpoint_every_entries) take_checkpoint();
  maybe_compact();
}

void Cluster::Impl::apply_committed(const std::vector<raft::Entry>& entries) {
  if (entries.empty()) return;
  std::vector<std::pair<store::Change, uint64_t>> batch;
  batch.reserve(entries.size());
  for (const raft::Entry& e : entries) {
    if (e.type != raft::EntryType::Normal) continue;
    auto change = store::decode_change(e.data);
    if (!change) {
      // Every node decodes the same bytes the same way, so skipping keeps
      // the replicas identical; it means a newer writer, worth shouting about.
      spdlog::error("log entry {} is not a change this version understands: {}", e.index, change.error().message);
      continue;
    }
    batch.emplace_back(std::move(change.value()), e.index);
  }
  std::vector<store::ApplyResult> results = store_.apply_batch(batch);
  applied_ = entries.back().index;
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::Change& c = batch[i].first;
    if (c.origin != options_.self) continue;
    auto it = pending_.find({c.client_id, c.sequence});
    if (it == pending_.end()) continue;
    it->second.done(std::move(results[i]));
    pending_.erase(it);
  }
}

void Cluster::Impl::take_checkpoint() {
  if (applied_ == 0 || applied_ <= snapshot_index_) return;
  auto meta = core_->snapshot_meta_for(applied_);
  if (!meta) {
    spdlog::warn("checkpoint at {} skipped: {}", applied_, meta.error().message);
    return;
  }
  auto data = std::make_shared<const std::string>(store_.serialize());
  if (auto r = storage_->save_snapshot(raft::Snapshot{meta.value(), *data}); !r) {
    // Disk full or similar: keep the log (nothing is lost), try again later.
    spdlog::error("checkpoint at index {} failed: {}", applied_, r.error().message);
    return;
  }
  if (auto r = core_->set_snapshot(meta.value(), data); !r) {
    spdlog::warn("checkpoint at {} not registered: {}", applied_, r.error().message);
  }
  snapshot_index_ = applied_;
  core_->report_checkpoint(snapshot_index_);
  spdlog::debug("checkpoint at index {}", snapshot_index_);
}

void Cluster::Impl::maybe_compact() {
  raft::Index target = std::min(compact_hint_, snapshot_index_);
  if (target < core_->first_index() && target < storage_->first_index()) return;
  if (auto r = storage_->compact(target); !r) {
    spdlog::error("log compaction to {} failed: {}", target, r.error().message);
    return;
  }
  if (auto r = core_->compact(target); !r) spdlog::warn("core compaction to {} refused: {}", target, r.error().message);
}

nlohmann::json Cluster::Impl::status_on_io_thread() const {
  raft::Status s = core_->status();
  nlohmann::json j;
  j["node"] = std::to_string(options_.self);
  j["role"] = raft::role_name(s.role);
  j["term"] = s.term;
  j["leader"] = s.leader == raft::kNoNode ? nlohmann::json(nullptr) : nlohmann::json(std::to_string(config_id(s.leader)));
  j["commit_index"] = s.commit;
  j["applied_index"] = applied_;
  j["log_first_index"] = storage_->first_index();
  j["log_last_index"] = storage_->last_index();
  j["log_bytes"] = storage_->size_on_disk();
  j["checkpoint_index"] = snapshot_index_;
  j["records"] = store_.snapshot()->record_count();
  j["storage_failed"] = storage_failed_;
  nlohmann::json voters = nlohmann::json::array();
  for (auto v : s.membership.voters) voters.push_back(std::to_string(config_id(v)));
  j["voters"] = voters;
  nlohmann::json peers = nlohmann::json::object();
  for (const auto& [id, addr] : options_.members) {
    if (id == options_.self) continue;
    nlohmann::json p;
    p["connected"] = transport_ ? transport_->connected(raft_id(id)) : false;
    p["match_index"] = nullptr;
    for (const auto& ps : s.peers) {
      if (ps.id == raft_id(id)) {
        p["match_index"] = ps.match;
        p["applied_index"] = ps.applied;
      }
    }
    peers[std::to_string(id)] = p;
  }
  j["peers"] = peers;
  if (transport_) {
    auto ts = transport_->stats();
    j["peer_auth_failures"] = ts.auth_failures;
    j["peer_decode_failures"] = ts.decode_failures;
  }
  return j;
}

nlohmann::json Cluster::Impl::status() {
  if (!io_thread_.joinable() || stopping_) return status_on_io_thread();
  std::promise<nlohmann::json> result;
  auto future = result.get_future();
  boost::asio::post(io_, [this, &result] { result.set_value(status_on_io_thread()); });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    return nlohmann::json{{"node", std::to_string(options_.self)}, {"error", "raft thread busy"}};
  }
  return future.get();
}

util::Result<std::unique_ptr<Cluster>> Cluster::open(ClusterOptions options, store::Store& store) {
  if (!options.members.count(options.self)) {
    return util::make_error("node " + std::to_string(options.self) + " is not a member of the cluster");
  }
  auto impl = std::make_unique<Impl>(std::move(options), store);
  if (auto r = impl->open(); !r) return r.error();
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() { stop(); }
util::Result<void> Cluster::start() { return impl_->start(); }
void Cluster::stop() { impl_->stop(); }
void Cluster::submit(store::Change change, std::function<void(SubmitResult)> done) {
  impl_->submit(std::move(change), std::move(done));
}
void Cluster::read_barrier(std::function<void(util::Result<void>)> done) { impl_->read_barrier(std::move(done)); }
nlohmann::json Cluster::status() { return impl_->status(); }

}  // namespace node
