// The node's Asio driver: one io thread moves the replica's bytes (the peer
// transport), its timer (the tick) and its fsyncs (drive()); the replica
// (node/replica.h) decides everything else. Queries read the store without
// waiting on any of this.
#include "node/cluster.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "node/replica.h"

namespace node {

/// Lowers the calling thread below the threads that answer and commit, for
/// background work (checkpoints, pruning) that wants the same core.
static void yield_to_serving_threads() { (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

class Cluster::Impl final : public ReplicaHost {
 public:
  Impl(ClusterOptions options, store::Store& store) : options_(std::move(options)), store_(store) {}
  ~Impl() override {
    if (checkpoint_writer_.joinable()) checkpoint_writer_.join();
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
  // ---- ReplicaHost: what drive() needs ----
  Time now() override;
  void send(raft::Message m) override;
  void handle(Effects fx) override;
  /// On a thread of its own: a checkpoint of a million records takes about
  /// a second and a half, which the io thread would spend not committing.
  void write_checkpoint(Replica& replica, CheckpointJob job) override;

  /// Runs `event` on the io thread, carries out its effects and schedules
  /// the host loop. `done` is kept until the replica replies to `id`.
  void post_event(std::function<void(SubmitResult)> done, std::function<Effects(RequestId)> event);
  /// Coalesces: everything that reaches the io thread before the host loop
  /// runs shares one Ready, hence one fsync (group commit).
  void schedule_drive();
  void schedule_tick();
  void on_message(raft::Message m);
  util::Result<void> start_transport();
  /// Runs `question` on the io thread and waits for its answer (2 s at
  /// most, then `busy`); `final_answer` once the io thread has ended.
  nlohmann::json ask_io_thread(std::function<nlohmann::json()> question,
                               const std::optional<nlohmann::json>& final_answer, nlohmann::json busy);
  nlohmann::json status_on_io_thread() const;

  ClusterOptions options_;
  store::Store& store_;
  // Removes compacted log segments and frees compacted entries, in order, on
  // one thread: freeing 48 MB or unlinking a 48 MB segment takes the io
  // thread milliseconds, and starting a thread per job cost it an mmap
  // behind those munmaps. Outlives the replica, which hands it the work.
  boost::asio::thread_pool janitor_{1};
  std::unique_ptr<Replica> replica_;
  boost::asio::io_context io_;
  // Keeps io_.run() going even when no socket or timer is left (after a
  // storage failure the node still answers every request with its error).
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  std::unique_ptr<raft::Transport> transport_;
  std::thread io_thread_;
  std::thread checkpoint_writer_;  // at most one checkpoint is written at a time
  bool drive_scheduled_ = false;
  std::atomic<bool> stopping_{false};
  int lock_fd_ = -1;

  // Requests waiting for the replica's Reply (io thread only).
  std::map<RequestId, std::function<void(SubmitResult)>> waiting_;
  RequestId next_request_ = 1;

  // What STATUS and MEMBERS answer once the io thread has ended; guarded by
  // final_mu_, with io_started_.
  std::mutex final_mu_;
  bool io_started_ = false;
  std::optional<nlohmann::json> final_status_;
  std::optional<nlohmann::json> final_members_;
};

util::Result<void> Cluster::Impl::open() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) return util::make_error("cannot create data directory " + options_.data_dir + ": " + ec.message());
  // Two processes on one data directory would corrupt each other's log.
  const std::string lock_path = options_.data_dir + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return util::make_error("cannot open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return util::make_error("data directory " + options_.data_dir + " is in use by another dns-node process (" +
                            lock_path + " is locked)");
  }
  ReplicaOptions ro;
  ro.self = options_.self;
  ro.members = options_.members;
  ro.join = options_.join;
  ro.data_dir = options_.data_dir;
  ro.fs = options_.fs;
  ro.election_ticks = options_.election_ticks;
  ro.propose_timeout = Time(options_.propose_timeout_ms);
  ro.prune_lag_entries = options_.prune_lag_entries;
  ro.checkpoint_every_entries = options_.checkpoint_every_entries;
  ro.wal_segment_bytes = options_.wal_segment_bytes;
  ro.fsync = options_.fsync;
  if (!options_.fs) {
    boost::asio::post(janitor_, yield_to_serving_threads);
    ro.remove_segment = [this](const std::string& path) {
      boost::asio::post(janitor_, [path] { raft::remove_segment_gradually(path); });
    };
    ro.release_entries = [this](std::vector<raft::Entry> entries) {
      boost::asio::post(janitor_, [entries = std::move(entries)]() mutable { entries = {}; });
    };
  }
  ro.seed = (static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) << 8) ^
            raft_id(options_.self);
  auto replica = Replica::open(std::move(ro), store_);
  if (!replica) return replica.error();
  replica_ = std::move(replica.value());
  return {};
}

util::Result<void> Cluster::Impl::start_transport() {
  // The only place that knows how the transport is built.
  raft::Transport::Options to;
  to.insecure = options_.insecure_peers;
  to.unreliable = options_.unreliable;
  to.security = options_.peer_security;
  to.listen = options_.listen_for_peers;
  to.node_label = [](raft::NodeId id) { return id == kJoinPeer ? std::string() : std::to_string(config_id(id)); };
  transport_ = std::make_unique<raft::Transport>(io_, raft_id(options_.self), options_.members.at(options_.self).raft_loc,
                                                 replica_->peer_map(), options_.secret, to);
  transport_->on_message([this](raft::Message m) { on_message(std::move(m)); });
  return transport_->start();
}

util::Result<void> Cluster::Impl::start() {
  if (auto r = start_transport(); !r) return r;
  handle(replica_->start());
  tick_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  schedule_tick();
  schedule_drive();
  std::lock_guard lock(final_mu_);
  io_thread_ = std::thread([this] { io_.run(); });
  io_started_ = true;
  return {};
}

void Cluster::Impl::stop() {
  if (!io_thread_.joinable()) return;
  // Hand leadership over first so that writes continue without waiting for
  // an election timeout (dissertation §3.10). Both waits below are unbounded
  // but short: the io thread answers between two Ready batches.
  auto ask = [this](std::function<bool()> question) {
    auto answer = std::make_shared<std::promise<bool>>();
    auto future = answer->get_future();
    boost::asio::post(io_, [answer, question = std::move(question)] { answer->set_value(question()); });
    return future.get();
  };
  if (ask([this] {
        bool started = replica_->hand_over_leadership();
        schedule_drive();
        return started;
      })) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.tick_ms * options_.election_ticks);
    while (std::chrono::steady_clock::now() < until && ask([this] { return replica_->is_leader(); })) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  boost::asio::post(io_, [this] {
    stopping_ = true;
    handle(replica_->shutdown());
    if (tick_timer_) tick_timer_->cancel();
    transport_->stop();
    // From here on STATUS and MEMBERS get these answers. Requests posted
    // before still run: the io thread ends once it has drained its queue.
    std::lock_guard lock(final_mu_);
    final_status_ = status_on_io_thread();
    final_members_ = replica_->members();
    work_.reset();
  });
  io_thread_.join();
  // A checkpoint still being written is abandoned (its completion never
  // runs; the next open removes its temp file); the replica outlives it.
  if (checkpoint_writer_.joinable()) checkpoint_writer_.join();
}

// ---- events ---------------------------------------------------------------------

void Cluster::Impl::post_event(std::function<void(SubmitResult)> done, std::function<Effects(RequestId)> event) {
  boost::asio::post(io_, [this, done = std::move(done), event = std::move(event)]() mutable {
    RequestId id = next_request_++;
    waiting_.emplace(id, std::move(done));
    handle(event(id));
    schedule_drive();
  });
}

void Cluster::Impl::submit(store::Change change, std::function<void(SubmitResult)> done) {
  post_event(std::move(done), [this, change = std::move(change)](RequestId id) mutable {
    return replica_->submit(id, std::move(change), now());
  });
}

void Cluster::Impl::change_members(MemberOp op, std::function<void(SubmitResult)> done) {
  post_event(std::move(done), [this, op = std::move(op)](RequestId id) mutable {
    return replica_->change_members(id, std::move(op), now());
  });
}

void Cluster::Impl::read_barrier(std::function<void(util::Result<void>)> done) {
  post_event(
      [done = std::move(done)](SubmitResult r) {
        if (r) return done(util::Result<void>{});
        done(r.error());
      },
      [this](RequestId id) { return replica_->read_barrier(id, now()); });
}

void Cluster::Impl::schedule_tick() {
  tick_timer_->expires_after(std::chrono::milliseconds(options_.tick_ms));
  tick_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    handle(replica_->tick(now()));
    schedule_drive();
    schedule_tick();
  });
}

void Cluster::Impl::on_message(raft::Message m) {
  if (stopping_) return;
  handle(replica_->receive(m, now()));
  schedule_drive();
}

void Cluster::Impl::schedule_drive() {
  if (drive_scheduled_ || !replica_->has_ready()) return;
  drive_scheduled_ = true;
  boost::asio::post(io_, [this] {
    drive_scheduled_ = false;
    if (!stopping_) drive(*replica_, *this);
  });
}

// ---- effects ----------------------------------------------------------------------

Time Cluster::Impl::now() {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

void Cluster::Impl::send(raft::Message m) {
  if (transport_ && !stopping_ && !replica_->storage_failed()) transport_->send(std::move(m));
}

void Cluster::Impl::write_checkpoint(Replica& replica, CheckpointJob job) {
  // The replica starts no checkpoint before the last one's completion ran,
  // so the thread that wrote it has ended or is ending.
  if (checkpoint_writer_.joinable()) checkpoint_writer_.join();
  checkpoint_writer_ = std::thread([this, &replica, job = std::move(job)]() mutable {
    yield_to_serving_threads();
    job.write();
    boost::asio::post(io_, [this, &replica, job = std::move(job)]() mutable {
      if (stopping_) return;
      replica.finish_checkpoint(std::move(job), now());
      schedule_drive();
    });
  });
}

void Cluster::Impl::handle(Effects fx) {
  for (auto& m : fx.messages) send(std::move(m));
  if (fx.peers && transport_) transport_->set_peers(*fx.peers);
  if (fx.storage_failed && transport_) transport_->stop();
  for (auto& reply : fx.replies) {
    auto it = waiting_.find(reply.id);
    if (it == waiting_.end()) continue;
    auto done = std::move(it->second);
    waiting_.erase(it);
    done(std::move(reply.result));
  }
  if (fx.stop_process) {
    // Taking part could lose acknowledged changes; stopping is the safe answer.
    spdlog::critical("{}", *fx.stop_process);
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
}

// ---- STATUS and MEMBERS from other threads ------------------------------------------------

nlohmann::json Cluster::Impl::status_on_io_thread() const {
  nlohmann::json j = replica_->status();
  if (!transport_ || !j.contains("peers")) return j;
  for (auto& [id, p] : j["peers"].items()) {
    p["connected"] = transport_->connected(raft_id(static_cast<uint32_t>(std::stoul(id))));
  }
  auto ts = transport_->stats();
  j["peer_auth_failures"] = ts.auth_failures;
  j["peer_handshake_timeouts"] = ts.handshake_timeouts;
  j["peer_decode_failures"] = ts.decode_failures;
  j["peer_frames_sent"] = ts.frames_sent;
  j["peer_frames_received"] = ts.frames_received;
  return j;
}

nlohmann::json Cluster::Impl::ask_io_thread(std::function<nlohmann::json()> question,
                                            const std::optional<nlohmann::json>& final_answer, nlohmann::json busy) {
  // The io thread may answer after the caller gave up waiting, so the answer
  // goes through shared state, never through the caller's frame.
  auto answer = std::make_shared<std::promise<nlohmann::json>>();
  auto future = answer->get_future();
  {
    std::lock_guard lock(final_mu_);
    // Before start() no other thread runs; once the io thread has finished
    // its last handler it left its final answers. Posting under the lock
    // means the io thread, which records them under it too, still runs this.
    if (!io_started_) return question();
    if (final_answer) return *final_answer;
    boost::asio::post(io_, [answer, question = std::move(question)] { answer->set_value(question()); });
  }
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return busy;
  return future.get();
}

nlohmann::json Cluster::Impl::members() {
  return ask_io_thread([this] { return replica_->members(); }, final_members_,
                       nlohmann::json{{"error", "raft thread busy"}});
}

nlohmann::json Cluster::Impl::status() {
  return ask_io_thread([this] { return status_on_io_thread(); }, final_status_,
                       nlohmann::json{{"node", std::to_string(options_.self)}, {"error", "raft thread busy"}});
}

// ---- Cluster ------------------------------------------------------------------------

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
