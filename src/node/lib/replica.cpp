// One replica without I/O of its own: the Raft core, its log and checkpoints,
// apply to the store, and the node's protocols around them (node/replica.h).
#include "node/replica.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

namespace node {
namespace {

// How often a change that has not been applied yet is proposed again (a
// forwarded proposal may have been lost; apply deduplicates the copies).
constexpr Time kReproposeInterval{1000};

// A learner is promoted once it is this close to the leader's last index.
constexpr raft::Index kPromoteLag = 20;

constexpr const char* kBootstrapFile = "cluster-bootstrap.json";

/// Replaces dir/name with `bytes` so that after a crash it is the old or the
/// new version, never a mix: temp file, fsync, rename, fsync of the directory.
util::Result<void> write_atomically(raft::FileSystem& fs, const std::string& dir, const std::string& name,
                                    const std::string& bytes) {
  const std::string path = raft::join_path(dir, name);
  const std::string tmp = path + ".tmp";
  {
    auto f = fs.open_append(tmp, /*truncate=*/true);
    if (!f) return f.error();
    if (auto r = (*f)->append(bytes); !r) return r;
    if (auto r = (*f)->sync(); !r) return r;
  }
  if (auto r = fs.rename(tmp, path); !r) return r;
  return fs.sync_dir(dir);
}

util::Result<bool> file_exists(raft::FileSystem& fs, const std::string& dir, const std::string& name) {
  auto names = fs.list_dir(dir);
  if (!names) return names.error();
  return std::find(names->begin(), names->end(), name) != names->end();
}

}  // namespace

// Out of line: GCC 12 sees the Result's variant as maybe uninitialized when
// these are inlined into their callers.
[[gnu::noinline]] void Effects::refuse(RequestId id, util::Error why) {
  replies.emplace_back(id, SubmitResult(std::move(why)));
}

[[gnu::noinline]] void Effects::complete(RequestId id, store::ApplyResult result) {
  replies.emplace_back(id, SubmitResult(std::move(result)));
}

void Effects::merge(Effects&& other) {
  for (auto& m : other.messages) messages.push_back(std::move(m));
  for (auto& r : other.replies) replies.push_back(std::move(r));
  if (other.peers) peers = std::move(other.peers);
  storage_failed |= other.storage_failed;
  if (other.stop_process && !stop_process) stop_process = std::move(other.stop_process);
}

Replica::Replica(ReplicaOptions options, store::Store& store)
    : options_(std::move(options)),
      fs_(options_.fs ? *options_.fs : raft::posix_file_system()),
      store_(store) {}

Replica::~Replica() = default;

util::Result<std::unique_ptr<Replica>> Replica::open(ReplicaOptions options, store::Store& store) {
  if (!options.members.count(options.self)) {
    return util::make_error("node " + std::to_string(options.self) + " is not a member of the cluster");
  }
  std::unique_ptr<Replica> r(new Replica(std::move(options), store));
  if (auto ok = r->restore(); !ok) return ok.error();
  return r;
}

// ---- restore, join and the fresh-start probe --------------------------------

util::Result<void> Replica::restore() {
  const std::string dir = options_.data_dir + "/raft";
  raft::StorageOptions so;
  so.fsync = options_.fsync;
  so.segment_bytes = options_.wal_segment_bytes;
  so.fs = &fs_;
  so.remove_segment = options_.remove_segment;
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
    spdlog::info("loaded checkpoint at index {} ({} records)", snap.meta.index, store_.snapshot()->record_count());
  }
  for (raft::Entry& e : storage_->all_entries()) {
    if (e.index > restored.snapshot.index) restored.entries.push_back(std::move(e));
  }
  restored.applied = restored.snapshot.index;
  restored_ = std::move(restored);

  // Raft's initial membership must be the same on every node, for ever
  // (including nodes added later), so it is recorded at the first start:
  // from the config file, or from the member a joining node asked.
  auto exists = file_exists(fs_, options_.data_dir, kBootstrapFile);
  if (!exists) return exists.error();
  if (*exists) {
    auto text = fs_.read_file(bootstrap_path());
    if (!text) return text.error();
    // {"voters": [...]}, and on a node that joined, "members": what the
    // member it asked told it (the shape of a join answer).
    auto j = nlohmann::json::parse(text.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return util::make_error(bootstrap_path() + " is corrupt");
    if (!j.contains("members")) j["members"] = nlohmann::json::object();
    auto recorded = decode_join_answer(j.dump());
    if (!recorded) return util::make_error(bootstrap_path() + " is corrupt: " + recorded.error().message);
    bootstrap_voters_ = recorded->voters;
    learned_members_ = std::move(recorded->members);
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
  if (bootstrap_voters_.empty()) {
    spdlog::info("joining through {}: waiting for a member to answer", options_.join);
    return {};
  }
  if (auto r = create_core(bootstrap_voters_); !r) return r;
  return replay();
}

util::Result<void> Replica::replay() {
  // Before serving, apply what this node's own log says is committed: a
  // restarted node answers from its own data at once (docs/design.md, "reads
  // never need a quorum"). No peer is reachable yet: messages are dropped.
  while (has_ready()) {
    ReadyStep step = start_ready();
    util::Result<void> synced = step.sync ? sync() : util::Result<void>{};
    Effects fx = finish_ready(std::move(synced));
    if (fx.storage_failed) return util::make_error("replaying the log in " + options_.data_dir + "/raft failed");
  }
  spdlog::info("restored state: applied index {}, {} records", applied_, store_.snapshot()->record_count());
  return {};
}

util::Result<void> Replica::record_bootstrap() {
  nlohmann::json j{{"voters", bootstrap_voters_}};
  // A joined node knows its peers only from the member it asked until it
  // has applied the member list: a restart before that must not forget them.
  if (!learned_members_.empty()) j["members"] = members_to_json(learned_members_);
  return write_atomically(fs_, options_.data_dir, kBootstrapFile, j.dump());
}

util::Result<void> Replica::create_core(const std::vector<raft::NodeId>& voters) {
  raft::Config rc;
  rc.id = raft_id(options_.self);
  rc.initial_membership.voters = voters;
  rc.election_tick = static_cast<int>(options_.election_ticks);
  rc.heartbeat_tick = 1;
  rc.seed = options_.seed;
  rc.max_log_lag_entries = options_.prune_lag_entries;
  if (auto r = adopt_heard_term(); !r) return r;
  auto core = raft::Core::create(rc, std::move(restored_));
  if (!core) return util::make_error("raft state in " + options_.data_dir + "/raft: " + core.error().message);
  core_ = std::move(core.value());
  if (!options_.test_break_data_marks) {
    core_->set_commit_floor(
        [this](raft::NodeId voter) { return data_marks_.commit_floor(config_id(voter), core_->term(), members_); });
  }
  if (snapshot_index_ > 0) {
    auto snap = storage_->load_snapshot();
    if (snap && snap.value()) {
      (void)core_->set_snapshot((*snap.value()).meta, std::make_shared<const std::string>((*snap.value()).data));
      core_->report_checkpoint(snapshot_index_);
    }
  }
  return {};
}

util::Result<void> Replica::adopt_heard_term() {
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

Effects Replica::finish_fresh_start(util::Result<void> verdict) {
  probing_ = false;
  if (verdict) {
    if (auto r = record_bootstrap(); !r) {
      verdict = util::make_error("cannot record the cluster's first members: " + r.error().message);
    } else if (auto c = create_core(bootstrap_voters_); !c) {
      verdict = c;
    }
  }
  Effects fx;
  if (!verdict) {
    // Taking part now could lose acknowledged changes; stopping is the safe answer.
    stopping_ = true;
    fx.stop_process = verdict.error().message;
    return fx;
  }
  spdlog::info("the other members confirm a new cluster: taking part");
  return fx;
}

Effects Replica::tick_without_core() {
  Effects fx;
  if (probing_) {
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
        fx.messages.push_back(std::move(m));
      }
    }
    return fx;
  }
  // Joining: ask the --join address for the members until one answers.
  if (ticks_ % options_.election_ticks == 1) {
    raft::Message m;
    m.type = raft::MessageType::JoinRequest;
    m.from = raft_id(options_.self);
    m.to = kJoinPeer;
    fx.messages.push_back(std::move(m));
  }
  return fx;
}

Effects Replica::handle_join_request(const raft::Message& m) {
  // Answered only once the operator has added the node (MEMBER ADD): until
  // then its address is unknown here and the transport drops the reply.
  raft::Message reply;
  reply.type = raft::MessageType::JoinResponse;
  reply.from = raft_id(options_.self);
  reply.to = m.from;
  JoinAnswer answer;
  answer.voters = bootstrap_voters_;
  answer.members = members_.empty() ? options_.members : members_;
  answer.term = core_ ? core_->term() : raft::Term{0};
  if (core_) {
    // A mark committed on a quorum may not be applied here yet; it counts.
    for (raft::Index i = applied_ + 1; i <= core_->last_index(); ++i) {
      if (const raft::Entry* e = core_->log().entry(i); e && e->type == raft::EntryType::Normal) {
        note_unapplied_mark(answer.members, e->data);
      }
    }
  }
  reply.data = encode_join_answer(answer);
  spdlog::info("node {} asks to join", config_id(m.from));
  Effects fx;
  fx.messages.push_back(std::move(reply));
  return fx;
}

Effects Replica::handle_join_response(const raft::Message& m) {
  Effects fx;
  auto answer = decode_join_answer(m.data);
  if (!answer) {
    spdlog::warn("ignoring a malformed join answer from node {}: {}", config_id(m.from), answer.error().message);
    return fx;
  }
  if (core_) {
    // Asked because a member this node has no address for spoke to it
    // (ask_for_addresses()): learn the addresses it lacks, nothing more.
    PeerMap before = peer_map();
    for (const auto& [id, info] : answer->members) {
      if (id != options_.self && !before.count(raft_id(id))) heard_addresses_[id] = info;
    }
    note_peers(fx);
    return fx;
  }
  // Raft's safety rests on a voter remembering its log and its votes: a node
  // the cluster knows as holding data must not take part again with an empty
  // data directory, whether it probes or joins.
  const std::string self = std::to_string(options_.self);
  if (auto it = answer->members.find(options_.self); it != answer->members.end() && it->second.holds_data) {
    return finish_fresh_start(util::make_error(
        "this node's data directory (" + options_.data_dir + ") is empty, but node " +
        std::to_string(config_id(m.from)) + " says the cluster has stored data on node " + self +
        ": its data was lost, and it must not vote with an empty log. To replace it: on a member run MEMBER "
        "REMOVE " + self + ", then MEMBER ADD " + self + " <query_loc> <raft_loc>, and start this node with "
        "--join <raft_loc of a member>"));
  }
  heard_term_ = std::max(heard_term_, answer->term);
  if (probing_) {
    probe_answers_.insert(m.from);
    return fx;
  }
  std::vector<raft::NodeId> voters = answer->voters;
  bootstrap_voters_ = voters;
  learned_members_ = std::move(answer->members);
  if (auto r = record_bootstrap(); !r) {
    spdlog::error("cannot record the cluster's first members: {}", r.error().message);
    bootstrap_voters_.clear();
    learned_members_.clear();
    return fx;
  }
  if (auto r = create_core(voters); !r) {
    spdlog::critical("cannot start Raft after joining: {}", r.error().message);
    return fx;
  }
  note_peers(fx);
  spdlog::info("joined through node {}: {} members; waiting to be caught up and promoted", config_id(m.from),
               learned_members_.size());
  return fx;
}

PeerMap Replica::peer_map() const {
  const MemberMap& source = !members_.empty() ? members_ : !learned_members_.empty() ? learned_members_ : options_.members;
  PeerMap peers;
  for (const auto& [id, info] : source) {
    if (id != options_.self) peers[raft_id(id)] = info.raft_loc;
  }
  for (const auto& [id, info] : heard_addresses_) peers.try_emplace(raft_id(id), info.raft_loc);
  for (const auto& [id, info] : departing_) {
    if (core_ && core_->membership().contains(raft_id(id))) peers.try_emplace(raft_id(id), info.raft_loc);
  }
  if (!core_ && !options_.join.empty()) peers[kJoinPeer] = options_.join;
  return peers;
}

// ---- events -------------------------------------------------------------------

void Replica::note_peers(Effects& fx) {
  std::erase_if(departing_, [this](const auto& d) { return !core_ || !core_->membership().contains(raft_id(d.first)); });
  PeerMap now = peer_map();
  if (now == last_peers_) return;
  last_peers_ = now;
  fx.peers = std::move(now);
}

Effects Replica::start() {
  last_peers_ = peer_map();  // what the driver's transport starts with
  // A cluster of one elects itself at once instead of waiting a timeout.
  if (core_ && core_->membership().voters.size() == 1 && core_->membership().voters[0] == core_->id()) {
    core_->campaign();
  }
  return {};
}

Effects Replica::tick(Time now) {
  ++ticks_;
  Effects fx;
  // After a storage failure nothing is pending and nothing new is taken.
  if (stopping_ || storage_failed_) return fx;
  if (!core_) return tick_without_core();
  core_->tick();
  if (core_->role() == raft::Role::Leader) reconcile_membership();
  bool removed = !members_.empty() && !members_.count(options_.self);
  if (removed && !removed_) {
    spdlog::warn("this node was removed from the cluster: it keeps answering queries from its data but takes no "
                 "part in the cluster and refuses changes");
  }
  removed_ = removed;
  // A commit index written without an fsync (start_ready) becomes durable
  // here at the latest: a power loss takes at most one tick of it.
  if (storage_->unsynced()) {
    if (auto r = storage_->sync(); !r) return fail_storage("syncing the commit index", r.error());
  }
  retry_pending(now);
  fail_past_deadline(now, fx);
  if (unknown_sender_ && ticks_ % options_.election_ticks == 0) fx.merge(ask_for_addresses());
  return fx;
}

Effects Replica::receive(const raft::Message& m, Time) {
  if (stopping_ || storage_failed_) return {};
  if (m.type == raft::MessageType::JoinRequest) return handle_join_request(m);
  if (m.type == raft::MessageType::JoinResponse) return handle_join_response(m);
  if (!core_) return {};
  // A node that missed the member list (down while a member was added, and
  // restarted before applying it) cannot answer that member: the transport
  // has no address for it. Noted here, asked for at the next tick.
  if (m.from != raft::kNoNode && !peer_map().count(m.from)) unknown_sender_ = true;
  core_->step(m);
  return {};
}

Effects Replica::ask_for_addresses() {
  Effects fx;
  unknown_sender_ = false;
  for (const auto& [id, loc] : peer_map()) {
    if (id == kJoinPeer) continue;
    raft::Message m;
    m.type = raft::MessageType::JoinRequest;
    m.from = raft_id(options_.self);
    m.to = id;
    fx.messages.push_back(std::move(m));
  }
  return fx;
}

std::optional<util::Error> Replica::refusal() const {
  if (stopping_) return util::make_error(util::ErrorKind::ShuttingDown, "shutting down");
  if (storage_failed_) {
    return util::make_error(util::ErrorKind::StorageFailed, "this node's log storage failed (see its log); changes are refused");
  }
  if (removed_) return util::make_error(util::ErrorKind::Refused, "this node was removed from the cluster; send changes to a member");
  if (!core_) {
    return util::make_error(util::ErrorKind::NoQuorum, probing_ ? "no quorum: this node is waiting for the other members to answer"
                                                 : "no quorum: this node has not joined the cluster yet");
  }
  return std::nullopt;
}

Effects Replica::submit(RequestId id, store::Change change, Time now) {
  change.origin = options_.self;
  const uint64_t client = change.client_id, sequence = change.sequence;
  return enqueue(id, client, sequence, store::encode_change(change), now);
}

Effects Replica::change_members(RequestId id, MemberOp op, Time now) {
  op.origin = options_.self;
  // One change at a time (dissertation §4.1): the previous one must have
  // reached Raft's membership before the next is recorded.
  if (core_ && !stopping_ && !storage_failed_ && !membership_settled()) {
    Effects fx;
    fx.refuse(id, util::make_error(util::ErrorKind::Conflict,
                                   "a membership change is still in progress (see MEMBERS); try again when it is done"));
    return fx;
  }
  return enqueue(id, op.client_id, op.sequence, encode_member_op(op), now);
}

Effects Replica::enqueue(RequestId id, uint64_t client, uint64_t sequence, std::string bytes, Time now) {
  Effects fx;
  if (auto why = refusal()) {
    fx.refuse(id, *why);
    return fx;
  }
  // A log entry larger than the log takes would fail this node's storage
  // (and every follower's): refused here, before it reaches any log.
  constexpr uint64_t kEntryOverhead = 4096;
  const uint64_t limit = raft::StorageOptions{}.max_entry_bytes - kEntryOverhead;
  if (bytes.size() > limit) {
    fx.refuse(id, util::make_error(util::ErrorKind::Invalid,
                                   "the change is " + std::to_string(bytes.size()) + " bytes, more than a log entry takes (" +
                                       std::to_string(limit) + "); split it into smaller changes"));
    return fx;
  }
  if (auto it = pending_.find(client); it != pending_.end()) {
    // The session rule (store/session.h): one change outstanding per session.
    fx.refuse(id, util::make_error(util::ErrorKind::Conflict,
                                   it->second.sequence == sequence
                                       ? "this change (client session " + std::to_string(client) + ", sequence " +
                                             std::to_string(sequence) + ") is already pending"
                                       : "client session " + std::to_string(client) + " already has change " +
                                             std::to_string(it->second.sequence) +
                                             " outstanding; a session keeps one at a time"));
    return fx;
  }
  Pending p;
  p.id = id;
  p.sequence = sequence;
  p.bytes = std::move(bytes);
  p.deadline = now + options_.propose_timeout;
  auto it = pending_.emplace(client, std::move(p)).first;
  try_propose(it->second, now);
  return fx;
}

Effects Replica::read_barrier(RequestId id, Time now) {
  Effects fx;
  if (stopping_) {
    fx.refuse(id, util::make_error(util::ErrorKind::ShuttingDown, "shutting down"));
  } else if (storage_failed_) {
    fx.refuse(id, util::make_error(util::ErrorKind::StorageFailed, "this node's log storage failed (see its log); reads are refused"));
  } else if (!core_) {
    fx.refuse(id, util::make_error(util::ErrorKind::NoQuorum, "no quorum: this node has not joined the cluster yet"));
  } else {
    PendingRead r;
    r.deadline = now + options_.propose_timeout;
    try_read_index(id, pending_reads_.emplace(id, r).first->second, now);
  }
  return fx;
}

bool Replica::hand_over_leadership() {
  if (!core_ || core_->role() != raft::Role::Leader) return false;
  raft::NodeId target = raft::kNoNode;
  raft::Index best = 0;
  for (const auto& p : core_->status().peers) {
    if (!p.learner && p.match > best) best = p.match, target = p.id;
  }
  return target != raft::kNoNode && core_->transfer_leadership(target);
}

bool Replica::is_leader() const { return core_ && core_->role() == raft::Role::Leader; }

Effects Replica::shutdown() {
  stopping_ = true;
  Effects fx;
  for (auto& [key, p] : pending_) {
    fx.refuse(p.id, util::make_error(util::ErrorKind::OutcomeUnknown, "shutting down: the change's outcome is unknown"));
  }
  pending_.clear();
  for (auto& [id, r] : pending_reads_) fx.refuse(id, util::make_error(util::ErrorKind::ShuttingDown, "shutting down"));
  pending_reads_.clear();
  return fx;
}

// ---- pending changes and reads --------------------------------------------------

void Replica::try_propose(Pending& p, Time now) {
  auto r = core_->propose_or_forward(p.bytes);
  p.next_try = now + kReproposeInterval;
  if (!r) return;  // no leader known yet: wait for one until the deadline
  p.sent = true;
  p.appended_term = r->kind == raft::Proposed::Kind::Appended ? r->term : 0;
}

void Replica::try_read_index(RequestId id, PendingRead& r, Time now) {
  // The context names the request; a lost request is asked again later.
  r.next_try = now + kReproposeInterval;
  (void)core_->read_index(std::to_string(id));
}

void Replica::retry_pending(Time now) {
  for (auto& [key, p] : pending_) {
    // A leader's own appended entry needs no second copy unless its term passed.
    bool appended_here = p.appended_term != 0 && p.appended_term == core_->term() &&
                         core_->role() == raft::Role::Leader;
    if (!appended_here && now >= p.next_try) try_propose(p, now);
  }
  for (auto& [id, r] : pending_reads_) {
    if (r.read_index == 0 && now >= r.next_try) try_read_index(id, r, now);
  }
}

void Replica::fail_past_deadline(Time now, Effects& fx) {
  const std::string ms = std::to_string(options_.propose_timeout.count());
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (it->second.sent) {
      fx.refuse(it->second.id,
                util::make_error(util::ErrorKind::OutcomeUnknown,
                                 "timeout: the change reached a leader but was not committed within " + ms +
                                     " ms; its outcome is unknown (retrying is safe)"));
    } else {
      fx.refuse(it->second.id, util::make_error(util::ErrorKind::NoQuorum, "no quorum: no leader reachable within " +
                                                                                 ms + " ms; the change was not applied"));
    }
    it = pending_.erase(it);
  }
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    fx.refuse(it->first, core_->leader() == raft::kNoNode
                             ? util::make_error(util::ErrorKind::NoQuorum,
                                                "no quorum: no leader reachable for a consistent read")
                             : util::make_error(util::ErrorKind::OutcomeUnknown,
                                                "timeout: the leader did not confirm a consistent read in time"));
    it = pending_reads_.erase(it);
  }
}

void Replica::release_reads(Effects& fx) {
  for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
    if (it->second.read_index != 0 && applied_ >= it->second.read_index) {
      fx.complete(it->first, store::ApplyResult{});
      it = pending_reads_.erase(it);
    } else {
      ++it;
    }
  }
}

Effects Replica::fail_storage(const std::string& what, const util::Error& e) {
  // The disk state is unknown: stop taking part rather than acknowledge
  // something that may not be durable. Queries keep being answered.
  spdlog::critical("{}: {}; this node stops replicating and refuses changes until restarted", what, e.message);
  storage_failed_ = true;
  Effects fx;
  fx.storage_failed = true;
  // A change may still commit elsewhere (its entry may have left before the
  // fsync): its outcome is unknown. A read cannot be answered any more.
  // A change's entry may have left before the failed fsync: outcome unknown.
  for (auto& [key, p] : pending_) fx.refuse(p.id, util::make_error(util::ErrorKind::OutcomeUnknown, "log storage failed: " + e.message));
  pending_.clear();
  for (auto& [id, r] : pending_reads_) fx.refuse(id, util::make_error(util::ErrorKind::StorageFailed, "log storage failed: " + e.message));
  pending_reads_.clear();
  return fx;
}

// ---- the host loop --------------------------------------------------------------------

bool Replica::has_ready() const { return core_ && !storage_failed_ && core_->has_ready(); }

ReadyStep Replica::start_ready() {
  current_ = core_->ready();
  raft::Ready& rd = current_;
  ReadyStep step;
  // 1. A snapshot from the leader replaces the state machine.
  if (rd.snapshot) {
    if (auto r = storage_->install_snapshot(*rd.snapshot); !r) {
      failed_step_ = fail_storage("installing a snapshot", r.error());
      return step;
    }
    auto state = decode_cluster_state(rd.snapshot->data);
    if (!state) {
      failed_step_ = fail_storage("loading the snapshot from the leader", state.error());
      return step;
    }
    if (auto r = store_.restore(state->second); !r) {
      failed_step_ = fail_storage("loading the snapshot from the leader", r.error());
      return step;
    }
    members_ = state->first;
    peers_changed_ = true;
    applied_ = rd.snapshot->meta.index;
    snapshot_index_ = rd.snapshot->meta.index;
    spdlog::info("installed snapshot at index {} from the leader", applied_);
  }
  // 2. Entries, term and vote durable before any message that promises them
  // leaves (Raft §5.2, §5.3): Ready::must_sync(). The commit index is
  // volatile in Raft: it is written to the log before anything is applied
  // (a process crash cannot take it) and made durable by the next batch's
  // fsync or the next tick. An fsync of its own would put a second one on
  // every acknowledgement.
  // Buffered only (sync() writes); a refused batch stops here, before anything leaves.
  if (!rd.entries.empty()) {
    if (auto r = storage_->append(rd.entries); !r) {
      failed_step_ = fail_storage("appending to the log", r.error());
      return step;
    }
  }
  if (rd.hard_state) {
    if (auto r = storage_->set_hard_state(*rd.hard_state); !r) {
      failed_step_ = fail_storage("saving term and vote", r.error());
      return step;
    }
  }
  step.sync = rd.must_sync();
  if (!step.sync && rd.hard_state) {
    if (auto r = storage_->write(); !r) {
      failed_step_ = fail_storage("saving the commit index", r.error());
      return step;
    }
  }
  // The early-send rule (ReadyStep::early): a leader's Append and Heartbeat,
  // and a Forward, may overlap the fsync with the network.
  const bool may_send_early = step.sync && !rd.term_or_vote_changed && !rd.snapshot;
  const bool leader = core_->role() == raft::Role::Leader;
  if (may_send_early) {
    std::vector<raft::Message> after_sync;
    for (auto& m : rd.messages) {
      const bool early = m.type == raft::MessageType::Forward ||
                         (leader && (m.type == raft::MessageType::Append || m.type == raft::MessageType::Heartbeat));
      (early ? step.early : after_sync).push_back(std::move(m));
    }
    rd.messages = std::move(after_sync);
  }
  return step;
}

util::Result<void> Replica::sync() {
  if (failed_step_) return {};  // already failed; finish_ready() reports it
  return storage_->sync();
}

Effects Replica::finish_ready(util::Result<void> synced) {
  if (failed_step_) {
    Effects fx = std::move(*failed_step_);
    failed_step_.reset();
    return fx;
  }
  if (!synced) return fail_storage("syncing the log", synced.error());
  raft::Ready rd = std::move(current_);
  current_ = {};
  Effects fx;
  // 3. Messages.
  fx.messages = std::move(rd.messages);
  // 4. Apply.
  apply_committed(rd.committed_entries, fx);
  if (rd.snapshot) core_->report_checkpoint(snapshot_index_);
  for (const raft::ReadState& rs : rd.read_states) {
    RequestId id = std::strtoull(rs.context.c_str(), nullptr, 10);
    if (auto it = pending_reads_.find(id); it != pending_reads_.end()) {
      it->second.read_index = std::max<raft::Index>(rs.index, 1);
    }
  }
  release_reads(fx);
  core_->advance();
  if (rd.compact_hint) compact_hint_ = *rd.compact_hint;
  if (rd.need_snapshot) snapshot_wanted_ = true;
  if (peers_changed_) {
    heard_addresses_.clear();  // the member list now says where everyone is
    peers_changed_ = false;
  }
  // Also when a conf change took a departed member out of Raft's membership.
  note_peers(fx);
  return fx;
}

void Replica::apply_committed(const std::vector<raft::Entry>& entries, Effects& fx) {
  if (entries.empty()) return;
  std::vector<std::pair<store::Change, uint64_t>> batch;
  batch.reserve(entries.size());
  // Replies for this node's own requests: (client id, sequence) -> result.
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, store::ApplyResult>> member_results;
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
      peers_changed_ |= members_ != before;
      if (err.empty() && op->kind == MemberOp::Kind::Remove) {
        data_marks_.forget(op->id);
        // Raft's membership loses the node only later (reconcile_membership()),
        // and until then its vote may be needed: keep talking to it.
        departing_[op->id] = before.at(op->id);
      }
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
  auto complete = [&](std::pair<uint64_t, uint64_t> stamp, store::ApplyResult result) {
    auto it = pending_.find(stamp.first);
    // A late copy of an earlier change of the session is not this one.
    if (it == pending_.end() || it->second.sequence != stamp.second) return;
    fx.complete(it->second.id, std::move(result));
    pending_.erase(it);
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::Change& c = batch[i].first;
    if (c.origin == options_.self) complete({c.client_id, c.sequence}, std::move(results[i]));
  }
  for (auto& [key, result] : member_results) complete(key, std::move(result));
}

bool Replica::checkpoint_due(Time now) const {
  if (!core_ || storage_failed_) return false;
  if (snapshot_wanted_) return true;
  // After a failed checkpoint (disk full) wait as long again before retrying.
  raft::Index last_try = std::max(snapshot_index_, checkpoint_failed_at_);
  return applied_ >= last_try + options_.checkpoint_every_entries && now >= next_checkpoint_at_;
}

std::optional<CheckpointJob> Replica::begin_checkpoint(Time now) {
  snapshot_wanted_ = false;
  if (checkpoint_running_ || applied_ == 0 || applied_ <= snapshot_index_) return std::nullopt;
  auto meta = core_->snapshot_meta_for(applied_);
  if (!meta) {
    spdlog::warn("checkpoint at {} skipped: {}", applied_, meta.error().message);
    return std::nullopt;
  }
  checkpoint_running_ = true;
  CheckpointJob job;
  job.meta = meta.value();
  job.members = members_;
  job.image = store_.capture();
  job.storage = storage_.get();
  job.started = now;
  return job;
}

void CheckpointJob::write() {
  data = std::make_shared<const std::string>(encode_cluster_state(members, image.encode()));
  // Released here: the captured version may be the last holder of records
  // since replaced, and freeing them belongs off the driver's thread too.
  image = store::Store::Image();
  written = storage->write_snapshot_file(raft::Snapshot{meta, *data});
}

void Replica::finish_checkpoint(CheckpointJob job, Time now) {
  checkpoint_running_ = false;
  next_checkpoint_at_ = now + 9 * (now - job.started);
  const raft::Index index = job.meta.index;
  util::Result<void> published = util::make_error("the checkpoint was not written");
  if (job.written && *job.written) {
    published = storage_->publish_snapshot_file(job.written->value());
  } else if (job.written) {
    published = job.written->error();
  }
  if (!published) {
    if (index <= snapshot_index_) return;  // a newer snapshot came from the leader meanwhile
    // Disk full or similar: keep the log (nothing is lost), try again later.
    spdlog::error("checkpoint at index {} failed: {}", index, published.error().message);
    checkpoint_failed_at_ = index;
    return;
  }
  if (auto r = core_->set_snapshot(job.meta, job.data); !r) {
    spdlog::warn("checkpoint at {} not registered: {}", index, r.error().message);
  }
  snapshot_index_ = std::max(snapshot_index_, index);
  core_->report_checkpoint(snapshot_index_);
  last_checkpoint_took_ = now - job.started;
  spdlog::debug("checkpoint at index {} ({} ms)", index, last_checkpoint_took_.count());
}

void ReplicaHost::write_checkpoint(Replica& replica, CheckpointJob job) {
  job.write();
  replica.finish_checkpoint(std::move(job), now());
}

void Replica::compact() {
  if (!core_ || storage_failed_) return;
  raft::Index target = std::min(compact_hint_, snapshot_index_);
  if (target < core_->first_index() && target < storage_->first_index()) return;
  if (storage_->unsynced()) return;  // a commit index waits for its fsync; the next batch or tick brings it
  std::vector<raft::Entry> dropped;
  auto* sink = options_.release_entries ? &dropped : nullptr;
  if (auto r = storage_->compact(target, sink); !r) {
    spdlog::error("log compaction to {} failed: {}", target, r.error().message);
  } else if (auto c = core_->compact(target, sink); !c) {
    spdlog::warn("core compaction to {} refused: {}", target, c.error().message);
  }
  if (!dropped.empty()) options_.release_entries(std::move(dropped));
}

void drive(Replica& replica, ReplicaHost& host) {
  while (replica.has_ready()) {
    ReadyStep step = replica.start_ready();
    for (auto& m : step.early) host.send(std::move(m));
    util::Result<void> synced = step.sync ? replica.sync() : util::Result<void>{};
    Effects fx = replica.finish_ready(std::move(synced));
    const bool failed = fx.storage_failed;
    host.handle(std::move(fx));
    if (failed) return;
    // 5. Checkpoint and prune, once the core counts this batch as applied.
    if (replica.checkpoint_due(host.now())) {
      if (auto job = replica.begin_checkpoint(host.now())) host.write_checkpoint(replica, std::move(*job));
    }
    replica.compact();
  }
}

// ---- membership and the holds-data marks (leader) ---------------------------------------

void Replica::propose_data_marks(const MemberMap& known) {
  // A member that has acknowledged entries holds data: note it, so that one
  // restarted with an empty data directory is refused. Until the mark is in
  // the log, the member's acknowledgements do not count (DataMarks).
  if (options_.test_break_data_marks) return;
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
  }
}

bool Replica::membership_settled() const {
  const raft::Membership& ms = core_->membership();
  if (!ms.learners.empty()) return false;
  if (members_.empty()) return true;
  if (ms.voters.size() != members_.size()) return false;
  for (raft::NodeId v : ms.voters) {
    if (!members_.count(config_id(v))) return false;
  }
  return true;
}

void Replica::reconcile_membership() {
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
      }
      return;
    }
  }
  const raft::Status status = core_->status();
  for (raft::NodeId l : ms.learners) {
    // A learner that never acknowledged anything may not even be running:
    // as a voter it would only weigh on the quorum.
    bool answered = false;
    for (const auto& p : status.peers) answered |= p.id == l && p.match > 0;
    if (members_.count(config_id(l)) && answered && core_->is_caught_up(l, kPromoteLag)) {
      if (core_->propose_conf_change({raft::ConfChangeType::Promote, l})) {
        spdlog::info("node {} caught up: promoting it to voter", config_id(l));
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
      }
      return;
    }
    if (core_->propose_conf_change({raft::ConfChangeType::Remove, n})) {
      spdlog::info("removing node {}", config_id(n));
    }
    return;
  }
}

// ---- inspection ---------------------------------------------------------------------------

nlohmann::json Replica::status() const {
  if (!core_) {
    return nlohmann::json{{"node", std::to_string(options_.self)},
                          {"role", probing_ ? "starting" : "joining"},
                          {"join", options_.join},
                          {"applied_index", applied_},
                          {"records", store_.snapshot()->record_count()}};
  }
  raft::Status s = core_->status();
  nlohmann::json j;
  j["node"] = std::to_string(options_.self);
  j["role"] = raft::role_name(s.role);
  j["term"] = s.term;
  j["vote"] = s.vote == raft::kNoNode ? nlohmann::json(nullptr) : nlohmann::json(std::to_string(config_id(s.vote)));
  j["leader"] =
      s.leader == raft::kNoNode ? nlohmann::json(nullptr) : nlohmann::json(std::to_string(config_id(s.leader)));
  j["commit_index"] = s.commit;
  j["applied_index"] = applied_;
  j["log_first_index"] = storage_->first_index();
  j["log_last_index"] = storage_->last_index();
  j["log_bytes"] = storage_->size_on_disk();
  j["log_batches_synced"] = storage_->batches_synced();
  j["checkpoint_index"] = snapshot_index_;
  j["checkpoint_last_ms"] = last_checkpoint_took_.count();
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
  return j;
}

nlohmann::json Replica::members() const {
  const MemberMap& list = members_.empty() ? options_.members : members_;
  nlohmann::json j = members_to_json(list);
  if (core_) {
    const raft::Membership& ms = core_->membership();
    for (const auto& [id, info] : list) {
      raft::NodeId rid = raft_id(id);
      j[std::to_string(id)]["role"] = ms.is_voter(rid) ? "voter" : ms.is_learner(rid) ? "learner" : "pending";
    }
  }
  return j;
}

}  // namespace node
