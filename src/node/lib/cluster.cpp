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
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "raft/core.h"
#include "raft/storage.h"
#include "util/file.h"

namespace node {
namespace {

using Clock = std::chrono::steady_clock;

// Raft node ids start at 1; config ids start at 0.
raft::NodeId raft_id(uint32_t config_id) { return static_cast<raft::NodeId>(config_id) + 1; }
uint32_t config_id(raft::NodeId id) { return static_cast<uint32_t>(id - 1); }

// How often a change that has not been applied yet is proposed again (a
// forwarded proposal may have been lost; apply deduplicates the copies).
constexpr auto kReproposeInterval = std::chrono::milliseconds(1000);

// Transport id under which a joining node keeps the --join address until it
// learns the members' real ids.
constexpr raft::NodeId kJoinPeer = ~raft::NodeId{0};

// A learner is promoted once it is this close to the leader's last index.
constexpr raft::Index kPromoteLag = 20;

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
  void change_members(MemberOp op, std::function<void(SubmitResult)> done);
  nlohmann::json members();
  nlohmann::json status();

 private:
  // A change waiting for its commit, keyed by (client id, sequence).
  struct Pending {
    std::string bytes;  // the log entry: an encoded store::Change or MemberOp
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

  // Membership.
  void enqueue(std::pair<uint64_t, uint64_t> key, std::string bytes, std::function<void(SubmitResult)> done);
  util::Result<void> create_core(const std::vector<raft::NodeId>& voters);
  raft::Transport::PeerMap peer_map() const;
  void reconcile_membership();
  void propose_data_marks(const MemberMap& known);
  bool membership_settled() const;
  void handle_join_request(const raft::Message& m);
  void handle_join_response(const raft::Message& m);
  util::Result<void> record_bootstrap();
  util::Result<void> adopt_heard_term();
  /// Ends the fresh-start probe: creates the core, or stops the process.
  void finish_fresh_start(util::Result<void> verdict);
  std::string bootstrap_path() const { return options_.data_dir + "/cluster-bootstrap.json"; }
  nlohmann::json members_on_io_thread() const;

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
  // Keeps io_.run() going even when no socket or timer is left (after a
  // storage failure the node still answers every request with its error).
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
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
  raft::Index checkpoint_failed_at_ = 0;
  Clock::time_point next_checkpoint_at_{};  // spacing of checkpoints in time (process_ready)
  int lock_fd_ = -1;

  MemberMap members_;                          // replicated: the committed member list
  MemberMap learned_members_;                  // a joining node: what a member told it
  std::vector<raft::NodeId> bootstrap_voters_;  // the cluster's first voters (Raft's initial membership)
  raft::Restored restored_;                    // kept until the core exists (a joining node waits)
  uint64_t ticks_ = 0;
  bool removed_ = false;
  // A fresh node of a multi-node cluster asks its peers before it votes.
  bool probing_ = false;
  uint64_t probe_started_tick_ = 0;
  std::set<raft::NodeId> probe_answers_;
  raft::Term heard_term_ = 0;  // a fresh node: the newest term a member reported
  DataMarks data_marks_;                 // leader: holds-data marks of this term
  raft::Term bootstrap_proposed_term_ = 0;  // leader: term the first member list was proposed in
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
    auto state = decode_cluster_state(snap.data);
    if (!state) return util::make_error("checkpoint in " + dir + ": " + state.error().message);
    if (auto r = store_.restore(state->second); !r) {
      return util::make_error("checkpoint in " + dir + " (index " + std::to_string(snap.meta.index) +
                              "): " + r.error().message);
    }
    members_ = state->first;
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
  restored_ = std::move(restored);

  // Raft's initial membership must be the same on every node, for ever
  // (including nodes added later), so it is recorded at the first start:
  // from the config file, or from the member a joining node asked.
  if (std::filesystem::exists(bootstrap_path())) {
    auto text = util::read_file(bootstrap_path());
    if (!text) return text.error();
    auto j = nlohmann::json::parse(text.value(), nullptr, false);
    if (j.is_discarded() || !j.contains("voters") || !j["voters"].is_array()) {
      return util::make_error(bootstrap_path() + " is corrupt");
    }
    for (const auto& v : j["voters"]) bootstrap_voters_.push_back(v.get<raft::NodeId>());
  } else if (options_.join.empty()) {
    bool fresh = restored_.hard_state.term == 0 && restored_.entries.empty() && restored_.snapshot.index == 0;
    if (!fresh) return util::make_error(bootstrap_path() + " is missing but " + dir + " holds a log");
    for (const auto& [id, info] : options_.members) bootstrap_voters_.push_back(raft_id(id));
    if (options_.members.size() > 1) {
      // An empty data directory is either a new cluster or lost data; ask
      // the peers before voting (finish_fresh_start()).
      probing_ = true;
      spdlog::info("empty data directory: asking the other members whether this node held data before");
      return {};
    }
    if (auto r = record_bootstrap(); !r) return r;
  }
  if (!bootstrap_voters_.empty()) {
    if (auto r = create_core(bootstrap_voters_); !r) return r;
  } else {
    spdlog::info("joining through {}: waiting for a member to answer", options_.join);
  }
  return {};
}

util::Result<void> Cluster::Impl::record_bootstrap() {
  return util::write_file_atomically(bootstrap_path(), nlohmann::json{{"voters", bootstrap_voters_}}.dump());
}

void Cluster::Impl::finish_fresh_start(util::Result<void> verdict) {
  probing_ = false;
  if (verdict) {
    if (auto r = record_bootstrap(); !r) {
      verdict = util::make_error("cannot record the cluster's first members: " + r.error().message);
    } else if (auto c = create_core(bootstrap_voters_); !c) {
      verdict = c;
    }
  }
  if (!verdict) {
    // Taking part now could lose acknowledged changes; stopping is the safe answer.
    spdlog::critical("{}", verdict.error().message);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
  spdlog::info("the other members confirm a new cluster: taking part");
  schedule_ready();
}

util::Result<void> Cluster::Impl::create_core(const std::vector<raft::NodeId>& voters) {
  raft::Config rc;
  rc.id = raft_id(options_.self);
  rc.initial_membership.voters = voters;
  rc.election_tick = static_cast<int>(options_.election_ticks);
  rc.heartbeat_tick = 1;
  rc.seed = (static_cast<uint64_t>(Clock::now().time_since_epoch().count()) << 8) ^ rc.id;
  rc.max_log_lag_entries = options_.prune_lag_entries;
  if (auto r = adopt_heard_term(); !r) return r;
  auto core = raft::Core::create(rc, std::move(restored_));
  if (!core) return util::make_error("raft state in " + options_.data_dir + "/raft: " + core.error().message);
  core_ = std::move(core.value());
  core_->set_commit_floor(
      [this](raft::NodeId voter) { return data_marks_.commit_floor(config_id(voter), core_->term(), members_); });
  if (snapshot_index_ > 0) {
    auto snap = storage_->load_snapshot();
    if (snap && snap.value()) {
      (void)core_->set_snapshot((*snap.value()).meta, std::make_shared<const std::string>((*snap.value()).data));
      core_->report_checkpoint(snapshot_index_);
    }
  }
  // Replay what the log says is committed, before serving: a restarted node
  // answers from its own data at once (DESIGN.md "Reads never need a quorum").
  while (!storage_failed_ && core_->has_ready()) process_ready();
  spdlog::info("restored state: applied index {}, {} records", applied_, store_.snapshot()->record_count());
  return {};
}

util::Result<void> Cluster::Impl::adopt_heard_term() {
  // A node that starts with no Raft state may have voted before it lost its
  // data (§5.2: at most one vote per term). It starts in the newest term its
  // peers report, counted as already voted in, so it cannot vote twice in a
  // term that may have elected a leader with its lost vote.
  if (heard_term_ == 0 || restored_.hard_state.term != 0 || !restored_.entries.empty() ||
      restored_.snapshot.index != 0) {
    return {};
  }
  restored_.hard_state.term = heard_term_;
  restored_.hard_state.vote = raft_id(options_.self);
  if (auto r = storage_->set_hard_state(restored_.hard_state); !r) return r;
  return storage_->sync();
}

raft::Transport::PeerMap Cluster::Impl::peer_map() const {
  const MemberMap& source = !members_.empty() ? members_ : !learned_members_.empty() ? learned_members_ : options_.members;
  raft::Transport::PeerMap peers;
  for (const auto& [id, info] : source) {
    if (id != options_.self) peers[raft_id(id)] = info.raft_loc;
  }
  if (!core_ && !options_.join.empty()) peers[kJoinPeer] = options_.join;
  return peers;
}

util::Result<void> Cluster::Impl::start() {
  raft::Transport::Options to;
  to.insecure = options_.insecure_peers;
  to.unreliable = options_.unreliable;
  to.security = options_.peer_security;
  to.listen = options_.listen_for_peers;
  to.node_label = [](raft::NodeId id) { return id == kJoinPeer ? std::string() : std::to_string(config_id(id)); };
  transport_ = std::make_unique<raft::Transport>(io_, raft_id(options_.self), options_.members.at(options_.self).raft_loc,
                                                 peer_map(), options_.secret, to);
  transport_->on_message([this](raft::Message m) { on_message(std::move(m)); });
  if (auto r = transport_->start(); !r) return r;

  // A cluster of one elects itself at once instead of waiting a timeout.
  if (core_ && core_->membership().voters.size() == 1 && core_->membership().voters[0] == core_->id()) {
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
    if (core_ && core_->role() == raft::Role::Leader) {
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
      boost::asio::post(io_, [this, &still_leader] { still_leader.set_value(core_ && core_->role() == raft::Role::Leader); });
      if (!still_leader.get_future().get()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  boost::asio::post(io_, [this] {
    stopping_ = true;
    for (auto& [key, p] : pending_) p.done(util::make_error(util::ErrorKind::OutcomeUnknown, "shutting down: the change's outcome is unknown"));
    pending_.clear();
    for (auto& [id, r] : pending_reads_) r.done(util::make_error(util::ErrorKind::ShuttingDown, "shutting down"));
    pending_reads_.clear();
    if (tick_timer_) tick_timer_->cancel();
    transport_->stop();
    work_.reset();
    io_.stop();
  });
  io_thread_.join();
}

void Cluster::Impl::submit(store::Change change, std::function<void(SubmitResult)> done) {
  change.origin = options_.self;
  std::pair<uint64_t, uint64_t> key{change.client_id, change.sequence};
  enqueue(key, store::encode_change(change), std::move(done));
}

void Cluster::Impl::change_members(MemberOp op, std::function<void(SubmitResult)> done) {
  op.origin = options_.self;
  boost::asio::post(io_, [this, op = std::move(op), done = std::move(done)]() mutable {
    // One change at a time (dissertation §4.1): the previous one must have
    // reached Raft's membership before the next is recorded.
    if (core_ && !membership_settled()) {
      return done(util::make_error(util::ErrorKind::Conflict, "a membership change is still in progress (see MEMBERS); try again when it is done"));
    }
    std::pair<uint64_t, uint64_t> key{op.client_id, op.sequence};
    enqueue(key, encode_member_op(op), std::move(done));
  });
}

void Cluster::Impl::enqueue(std::pair<uint64_t, uint64_t> key, std::string bytes, std::function<void(SubmitResult)> done) {
  boost::asio::post(io_, [this, key, bytes = std::move(bytes), done = std::move(done)]() mutable {
    if (stopping_) return done(util::make_error(util::ErrorKind::ShuttingDown, "shutting down"));
    if (storage_failed_) return done(util::make_error(util::ErrorKind::StorageFailed, "this node's log storage failed (see its log); changes are refused"));
    if (removed_) return done(util::make_error(util::ErrorKind::Refused, "this node was removed from the cluster; send changes to a member"));
    if (!core_) {
      return done(util::make_error(util::ErrorKind::NoQuorum, probing_ ? "no quorum: this node is waiting for the other members to answer"
                                            : "no quorum: this node has not joined the cluster yet"));
    }
    if (pending_.count(key)) return done(util::make_error(util::ErrorKind::Conflict, "a change with this client id and sequence is already pending"));
    Pending p;
    p.bytes = std::move(bytes);
    p.done = std::move(done);
    p.deadline = Clock::now() + std::chrono::milliseconds(options_.propose_timeout_ms);
    auto it = pending_.emplace(key, std::move(p)).first;
    try_propose(it->second);
    schedule_ready();
  });
}

void Cluster::Impl::read_barrier(std::function<void(util::Result<void>)> done) {
  boost::asio::post(io_, [this, done = std::move(done)]() mutable {
    if (stopping_) return done(util::make_error(util::ErrorKind::ShuttingDown, "shutting down"));
    if (!core_) return done(util::make_error(util::ErrorKind::NoQuorum, "no quorum: this node has not joined the cluster yet"));
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
  ++ticks_;
  if (!core_ && probing_) {
    if (probe_started_tick_ == 0) probe_started_tick_ = ticks_;
    // Whether this node held data is committed on a quorum, so enough peers
    // to intersect every quorum must say it did not: n - (n/2 + 1) + 1.
    const size_t n = options_.members.size();
    const size_t needed = n - (n / 2 + 1) + 1;
    if (probe_answers_.size() >= needed) return finish_fresh_start({});
    if ((ticks_ - probe_started_tick_) % (100 * options_.election_ticks) == 10 * options_.election_ticks) {
      spdlog::warn("empty data directory: waiting for {} more member(s) to confirm a new cluster before taking part",
                   needed - probe_answers_.size());
    }
    if (ticks_ % 3 == 1) {
      for (const auto& [id, info] : options_.members) {
        if (id == options_.self || probe_answers_.count(raft_id(id))) continue;
        raft::Message m;
        m.type = raft::MessageType::JoinRequest;
        m.from = raft_id(options_.self);
        m.to = raft_id(id);
        transport_->send(std::move(m));
      }
    }
    return;
  }
  if (!core_) {
    // Joining: ask the --join address for the members until one answers.
    if (ticks_ % options_.election_ticks == 1) {
      raft::Message m;
      m.type = raft::MessageType::JoinRequest;
      m.from = raft_id(options_.self);
      m.to = kJoinPeer;
      transport_->send(std::move(m));
    }
    return;
  }
  core_->tick();
  if (core_->role() == raft::Role::Leader) reconcile_membership();
  bool removed = !members_.empty() && !members_.count(options_.self);
  if (removed && !removed_) {
    spdlog::warn("this node was removed from the cluster: it keeps answering queries from its data but takes no "
                 "part in the cluster and refuses changes");
  }
  removed_ = removed;
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
      it->second.done(util::make_error(util::ErrorKind::OutcomeUnknown, "timeout: the change reached a leader but was not committed within " + ms +
                                       " ms; its outcome is unknown (retrying is safe)"));
    } else {
      it->second.done(util::make_error(util::ErrorKind::NoQuorum, "no quorum: no leader reachable within " + ms +
                                       " ms; the change was not applied"));
    }
    it = pending_.erase(it);
  }
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    it->second.done(util::make_error(core_->leader() == raft::kNoNode ? util::ErrorKind::NoQuorum : util::ErrorKind::OutcomeUnknown,
                                     core_->leader() == raft::kNoNode
                                         ? "no quorum: no leader reachable for a consistent read"
                                         : "timeout: the leader did not confirm a consistent read in time"));
    it = pending_reads_.erase(it);
  }
}

void Cluster::Impl::on_message(raft::Message m) {
  if (stopping_ || storage_failed_) return;
  if (m.type == raft::MessageType::JoinRequest) return handle_join_request(m);
  if (m.type == raft::MessageType::JoinResponse) return handle_join_response(m);
  if (!core_) return;
  core_->step(m);
  schedule_ready();
}

void Cluster::Impl::handle_join_request(const raft::Message& m) {
  // Answered only once the operator has added the node (MEMBER ADD): until
  // then its address is unknown here and the transport drops the reply.
  raft::Message reply;
  reply.type = raft::MessageType::JoinResponse;
  reply.from = raft_id(options_.self);
  reply.to = m.from;
  MemberMap known = members_.empty() ? options_.members : members_;
  if (core_) {
    // A mark committed on a quorum may not be applied here yet; it counts.
    for (raft::Index i = applied_ + 1; i <= core_->last_index(); ++i) {
      if (const raft::Entry* e = core_->log().entry(i); e && e->type == raft::EntryType::Normal) {
        note_unapplied_mark(known, e->data);
      }
    }
  }
  reply.data = nlohmann::json{{"voters", bootstrap_voters_},
                              {"members", members_to_json(known)},
                              {"term", core_ ? core_->term() : raft::Term{0}}}
                   .dump();
  spdlog::info("node {} asks to join", config_id(m.from));
  transport_->send(std::move(reply));
}

void Cluster::Impl::handle_join_response(const raft::Message& m) {
  if (core_) return;
  auto j = nlohmann::json::parse(m.data, nullptr, false);
  if (j.is_discarded() || !j.contains("voters") || !j.contains("members") || !j["members"].is_object()) {
    spdlog::warn("ignoring a malformed join response from node {}", config_id(m.from));
    return;
  }
  // Raft's safety rests on a voter remembering its log and its votes: a node
  // the cluster knows as holding data must not take part again with an empty
  // data directory, whether it probes or joins.
  const std::string self = std::to_string(options_.self);
  if (j["members"].contains(self) && j["members"][self].value("holds_data", false)) {
    return finish_fresh_start(util::make_error(
        "this node's data directory (" + options_.data_dir + ") is empty, but node " +
        std::to_string(config_id(m.from)) + " says the cluster has stored data on node " + self +
        ": its data was lost, and it must not vote with an empty log. To replace it: on a member run MEMBER "
        "REMOVE " + self + ", then MEMBER ADD " + self + " <query_loc> <raft_loc>, and start this node with "
        "--join <raft_loc of a member>"));
  }
  if (j.contains("term") && j["term"].is_number_unsigned()) {
    heard_term_ = std::max(heard_term_, j["term"].get<raft::Term>());
  }
  if (probing_) {
    probe_answers_.insert(m.from);
    return;
  }
  std::vector<raft::NodeId> voters = j["voters"].get<std::vector<raft::NodeId>>();
  MemberMap learned;
  for (const auto& [id, info] : j["members"].items()) {
    learned[static_cast<uint32_t>(std::stoul(id))] = {info.value("query_loc", ""), info.value("raft_loc", "")};
  }
  if (auto r = util::write_file_atomically(bootstrap_path(), nlohmann::json{{"voters", voters}}.dump()); !r) {
    spdlog::error("cannot record the cluster's first members: {}", r.error().message);
    return;
  }
  bootstrap_voters_ = voters;
  learned_members_ = std::move(learned);
  if (auto r = create_core(voters); !r) {
    spdlog::critical("cannot start Raft after joining: {}", r.error().message);
    return;
  }
  transport_->set_peers(peer_map());
  spdlog::info("joined through node {}: {} members; waiting to be caught up and promoted", config_id(m.from),
               learned_members_.size());
  schedule_ready();
}

void Cluster::Impl::propose_data_marks(const MemberMap& known) {
  // A member that has acknowledged entries holds data: note it, so that one
  // restarted with an empty data directory is refused. Until the mark is in
  // the log, the member's acknowledgements do not count (DataMarks).
  const raft::Term term = core_->term();
  const raft::Status status = core_->status();
  for (const auto& [id, info] : known) {
    if (!data_marks_.needs_mark(id, term, members_)) continue;
    bool acked = id == options_.self;
    for (const auto& p : status.peers) acked |= p.id == raft_id(id) && p.match > 0;
    if (!acked) continue;
    MemberOp op;
    op.id = id;
    op.info = info;
    op.info.holds_data = true;
    op.origin = options_.self;
    auto proposed = core_->propose(encode_member_op(op));
    if (!proposed) continue;
    data_marks_.proposed(id, term, proposed->index);
    core_->recheck_commit();  // the floor just came down from "never"
    schedule_ready();
  }
}

bool Cluster::Impl::membership_settled() const {
  const raft::Membership& ms = core_->membership();
  if (!ms.learners.empty()) return false;
  if (members_.empty()) return true;
  if (ms.voters.size() != members_.size()) return false;
  for (raft::NodeId v : ms.voters) {
    if (!members_.count(config_id(v))) return false;
  }
  return true;
}

void Cluster::Impl::reconcile_membership() {
  // The leader moves Raft's membership towards the committed member list,
  // one single-server change at a time (dissertation §4.1); the core refuses
  // a second change while one is uncommitted, so retrying each tick is safe.
  if (members_.empty()) {
    // First leader of a new cluster: record the config's members, once per
    // term (its own entries stay in its log), before any mark.
    if (bootstrap_proposed_term_ != core_->term()) {
      bool all = true;
      for (raft::NodeId v : core_->membership().voters) {
        auto it = options_.members.find(config_id(v));
        if (it == options_.members.end()) continue;
        MemberOp op;
        op.id = it->first;
        op.info = it->second;
        op.origin = options_.self;
        all &= static_cast<bool>(core_->propose(encode_member_op(op)));
      }
      if (all) bootstrap_proposed_term_ = core_->term();
      schedule_ready();
    }
    if (bootstrap_proposed_term_ == core_->term()) propose_data_marks(options_.members);
    return;
  }
  propose_data_marks(members_);
  const raft::Membership& ms = core_->membership();
  for (const auto& [id, info] : members_) {
    if (!ms.contains(raft_id(id))) {
      if (core_->propose_conf_change({raft::ConfChangeType::AddLearner, raft_id(id)})) {
        spdlog::info("adding node {} as a learner", id);
        schedule_ready();
      }
      return;
    }
  }
  for (raft::NodeId l : ms.learners) {
    if (members_.count(config_id(l)) && core_->is_caught_up(l, kPromoteLag)) {
      if (core_->propose_conf_change({raft::ConfChangeType::Promote, l})) {
        spdlog::info("node {} caught up: promoting it to voter", config_id(l));
        schedule_ready();
      }
      return;
    }
  }
  std::vector<raft::NodeId> everyone = ms.voters;
  everyone.insert(everyone.end(), ms.learners.begin(), ms.learners.end());
  for (raft::NodeId n : everyone) {
    if (members_.count(config_id(n))) continue;
    if (n == core_->id()) {
      // Removing the leader: hand leadership to the most caught-up voter first.
      raft::NodeId target = raft::kNoNode;
      raft::Index best = 0;
      for (const auto& p : core_->status().peers) {
        if (!p.learner && members_.count(config_id(p.id)) && p.match >= best) best = p.match, target = p.id;
      }
      if (target != raft::kNoNode && core_->status().transferee == raft::kNoNode &&
          core_->transfer_leadership(target)) {
        spdlog::info("this node is being removed: handing leadership to node {}", config_id(target));
        schedule_ready();
      }
      return;
    }
    if (core_->propose_conf_change({raft::ConfChangeType::Remove, n})) {
      spdlog::info("removing node {}", config_id(n));
      schedule_ready();
    }
    return;
  }
}

void Cluster::Impl::schedule_ready() {
  // Coalesce: everything that arrives before the io thread gets here shares
  // one Ready, hence one fsync (group commit).
  if (ready_scheduled_ || !core_ || storage_failed_) return;
  ready_scheduled_ = true;
  boost::asio::post(io_, [this] {
    ready_scheduled_ = false;
    if (stopping_ || !core_) return;
    while (!storage_failed_ && core_->has_ready()) process_ready();
  });
}

void Cluster::Impl::fatal_storage(const std::string& what, const util::Error& e) {
  // The disk state is unknown: stop taking part rather than acknowledge
  // something that may not be durable. Queries keep being answered.
  spdlog::critical("{}: {}; this node stops replicating and refuses changes until restarted", what, e.message);
  storage_failed_ = true;
  if (tick_timer_) tick_timer_->cancel();
  if (transport_) transport_->stop();
  for (auto& [key, p] : pending_) p.done(util::make_error(util::ErrorKind::OutcomeUnknown, "log storage failed: " + e.message));
  pending_.clear();
}

void Cluster::Impl::process_ready() {
  raft::Ready rd = core_->ready();

  // 1. A snapshot from the leader replaces the state machine.
  if (rd.snapshot) {
    if (auto r = storage_->install_snapshot(*rd.snapshot); !r) return fatal_storage("installing a snapshot", r.error());
    auto state = decode_cluster_state(rd.snapshot->data);
    if (!state) return fatal_storage("loading the snapshot from the leader", state.error());
    if (auto r = store_.restore(state->second); !r) {
      return fatal_storage("loading the snapshot from the leader", r.error());
    }
    members_ = state->first;
    if (transport_) transport_->set_peers(peer_map());
    applied_ = rd.snapshot->meta.index;
    snapshot_index_ = rd.snapshot->meta.index;
    spdlog::info("installed snapshot at index {} from the leader", applied_);
  }
  // 2. Entries and hard state durable before any message leaves (Raft §5.2, §5.3).
  // The commit index is made durable too before anything is applied: a node
  // restarted on its own (no quorum) answers from its own data everything it
  // answered before, so what it applied must be committed on its own disk.
  const raft::HardState& durable = storage_->hard_state();
  const bool vote_changed = rd.hard_state && (rd.hard_state->term != durable.term || rd.hard_state->vote != durable.vote);
  // Buffered only (sync() writes); a refused batch stops here, before anything leaves.
  if (!rd.entries.empty()) {
    if (auto r = storage_->append(rd.entries); !r) return fatal_storage("appending to the log", r.error());
  }
  if (rd.hard_state) {
    if (auto r = storage_->set_hard_state(*rd.hard_state); !r) return fatal_storage("saving term and vote", r.error());
  }
  // Some messages leave before the fsync, so that it overlaps the network:
  // - a leader's Append and Heartbeat (dissertation §10.2.1). Safe because
  //   the leader's own copy is counted towards a commit only when the
  //   followers' answers are handled, which is on this thread, after this
  //   fsync;
  // - a Forward: a client's change on its way to the leader, which promises
  //   nothing about this node's disk.
  // Never an answer that promises something about this node's disk (a vote,
  // an acknowledgement), nor anything from a Ready that changes term or vote.
  const bool may_send_early = transport_ && rd.must_sync() && !vote_changed && !rd.snapshot;
  const bool leader = core_->role() == raft::Role::Leader;
  std::vector<raft::Message> after_sync;
  if (may_send_early) {
    for (auto& m : rd.messages) {
      const bool early = m.type == raft::MessageType::Forward ||
                         (leader && (m.type == raft::MessageType::Append || m.type == raft::MessageType::Heartbeat));
      if (early) {
        transport_->send(std::move(m));
      } else {
        after_sync.push_back(std::move(m));
      }
    }
  } else {
    after_sync = std::move(rd.messages);
  }
  if (rd.must_sync()) {
    if (auto r = storage_->sync(); !r) return fatal_storage("syncing the log", r.error());
  }
  // 3. Messages.
  if (transport_) {
    for (auto& m : after_sync) transport_->send(std::move(m));
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
  // After a failed checkpoint (disk full) wait as long again before retrying.
  raft::Index last_try = std::max(snapshot_index_, checkpoint_failed_at_);
  // A checkpoint writes the whole store on this thread, so under a stream of
  // changes it is also spaced in time: at most a tenth of the thread's time
  // goes to checkpoints, whatever the store's size (the log grows a little
  // longer meanwhile; a lagging follower's snapshot request is never held).
  if (rd.need_snapshot ||
      (applied_ >= last_try + options_.checkpoint_every_entries && Clock::now() >= next_checkpoint_at_)) {
    const auto started = Clock::now();
    take_checkpoint();
    next_checkpoint_at_ = Clock::now() + 9 * (Clock::now() - started);
  }
  maybe_compact();
}

void Cluster::Impl::apply_committed(const std::vector<raft::Entry>& entries) {
  if (entries.empty()) return;
  std::vector<std::pair<store::Change, uint64_t>> batch;
  batch.reserve(entries.size());
  // Replies for this node's own requests: (client id, sequence) -> result.
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, store::ApplyResult>> member_results;
  bool members_changed = false;
  for (const raft::Entry& e : entries) {
    if (e.type != raft::EntryType::Normal || e.data.empty()) continue;
    if (is_member_entry(e.data)) {
      auto op = decode_member_op(e.data);
      if (!op) {
        spdlog::error("log entry {} is not a member change this version understands: {}", e.index, op.error().message);
        continue;
      }
      MemberMap before = members_;
      std::string err = apply_member_op(members_, op.value());
      members_changed |= members_ != before;
      if (err.empty() && op->kind == MemberOp::Kind::Remove) data_marks_.forget(op->id);
      if (!err.empty()) spdlog::info("member change at {} refused: {}", e.index, err);
      if (op->origin == options_.self) {
        store::ApplyResult r;
        r.op_errors.push_back(err);
        member_results.push_back({{op->client_id, op->sequence}, std::move(r)});
      }
      continue;
    }
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
  if (members_changed && transport_) transport_->set_peers(peer_map());
  auto complete = [this](std::pair<uint64_t, uint64_t> key, store::ApplyResult result) {
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    it->second.done(std::move(result));
    pending_.erase(it);
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::Change& c = batch[i].first;
    if (c.origin == options_.self) complete({c.client_id, c.sequence}, std::move(results[i]));
  }
  for (auto& [key, result] : member_results) complete(key, std::move(result));
}

void Cluster::Impl::take_checkpoint() {
  if (applied_ == 0 || applied_ <= snapshot_index_) return;
  auto meta = core_->snapshot_meta_for(applied_);
  if (!meta) {
    spdlog::warn("checkpoint at {} skipped: {}", applied_, meta.error().message);
    return;
  }
  auto data = std::make_shared<const std::string>(encode_cluster_state(members_, store_.serialize()));
  if (auto r = storage_->save_snapshot(raft::Snapshot{meta.value(), *data}); !r) {
    // Disk full or similar: keep the log (nothing is lost), try again later.
    spdlog::error("checkpoint at index {} failed: {}", applied_, r.error().message);
    checkpoint_failed_at_ = applied_;
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
  if (!core_) {
    return nlohmann::json{{"node", std::to_string(options_.self)}, {"role", probing_ ? "starting" : "joining"},
                          {"join", options_.join},
                          {"applied_index", applied_}, {"records", store_.snapshot()->record_count()}};
  }
  raft::Status s = core_->status();
  nlohmann::json j;
  j["node"] = std::to_string(options_.self);
  j["role"] = raft::role_name(s.role);
  j["term"] = s.term;
  j["vote"] = s.vote == raft::kNoNode ? nlohmann::json(nullptr) : nlohmann::json(std::to_string(config_id(s.vote)));
  j["leader"] = s.leader == raft::kNoNode ? nlohmann::json(nullptr) : nlohmann::json(std::to_string(config_id(s.leader)));
  j["commit_index"] = s.commit;
  j["applied_index"] = applied_;
  j["log_first_index"] = storage_->first_index();
  j["log_last_index"] = storage_->last_index();
  j["log_bytes"] = storage_->size_on_disk();
  j["log_batches_synced"] = storage_->batches_synced();
  j["checkpoint_index"] = snapshot_index_;
  j["records"] = store_.snapshot()->record_count();
  j["storage_failed"] = storage_failed_;
  j["removed"] = removed_;
  nlohmann::json voters = nlohmann::json::array();
  for (auto v : s.membership.voters) voters.push_back(std::to_string(config_id(v)));
  j["voters"] = voters;
  nlohmann::json learners = nlohmann::json::array();
  for (auto v : s.membership.learners) learners.push_back(std::to_string(config_id(v)));
  j["learners"] = learners;
  nlohmann::json peers = nlohmann::json::object();
  const MemberMap& known = members_.empty() ? options_.members : members_;
  for (const auto& [id, info] : known) {
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
    j["peer_handshake_timeouts"] = ts.handshake_timeouts;
    j["peer_decode_failures"] = ts.decode_failures;
    j["peer_frames_sent"] = ts.frames_sent;
    j["peer_frames_received"] = ts.frames_received;
  }
  return j;
}

nlohmann::json Cluster::Impl::members_on_io_thread() const {
  nlohmann::json j = members_to_json(members_.empty() ? options_.members : members_);
  if (core_) {
    const raft::Membership& ms = core_->membership();
    for (auto& [id, m] : j.items()) {
      raft::NodeId rid = raft_id(static_cast<uint32_t>(std::stoul(id)));
      m["role"] = ms.is_voter(rid) ? "voter" : ms.is_learner(rid) ? "learner" : "pending";
    }
  }
  return j;
}

nlohmann::json Cluster::Impl::members() {
  if (!io_thread_.joinable() || stopping_) return members_on_io_thread();
  std::promise<nlohmann::json> result;
  auto future = result.get_future();
  boost::asio::post(io_, [this, &result] { result.set_value(members_on_io_thread()); });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    return nlohmann::json{{"error", "raft thread busy"}};
  }
  return future.get();
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
void Cluster::change_members(MemberOp op, std::function<void(SubmitResult)> done) {
  impl_->change_members(std::move(op), std::move(done));
}
nlohmann::json Cluster::members() { return impl_->members(); }
void Cluster::read_barrier(std::function<void(util::Result<void>)> done) { impl_->read_barrier(std::move(done)); }
nlohmann::json Cluster::status() { return impl_->status(); }

}  // namespace node
