// The Raft state machine: elections (§5.2, PreVote and CheckQuorum of
// dissertation §9.6), replication (§5.3), commitment (§5.4), membership
// changes (dissertation §4.1), ReadIndex (§6.4), leadership transfer
// (dissertation §3.10), snapshots (§7) and the prune policy of docs/design.md.
#include "raft/core.h"

#include <algorithm>
#include <numeric>

namespace raft {
namespace {

size_t entry_bytes(const std::vector<Entry>& ents) {
  size_t n = 0;
  for (const auto& e : ents) n += e.data.size();
  return n;
}

bool is_valid_type(MessageType t) {
  auto v = static_cast<uint8_t>(t);
  return v >= 1 && v <= 15;
}

std::string encode_seq(uint64_t seq) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  return s;
}

std::optional<uint64_t> decode_seq(const std::string& s) {
  if (s.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
  return v;
}

Membership normalized(Membership m) {
  std::sort(m.voters.begin(), m.voters.end());
  m.voters.erase(std::unique(m.voters.begin(), m.voters.end()), m.voters.end());
  std::sort(m.learners.begin(), m.learners.end());
  m.learners.erase(std::unique(m.learners.begin(), m.learners.end()), m.learners.end());
  return m;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::Follower: return "follower";
    case Role::PreCandidate: return "pre-candidate";
    case Role::Candidate: return "candidate";
    case Role::Leader: return "leader";
    case Role::Learner: return "learner";
  }
  return "?";
}

// ---- construction -----------------------------------------------------------

util::Result<std::unique_ptr<Core>> Core::create(Config config, Restored restored) {
  if (config.id == kNoNode) return util::make_error("raft: node id must be >= 1");
  if (config.heartbeat_tick < 1 || config.election_tick <= config.heartbeat_tick) {
    return util::make_error("raft: need 1 <= heartbeat_tick < election_tick (got " +
                            std::to_string(config.heartbeat_tick) + ", " + std::to_string(config.election_tick) + ")");
  }
  if (config.max_inflight_msgs == 0) return util::make_error("raft: max_inflight_msgs must be >= 1");
  if (config.snapshot_chunk_bytes == 0 || config.snapshot_window_chunks == 0) {
    return util::make_error("raft: snapshot_chunk_bytes and snapshot_window_chunks must be >= 1");
  }
  const SnapshotMeta& snap = restored.snapshot;
  Index expect = snap.index + 1;
  Term prev_term = snap.term;
  for (const auto& e : restored.entries) {
    if (e.index != expect) {
      return util::make_error("raft: restored log has entry " + std::to_string(e.index) + " where " +
                              std::to_string(expect) + " was expected (gap or not after snapshot " +
                              std::to_string(snap.index) + ")");
    }
    if (e.term < prev_term) {
      return util::make_error("raft: restored log entry " + std::to_string(e.index) + " has term " +
                              std::to_string(e.term) + " lower than the entry before it");
    }
    prev_term = e.term;
    ++expect;
  }
  Index last = expect - 1;
  if (prev_term > restored.hard_state.term) {
    return util::make_error("raft: restored log has term " + std::to_string(prev_term) +
                            " above the persisted current term " + std::to_string(restored.hard_state.term));
  }
  if (restored.applied != 0 && (restored.applied < snap.index || restored.applied > last)) {
    return util::make_error("raft: applied index " + std::to_string(restored.applied) + " outside the log [" +
                            std::to_string(snap.index) + ", " + std::to_string(last) + "]");
  }
  return std::unique_ptr<Core>(new Core(std::move(config), std::move(restored)));
}

Core::Core(Config config, Restored r)
    : config_(std::move(config)), log_(r.snapshot.index, r.snapshot.term, std::move(r.entries)) {
  rng_state_ = config_.seed ^ (config_.id * 0x9E3779B97F4A7C15ULL);
  term_ = r.hard_state.term;
  vote_ = r.hard_state.vote;
  // A persisted commit beyond the persisted log cannot be trusted: clamp it.
  log_.commit_to(std::max(r.hard_state.commit, r.snapshot.index));
  Index applied = r.applied == 0 ? r.snapshot.index : r.applied;
  log_.applied_to(std::min(applied, log_.committed()));
  if (applied > log_.committed()) log_.commit_to(applied);  // the state machine proves it committed
  log_.applied_to(applied);
  self_checkpoint_ = log_.applied();
  prev_hs_ = HardState{term_, vote_, log_.committed()};

  Membership base = r.snapshot.membership;
  if (base.voters.empty() && base.learners.empty()) base = config_.initial_membership;
  conf_history_[log_.snapshot_index()] = normalized(std::move(base));
  record_conf_entries(log_.first_index());
  become_follower(term_, kNoNode);
}

// ---- membership ---------------------------------------------------------------

void Core::record_conf_entries(Index from) {
  // Configurations take effect when appended (dissertation §4.1), so the one
  // in effect is a pure function of the log: rebuild it from `from` on.
  conf_history_.erase(conf_history_.lower_bound(std::max(from, log_.snapshot_index() + 1)), conf_history_.end());
  for (Index i = std::max(from, log_.first_index()); i <= log_.last_index(); ++i) {
    const Entry* e = log_.entry(i);
    if (e->type != EntryType::ConfChange) continue;
    auto cc = ConfChange::decode(e->data);
    if (!cc) continue;  // undecodable: ignored the same way on every node
    auto next = cc->apply_to(conf_history_.rbegin()->second);
    if (next) conf_history_[i] = std::move(*next);
  }
  apply_membership(conf_history_.rbegin()->second);
}

Membership Core::membership_at(Index index) const {
  auto it = conf_history_.upper_bound(index);
  if (it == conf_history_.begin()) return conf_history_.begin()->second;
  return std::prev(it)->second;
}

void Core::rebuild_known() {
  known_.clear();
  auto add = [&](const Membership& m) {
    known_.insert(m.voters.begin(), m.voters.end());
    known_.insert(m.learners.begin(), m.learners.end());
  };
  for (const auto& [index, m] : conf_history_) add(m);
  add(membership_);
}

void Core::apply_membership(const Membership& m) {
  membership_ = m;
  rebuild_known();
  if (state_ != State::Leader) return;
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (!m.contains(it->first)) {
      it = progress_.erase(it);
    } else {
      it->second.learner = m.is_learner(it->first);
      ++it;
    }
  }
  auto add = [&](NodeId id, bool learner) {
    if (id == config_.id || progress_.count(id)) return;
    auto [it, _] = progress_.emplace(id, Progress(log_.last_index() + 1, config_.max_inflight_msgs,
                                                  config_.max_inflight_bytes));
    it->second.learner = learner;
    it->second.recent_active = true;  // give a new member one CheckQuorum period
  };
  for (NodeId id : m.voters) add(id, false);
  for (NodeId id : m.learners) add(id, true);
  if (transferee_ != kNoNode && !m.is_voter(transferee_)) abort_transfer();
}

bool Core::promotable() const { return membership_.is_voter(config_.id); }

Role Core::role() const {
  switch (state_) {
    case State::Leader: return Role::Leader;
    case State::Candidate: return Role::Candidate;
    case State::PreCandidate: return Role::PreCandidate;
    case State::Follower: return membership_.is_learner(config_.id) ? Role::Learner : Role::Follower;
  }
  return Role::Follower;
}

// ---- role changes -------------------------------------------------------------

int Core::rand_int(int n) {
  // splitmix64: small, fast and fully determined by the configured seed.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<int>(z % static_cast<uint64_t>(n));
}

void Core::reset_randomized_timeout() {
  // §5.2: randomized timeouts in [election, 2*election) make split votes rare.
  randomized_timeout_ = config_.election_tick + rand_int(config_.election_tick);
}

void Core::reset(Term term) {
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  abort_transfer();
  votes_.clear();
  progress_.clear();
  pending_reads_.clear();
  reads_waiting_commit_.clear();
  pending_bcast_ = false;
}

void Core::become_follower(Term term, NodeId leader) {
  reset(term);
  state_ = State::Follower;
  leader_ = leader;
}

void Core::become_pre_candidate() {
  // A pre-candidate keeps its term and vote: nothing changes unless it could
  // win (dissertation §9.6).
  votes_.clear();
  progress_.clear();
  leader_ = kNoNode;
  state_ = State::PreCandidate;
}

void Core::become_candidate() {
  reset(term_ + 1);
  vote_ = config_.id;
  state_ = State::Candidate;
}

void Core::become_leader() {
  reset(term_);
  state_ = State::Leader;
  leader_ = config_.id;
  apply_membership(membership_);  // creates progress for every member
  // §5.4.2 / §8: a leader commits entries of earlier terms only by committing
  // one of its own, so append a Noop right away.
  Entry noop;
  noop.type = EntryType::Noop;
  append_entries({noop});
  // Refuse membership changes until the Noop commits (the fix to single-server
  // changes described with dissertation §4.1).
  pending_conf_index_ = log_.last_index();
}

void Core::campaign() {
  if (state_ == State::Leader || !promotable()) return;
  start_campaign(config_.pre_vote, false);
}

void Core::start_campaign(bool pre_vote, bool transfer) {
  Term vote_term;
  MessageType type;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_ + 1;
    type = MessageType::PreVote;
  } else {
    become_candidate();
    vote_term = term_;
    type = MessageType::Vote;
  }
  votes_[config_.id] = true;
  election_elapsed_ = 0;
  poll_and_advance();
  if (state_ == State::Leader || (pre_vote && state_ != State::PreCandidate)) return;
  for (NodeId id : membership_.voters) {
    if (id == config_.id) continue;
    Message m;
    m.type = type;
    m.to = id;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.leader_transfer = transfer;
    send(std::move(m));
  }
}

void Core::poll_and_advance() {
  size_t granted = 0, rejected = 0;
  for (NodeId id : membership_.voters) {  // learners' answers never count
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected)++;
  }
  size_t n = membership_.voters.size();
  size_t q = n / 2 + 1;
  if (granted >= q) {
    if (state_ == State::PreCandidate) {
      start_campaign(false, false);
    } else if (state_ == State::Candidate) {
      become_leader();
    }
  } else if (n - rejected < q) {
    become_follower(term_, kNoNode);
  }
}

// ---- ticks --------------------------------------------------------------------

void Core::tick() {
  if (state_ == State::Leader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Core::tick_election() {
  ++election_elapsed_;
  if (promotable() && past_election_timeout()) {
    election_elapsed_ = 0;
    campaign();
  }
}

void Core::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_tick) {
    election_elapsed_ = 0;
    // CheckQuorum (dissertation §6.2 / §9.6): a leader that has not heard
    // from a quorum in an election timeout steps down, so a partitioned
    // leader stops accepting writes and clients find the real one.
    if (config_.check_quorum && !quorum_active()) {
      become_follower(term_, kNoNode);
      return;
    }
    for (auto& [id, pr] : progress_) pr.recent_active = false;
    // A transfer that has not completed within an election timeout failed.
    if (transferee_ != kNoNode) abort_transfer();
  }
  for (auto& [id, pr] : progress_) {
    if (pr.state != ProgressState::Snapshot) continue;
    // Snapshot chunks lost: resume from the last acknowledged offset.
    if (++pr.snap_idle_ticks >= std::max(2, config_.election_tick / 2)) {
      pr.snap_idle_ticks = 0;
      pr.snap_sent = pr.snap_acked;
      pr.snap_done_sent = false;
      send_snapshot_chunks(id, pr);
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat(pending_reads_.empty() ? std::string() : encode_seq(pending_reads_.back().seq));
  }
}

bool Core::quorum_active() const {
  size_t active = 0;
  for (NodeId id : membership_.voters) {
    if (id == config_.id) {
      ++active;
      continue;
    }
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.recent_active) ++active;
  }
  return active >= membership_.voters.size() / 2 + 1;
}

// ---- proposals ------------------------------------------------------------------

util::Result<Proposed> Core::propose(std::string data) {
  if (state_ != State::Leader) {
    if (leader_ == kNoNode) return util::make_error("not leader; no leader known (election in progress)");
    return util::make_error("not leader; leader is " + std::to_string(leader_));
  }
  if (transferee_ != kNoNode) {
    return util::make_error("leadership transfer to " + std::to_string(transferee_) + " in progress; retry");
  }
  Entry e;
  e.type = EntryType::Normal;
  e.data = std::move(data);
  append_entries({std::move(e)});
  return Proposed{Proposed::Kind::Appended, log_.last_index(), term_, config_.id};
}

util::Result<Proposed> Core::propose_or_forward(std::string data) {
  if (state_ == State::Leader) return propose(std::move(data));
  if (leader_ == kNoNode) return util::make_error("not leader; no leader known (election in progress)");
  Message m;
  m.type = MessageType::Forward;
  m.to = leader_;
  m.term = term_;
  m.data = std::move(data);
  send(std::move(m));
  return Proposed{Proposed::Kind::Forwarded, 0, 0, leader_};
}

util::Result<Proposed> Core::propose_conf_change(ConfChange cc) {
  if (state_ != State::Leader) {
    if (leader_ == kNoNode) return util::make_error("not leader; no leader known (election in progress)");
    return util::make_error("not leader; leader is " + std::to_string(leader_));
  }
  if (transferee_ != kNoNode) {
    return util::make_error("leadership transfer to " + std::to_string(transferee_) + " in progress; retry");
  }
  if (pending_conf_index_ > log_.committed()) {
    return util::make_error("a membership change (or this leader's first entry) at index " +
                            std::to_string(pending_conf_index_) + " is not committed yet; one change at a time");
  }
  auto next = cc.apply_to(membership_);
  if (!next) {
    const char* why = cc.type == ConfChangeType::AddLearner ? "is already a member"
                      : cc.type == ConfChangeType::Promote  ? "is not a learner"
                                                            : "is not a member";
    return util::make_error("membership change refused: node " + std::to_string(cc.node) + " " + why);
  }
  if (next->voters.empty()) return util::make_error("membership change refused: it would remove the last voter");
  Entry e;
  e.type = EntryType::ConfChange;
  e.data = cc.encode();
  append_entries({std::move(e)});
  pending_conf_index_ = log_.last_index();
  return Proposed{Proposed::Kind::Appended, log_.last_index(), term_, config_.id};
}

void Core::append_entries(std::vector<Entry> ents) {
  Index first = log_.last_index() + 1;
  Index i = first;
  for (auto& e : ents) {
    e.index = i++;
    e.term = term_;
  }
  bool has_conf = std::any_of(ents.begin(), ents.end(), [](const Entry& e) { return e.type == EntryType::ConfChange; });
  log_.append(std::move(ents));
  if (has_conf) record_conf_entries(first);
  // Batch: everything proposed before the next ready() goes out together.
  pending_bcast_ = true;
  if (maybe_commit()) after_commit();
}

// ---- commitment -------------------------------------------------------------------

Index Core::quorum_match() const {
  // Each voter supports the entries in [floor, match]: its replica holds
  // everything up to match, and the host's policy counts it from floor on.
  struct Support {
    Index floor = 0;
    Index match = 0;
  };
  std::vector<Support> voters;
  for (NodeId id : membership_.voters) {
    Support s;
    if (id == config_.id) {
      s.match = log_.last_index();
    } else {
      auto it = progress_.find(id);
      s.match = it == progress_.end() ? 0 : it->second.match;
    }
    if (commit_floor_) s.floor = commit_floor_(id);
    voters.push_back(s);
  }
  if (voters.empty()) return 0;
  // The highest index a majority supports is one of the match values.
  const size_t quorum = voters.size() / 2 + 1;
  Index best = 0;
  for (const Support& candidate : voters) {
    const Index n = candidate.match;
    if (n <= best) continue;
    size_t supporters = 0;
    for (const Support& v : voters) supporters += (v.floor <= n && n <= v.match) ? 1 : 0;
    if (supporters >= quorum) best = n;
  }
  return best;
}

bool Core::maybe_commit() {
  Index idx = quorum_match();
  // §5.4.2: only entries of the current term are committed by counting
  // replicas; earlier ones are committed indirectly with them.
  if (idx > log_.committed() && log_.term_at(idx) == term_) {
    log_.commit_to(idx);
    return true;
  }
  return false;
}

void Core::recheck_commit() {
  if (state_ != State::Leader || !maybe_commit()) return;
  bcast_append();  // followers learn the new commit index now
  after_commit();
}

bool Core::committed_in_current_term() const { return log_.term_at(log_.committed()) == term_; }

void Core::after_commit() {
  update_compact_hint();
  if (committed_in_current_term() && !reads_waiting_commit_.empty()) {
    auto waiting = std::move(reads_waiting_commit_);
    reads_waiting_commit_.clear();
    for (auto& [from, ctx] : waiting) handle_read_index_request(from, std::move(ctx));
  }
  step_down_if_removed();
}

void Core::step_down_if_removed() {
  if (state_ != State::Leader || membership_.is_voter(config_.id)) return;
  if (conf_history_.rbegin()->first > log_.committed()) return;
  // Dissertation §4.2.2: a leader removed from the configuration steps down
  // once the change is committed. Tell followers about the commit first, and
  // hand over to the most up-to-date voter so no election timeout is lost.
  bcast_append();
  NodeId best = kNoNode;
  Index best_match = 0;
  for (auto& [id, pr] : progress_) {
    if (!pr.learner && pr.match >= best_match) {
      best = id;
      best_match = pr.match;
    }
  }
  if (best != kNoNode && best_match == log_.last_index()) send_timeout_now(best);
  become_follower(term_, kNoNode);
}

// ---- inbound ------------------------------------------------------------------------

bool Core::validate(const Message& m) {
  if (m.to != config_.id) {
    ++counters_.wrong_recipient;
    return false;
  }
  if (!is_valid_type(m.type) || m.from == kNoNode || m.from == config_.id || m.term == 0) {
    ++counters_.malformed;
    return false;
  }
  // Leader traffic and vote requests are judged by term and log, not by
  // sender: a leader or candidate may have been added to the cluster by
  // entries our log does not hold yet (we are lagging or still joining), and
  // ignoring it could stall the cluster. Every other message must come from a
  // member of some configuration our log still holds (or its snapshot base).
  bool judged_by_term = m.type == MessageType::Append || m.type == MessageType::Heartbeat ||
                        m.type == MessageType::Snapshot || m.type == MessageType::TimeoutNow ||
                        m.type == MessageType::Vote || m.type == MessageType::PreVote;
  if (!judged_by_term && !known_.count(m.from)) {
    ++counters_.unknown_sender;
    return false;
  }
  constexpr Index kMaxIndex = Index{1} << 62;
  if (m.index > kMaxIndex || m.commit > kMaxIndex || m.reject_hint > kMaxIndex || m.entries.size() > kMaxIndex) {
    ++counters_.out_of_range;
    return false;
  }
  if (m.type == MessageType::Append) {
    if (m.log_term > m.term) {
      ++counters_.malformed;
      return false;
    }
    Term prev = m.log_term;
    for (size_t k = 0; k < m.entries.size(); ++k) {
      const Entry& e = m.entries[k];
      if (e.index != m.index + 1 + k || e.term < prev || e.term > m.term || e.term == 0) {
        ++counters_.malformed;
        return false;
      }
      prev = e.term;
    }
  }
  if (m.type == MessageType::Snapshot) {
    if (m.snapshot.index == 0 || m.snapshot.term == 0 || m.snapshot.term > m.term ||
        m.snapshot.membership.voters.empty()) {
      ++counters_.malformed;
      return false;
    }
    if (m.offset > m.snapshot_size || m.data.size() > m.snapshot_size - m.offset ||
        (m.done && m.offset + m.data.size() != m.snapshot_size)) {
      ++counters_.out_of_range;
      return false;
    }
  }
  return true;
}

void Core::step(const Message& m) {
  if (!validate(m)) return;

  if (m.term > term_) {
    if (m.type == MessageType::Vote || m.type == MessageType::PreVote) {
      // Leader lease (dissertation §4.2.3 / §9.6): while we hear from a
      // leader, a vote request is a disruption from a node that lost touch,
      // not a sign the leader is gone. A transfer's campaign is deliberate.
      bool in_lease = config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_tick;
      if (in_lease && !m.leader_transfer) {
        ++counters_.lease_ignored_votes;
        return;
      }
    }
    if (m.type == MessageType::PreVote) {
      // A pre-vote never changes our term.
    } else if (m.type == MessageType::PreVoteResp && !m.reject) {
      // Granted pre-votes carry the term we would campaign at, not a newer one.
    } else if (m.type == MessageType::Append || m.type == MessageType::Heartbeat ||
               m.type == MessageType::Snapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    ++counters_.stale_term;
    if ((config_.check_quorum || config_.pre_vote) &&
        (m.type == MessageType::Append || m.type == MessageType::Heartbeat)) {
      // A leader cut off from us may still be at an old term: with PreVote
      // we never bump its term by campaigning, so tell it ours.
      Message r;
      r.type = MessageType::AppendResp;
      r.to = m.from;
      r.term = term_;
      send(std::move(r));
    } else if (m.type == MessageType::PreVote) {
      Message r;
      r.type = MessageType::PreVoteResp;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  switch (m.type) {
    case MessageType::PreVote:
    case MessageType::Vote:
      handle_vote(m);
      return;
    default:
      break;
  }
  switch (state_) {
    case State::Leader: step_leader(m); break;
    case State::Candidate:
    case State::PreCandidate: step_candidate(m); break;
    case State::Follower: step_follower(m); break;
  }
}

void Core::handle_vote(const Message& m) {
  bool pre = m.type == MessageType::PreVote;
  // §5.2: one vote per term, first come first served; a pre-vote for a
  // future term promises nothing.
  bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  Message r;
  r.type = pre ? MessageType::PreVoteResp : MessageType::VoteResp;
  r.to = m.from;
  // §5.4.1: never vote for a log less up to date than ours.
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Core::step_leader(const Message& m) {
  switch (m.type) {
    case MessageType::Forward:
      if (transferee_ != kNoNode) {
        ++counters_.dropped_proposals;
        return;
      }
      {
        Entry e;
        e.type = EntryType::Normal;
        e.data = m.data;
        append_entries({std::move(e)});
      }
      return;
    case MessageType::ReadIndex:
      handle_read_index_request(m.from, m.context);
      return;
    case MessageType::AppendResp:
    case MessageType::HeartbeatResp:
    case MessageType::SnapshotResp:
    case MessageType::AppliedReport: {
      auto it = progress_.find(m.from);
      if (it == progress_.end()) {
        ++counters_.unknown_sender;
        return;
      }
      Progress& pr = it->second;
      // This answer is a sign of life for CheckQuorum.
      pr.recent_active = true;
      note_peer_applied(pr, m.applied);
      if (m.type == MessageType::AppendResp) handle_append_resp(m, pr);
      if (m.type == MessageType::HeartbeatResp) handle_heartbeat_resp(m, pr);
      if (m.type == MessageType::SnapshotResp) handle_snapshot_resp(m, pr);
      return;
    }
    case MessageType::Append:
    case MessageType::Heartbeat:
    case MessageType::Snapshot:
      // Two leaders in one term cannot exist (Election Safety): never trust it.
      ++counters_.malformed;
      return;
    default:
      return;  // stale vote answers, TimeoutNow to a leader, ...
  }
}

void Core::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::Append:
    case MessageType::Heartbeat:
    case MessageType::Snapshot:
      // A leader of our term exists: it won (§5.2).
      become_follower(term_, m.from);
      step_follower(m);
      return;
    case MessageType::PreVoteResp:
    case MessageType::VoteResp:
      if ((m.type == MessageType::PreVoteResp) != (state_ == State::PreCandidate)) return;
      votes_[m.from] = !m.reject;
      poll_and_advance();
      return;
    case MessageType::Forward:
      ++counters_.dropped_proposals;
      return;
    default:
      return;
  }
}

void Core::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::Append:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      return;
    case MessageType::Heartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      return;
    case MessageType::Snapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot_chunk(m);
      return;
    case MessageType::ReadIndexResp:
      if (m.from == leader_) read_states_.push_back(ReadState{m.index, m.context});
      return;
    case MessageType::TimeoutNow:
      // Dissertation §3.10: the leader asks us to start an election now,
      // skipping PreVote; voters will not hold their lease against us.
      if (promotable()) start_campaign(false, true);
      return;
    case MessageType::Forward:
      // Never relay: the sender's view of the leader is stale; it retries.
      ++counters_.dropped_proposals;
      return;
    default:
      return;
  }
}

void Core::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::AppendResp;
  r.to = m.from;
  r.term = term_;
  learn_compact_hint(m.compact_hint);
  if (m.index < log_.committed()) {
    // Everything through our commit index matches the leader already.
    r.index = log_.committed();
    r.applied = self_checkpoint_;
    send(std::move(r));
    return;
  }
  Index old_last = log_.last_index();
  std::optional<Index> truncated;
  auto last_new = log_.maybe_append(m.index, m.log_term, m.entries, &truncated);
  if (last_new) {
    if (truncated) {
      record_conf_entries(*truncated);
    } else if (log_.last_index() > old_last) {
      record_conf_entries(old_last + 1);
    }
    log_.commit_to(std::min(m.commit, *last_new));
    r.index = *last_new;
  } else {
    // §5.3 consistency check failed. Fast backtracking: point the leader at
    // the last entry we hold whose term is <= its, so it can skip whole terms.
    Index hint = std::min(m.index, log_.last_index());
    auto [hi, ht] = log_.find_conflict_by_term(hint, m.log_term);
    r.reject = true;
    r.index = m.index;
    r.reject_hint = hi;
    r.hint_term = ht;
  }
  r.applied = self_checkpoint_;
  send(std::move(r));
}

void Core::handle_heartbeat(const Message& m) {
  // The leader sends min(our match, its commit): safe to commit locally.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  learn_compact_hint(m.compact_hint);
  Message r;
  r.type = MessageType::HeartbeatResp;
  r.to = m.from;
  r.term = term_;
  r.context = m.context;
  r.applied = self_checkpoint_;
  send(std::move(r));
}

void Core::handle_snapshot_chunk(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  if (meta.index <= log_.committed()) {
    // Already have it all: report our commit so the leader moves on (§7).
    Message r;
    r.type = MessageType::AppendResp;
    r.to = m.from;
    r.term = term_;
    r.index = log_.committed();
    r.applied = self_checkpoint_;
    send(std::move(r));
    return;
  }
  Message r;
  r.type = MessageType::SnapshotResp;
  r.to = m.from;
  r.term = term_;
  r.snapshot = meta;
  r.applied = self_checkpoint_;
  if (incoming_.meta != meta || incoming_.from != m.from) {
    if (m.offset != 0) {
      // Not the snapshot we were assembling: ask for a restart from 0.
      r.reject = true;
      r.offset = 0;
      send(std::move(r));
      return;
    }
    incoming_ = Incoming{meta, m.from, std::string()};
  }
  if (m.offset > incoming_.data.size()) {
    // A gap: ask the leader to resume from what we have.
    r.reject = true;
    r.offset = incoming_.data.size();
    send(std::move(r));
    return;
  }
  if (m.offset + m.data.size() > incoming_.data.size()) {
    incoming_.data.append(m.data, incoming_.data.size() - m.offset, std::string::npos);
  }
  r.offset = incoming_.data.size();
  if (!m.done || incoming_.data.size() != m.snapshot_size) {
    send(std::move(r));
    return;
  }
  // Complete. §7: if our log holds the snapshot's last entry, keep the log
  // after it; otherwise discard the log and install the snapshot.
  if (log_.match_term(meta.index, meta.term)) {
    log_.commit_to(meta.index);
  } else {
    log_.restore(meta.index, meta.term);
    conf_history_.clear();
    conf_history_[meta.index] = normalized(meta.membership);
    apply_membership(conf_history_.rbegin()->second);
    pending_install_ = Snapshot{meta, std::move(incoming_.data)};
  }
  incoming_ = Incoming{};
  r.done = true;
  r.index = meta.index;
  send(std::move(r));
}

void Core::note_peer_applied(Progress& pr, Index applied) {
  if (applied > pr.applied && applied <= log_.last_index()) {
    pr.applied = applied;
    update_compact_hint();
  }
}

void Core::handle_append_resp(const Message& m, Progress& pr) {
  if (m.index > log_.last_index()) {
    ++counters_.out_of_range;
    return;
  }
  if (m.reject) {
    // Fast backtracking: skip to the last index of the follower's hint term
    // that we also hold, instead of one entry per round trip.
    Index next_hint = m.reject_hint + 1;
    if (m.hint_term > 0) next_hint = log_.find_conflict_by_term(m.reject_hint, m.hint_term).first + 1;
    if (pr.maybe_decr_to(m.index, next_hint)) {
      if (pr.state == ProgressState::Replicate) {
        Index n = pr.next;
        pr.become_probe();
        pr.next = n;
      }
      maybe_send_append(m.from, true);
    }
    return;
  }
  bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index)) {
    if (pr.state == ProgressState::Replicate) pr.inflights.free_to(m.index);
    return;
  }
  switch (pr.state) {
    case ProgressState::Probe: pr.become_replicate(); break;
    case ProgressState::Snapshot:
      if (pr.match >= pr.pending_snapshot) pr.become_probe();
      break;
    case ProgressState::Replicate: pr.inflights.free_to(m.index); break;
  }
  if (maybe_commit()) {
    bcast_append();
    after_commit();
    if (state_ != State::Leader) return;
  } else if (was_paused) {
    // The follower was held back (probing) and may have missed commit
    // updates meanwhile: send them even with no new entries.
    maybe_send_append(m.from, true);
  }
  send_appends(m.from);
  if (m.from == transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
}

void Core::handle_heartbeat_resp(const Message& m, Progress& pr) {
  pr.probe_sent = false;
  if (pr.match < log_.last_index()) {
    if (pr.state == ProgressState::Replicate && pr.match == pr.match_at_heartbeat) {
      // No progress over a whole heartbeat round while behind: Appends were
      // lost. Probe from the known match again.
      pr.become_probe();
    }
    maybe_send_append(m.from, true);
  }
  pr.match_at_heartbeat = pr.match;

  // ReadIndex (§6.4): an answer to the heartbeat carrying read `seq`
  // confirms leadership for that read and all earlier ones.
  auto seq = decode_seq(m.context);
  if (!seq) return;
  for (size_t i = 0; i < pending_reads_.size(); ++i) {
    if (pending_reads_[i].seq != *seq) continue;
    pending_reads_[i].acks[m.from] = true;
    size_t acks = 0;
    for (NodeId id : membership_.voters) {
      if (id == config_.id || pending_reads_[i].acks.count(id)) ++acks;
    }
    if (acks >= membership_.voters.size() / 2 + 1) release_reads_upto(i);
    return;
  }
}

void Core::handle_snapshot_resp(const Message& m, Progress& pr) {
  if (m.done && !m.reject) {
    if (m.index > log_.last_index() && m.index != snap_meta_.index) {
      ++counters_.out_of_range;
      return;
    }
    pr.maybe_update(std::min(m.index, log_.last_index()));
    if (pr.state == ProgressState::Snapshot) pr.become_probe();
    send_appends(m.from);
    return;
  }
  if (pr.state != ProgressState::Snapshot || m.snapshot.index != pr.pending_snapshot) return;
  uint64_t size = snap_data_ ? snap_data_->size() : 0;
  if (m.offset > size) {
    ++counters_.out_of_range;
    return;
  }
  pr.snap_idle_ticks = 0;
  if (m.reject) {
    // Resume where the follower says it is (0 = restart).
    pr.snap_sent = m.offset;
    pr.snap_acked = m.offset;
    pr.snap_done_sent = false;
  } else {
    pr.snap_acked = std::max<uint64_t>(pr.snap_acked, m.offset);
  }
  send_snapshot_chunks(m.from, pr);
}

// ---- ReadIndex ------------------------------------------------------------------------

util::Result<void> Core::read_index(std::string context) {
  if (state_ == State::Leader) {
    handle_read_index_request(kNoNode, std::move(context));
    return {};
  }
  if (leader_ == kNoNode) return util::make_error("no leader known to confirm a read; retry after the election");
  Message m;
  m.type = MessageType::ReadIndex;
  m.to = leader_;
  m.term = term_;
  m.context = std::move(context);
  send(std::move(m));
  return {};
}

void Core::handle_read_index_request(NodeId from, std::string context) {
  // §6.4 step 1: the leader must know the latest commit index, which it
  // does only after committing an entry of its own term.
  if (!committed_in_current_term()) {
    reads_waiting_commit_.emplace_back(from, std::move(context));
    return;
  }
  PendingRead pr;
  pr.index = log_.committed();
  pr.context = std::move(context);
  pr.requester = from;
  pr.seq = ++read_seq_;
  pending_reads_.push_back(std::move(pr));
  if (membership_.voters.size() == 1 && membership_.is_voter(config_.id)) {
    release_reads_upto(pending_reads_.size() - 1);
    return;
  }
  // §6.4 step 3: confirm leadership with a round of heartbeats.
  bcast_heartbeat(encode_seq(read_seq_));
}

void Core::release_reads_upto(size_t pos) {
  for (size_t i = 0; i <= pos; ++i) {
    PendingRead& r = pending_reads_[i];
    if (r.requester == kNoNode) {
      read_states_.push_back(ReadState{r.index, std::move(r.context)});
    } else {
      Message m;
      m.type = MessageType::ReadIndexResp;
      m.to = r.requester;
      m.term = term_;
      m.index = r.index;
      m.context = std::move(r.context);
      send(std::move(m));
    }
  }
  pending_reads_.erase(pending_reads_.begin(), pending_reads_.begin() + static_cast<std::ptrdiff_t>(pos + 1));
}

// ---- leadership transfer ----------------------------------------------------------------

util::Result<void> Core::transfer_leadership(NodeId target) {
  if (state_ != State::Leader) return util::make_error("not leader; only the leader can transfer leadership");
  if (target == config_.id) return {};
  if (!membership_.is_voter(target)) {
    return util::make_error("cannot transfer leadership to " + std::to_string(target) + ": not a voter");
  }
  if (transferee_ == target) return {};
  transferee_ = target;
  election_elapsed_ = 0;  // the transfer has one election timeout to finish
  Progress& pr = progress_.at(target);
  if (pr.match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    send_appends(target);
  }
  return {};
}

void Core::abort_transfer() { transferee_ = kNoNode; }

void Core::send_timeout_now(NodeId to) {
  Message m;
  m.type = MessageType::TimeoutNow;
  m.to = to;
  m.term = term_;
  send(std::move(m));
}

// ---- outbound ----------------------------------------------------------------------------

void Core::send(Message m) {
  m.from = config_.id;
  msgs_.push_back(std::move(m));
}

void Core::bcast_append() {
  for (auto& [id, pr] : progress_) maybe_send_append(id, true);
}

void Core::send_appends(NodeId to) {
  // Fill the pipeline: several Appends per round trip in Replicate state.
  while (maybe_send_append(to, false)) {
    auto it = progress_.find(to);
    if (it == progress_.end() || it->second.state != ProgressState::Replicate) break;
  }
}

void Core::bcast_heartbeat(const std::string& context) {
  for (auto& [id, pr] : progress_) send_heartbeat(id, context);
}

void Core::send_heartbeat(NodeId to, const std::string& context) {
  const Progress& pr = progress_.at(to);
  Message m;
  m.type = MessageType::Heartbeat;
  m.to = to;
  m.term = term_;
  // Only what the follower is known to hold may be committed by it.
  m.commit = std::min(pr.match, log_.committed());
  m.context = context;
  m.compact_hint = compact_hint_;
  send(std::move(m));
}

bool Core::maybe_send_append(NodeId to, bool send_if_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.is_paused()) return false;
  Index prev = pr.next - 1;
  auto prev_term = log_.term_at(prev);
  if (!prev_term) {
    // The entries this follower needs were compacted: send a snapshot (§7).
    if (snap_data_ && snap_meta_.index >= log_.snapshot_index()) {
      pr.become_snapshot(snap_meta_.index);
      send_snapshot_chunks(to, pr);
    } else {
      need_snapshot_ = true;
    }
    return false;
  }
  std::vector<Entry> ents = log_.slice(pr.next, log_.last_index() + 1, config_.max_msg_bytes);
  if (ents.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::Append;
  m.to = to;
  m.term = term_;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  m.compact_hint = compact_hint_;
  if (!ents.empty()) {
    pr.sent_entries(ents.back().index, entry_bytes(ents));
  } else if (pr.state == ProgressState::Probe) {
    pr.probe_sent = true;
  }
  m.entries = std::move(ents);
  send(std::move(m));
  return true;
}

void Core::send_snapshot_chunks(NodeId to, Progress& pr) {
  if (!snap_data_ || snap_meta_.index < pr.pending_snapshot) {
    pr.become_probe();
    return;
  }
  if (snap_meta_.index != pr.pending_snapshot) pr.become_snapshot(snap_meta_.index);  // a newer one exists
  const std::string& data = *snap_data_;
  uint64_t window = config_.snapshot_chunk_bytes * config_.snapshot_window_chunks;
  while (!pr.snap_done_sent && pr.snap_sent - pr.snap_acked < window) {
    uint64_t len = std::min<uint64_t>(config_.snapshot_chunk_bytes, data.size() - pr.snap_sent);
    Message m;
    m.type = MessageType::Snapshot;
    m.to = to;
    m.term = term_;
    m.snapshot = snap_meta_;
    m.offset = pr.snap_sent;
    m.snapshot_size = data.size();
    m.data = data.substr(pr.snap_sent, len);
    m.done = pr.snap_sent + len == data.size();
    pr.snap_sent += len;
    if (m.done) pr.snap_done_sent = true;
    send(std::move(m));
  }
}

// ---- snapshots, compaction, prune policy ----------------------------------------------------

util::Result<SnapshotMeta> Core::snapshot_meta_for(Index index) const {
  auto t = log_.term_at(index);
  if (!t || index > log_.last_index()) {
    return util::make_error("no log entry at index " + std::to_string(index) + " (log holds [" +
                            std::to_string(log_.snapshot_index()) + ", " + std::to_string(log_.last_index()) + "])");
  }
  return SnapshotMeta{index, *t, membership_at(index)};
}

util::Result<void> Core::set_snapshot(SnapshotMeta meta, std::shared_ptr<const std::string> data) {
  if (!data) return util::make_error("set_snapshot: no data");
  if (meta.index > log_.applied()) {
    return util::make_error("set_snapshot: snapshot index " + std::to_string(meta.index) + " is beyond applied " +
                            std::to_string(log_.applied()));
  }
  if (snap_data_ && meta.index < snap_meta_.index) return {};  // keep the newer one
  auto t = log_.term_at(meta.index);
  if (t && *t != meta.term) {
    return util::make_error("set_snapshot: snapshot term " + std::to_string(meta.term) + " does not match log term " +
                            std::to_string(*t) + " at index " + std::to_string(meta.index));
  }
  snap_meta_ = std::move(meta);
  snap_data_ = std::move(data);
  return {};
}

util::Result<void> Core::compact(Index index, std::vector<Entry>* dropped) {
  if (index <= log_.snapshot_index()) return {};
  if (index > log_.applied()) {
    return util::make_error("compact: index " + std::to_string(index) + " is beyond applied " +
                            std::to_string(log_.applied()));
  }
  if (!snap_data_ || snap_meta_.index < index) {
    return util::make_error("compact: no snapshot at or after index " + std::to_string(index) +
                            "; call set_snapshot first");
  }
  Membership base = membership_at(index);
  log_.compact(index, dropped);
  conf_history_.erase(conf_history_.begin(), conf_history_.upper_bound(index));
  conf_history_[index] = std::move(base);
  rebuild_known();
  return {};
}

void Core::report_checkpoint(Index index) {
  if (index <= self_checkpoint_) return;
  self_checkpoint_ = index;
  if (state_ == State::Leader) {
    update_compact_hint();
  } else if (leader_ != kNoNode) {
    Message m;
    m.type = MessageType::AppliedReport;
    m.to = leader_;
    m.term = term_;
    m.applied = index;
    send(std::move(m));
  }
}

void Core::update_compact_hint() {
  if (state_ != State::Leader) return;
  // docs/design.md, "the log stays bounded": the lowest durably applied index over
  // all members, but a member lagging more than max_log_lag_entries stops
  // holding the log back (it will get a snapshot instead).
  Index low = self_checkpoint_;
  for (auto& [id, pr] : progress_) low = std::min(low, pr.applied);
  Index last = log_.last_index();
  Index floor = last > config_.max_log_lag_entries ? last - config_.max_log_lag_entries : 0;
  Index hint = std::min({std::max(low, floor), self_checkpoint_, log_.committed()});
  if (hint > compact_hint_) compact_hint_ = hint;
}

void Core::learn_compact_hint(Index hint) {
  if (hint > compact_hint_) compact_hint_ = hint;
}

bool Core::is_caught_up(NodeId node, Index max_lag) const {
  if (state_ != State::Leader) return false;
  auto it = progress_.find(node);
  if (it == progress_.end()) return false;
  return it->second.match + max_lag >= log_.last_index();
}

// ---- Ready ---------------------------------------------------------------------------------

bool Core::has_ready() const {
  if (!msgs_.empty() || log_.has_unstable() || pending_install_ || !read_states_.empty() || need_snapshot_) return true;
  if (state_ == State::Leader && pending_bcast_) return true;
  if (HardState{term_, vote_, log_.committed()} != prev_hs_) return true;
  if (log_.committed() > log_.applied()) return true;
  if (compact_hint_ != reported_compact_hint_) return true;
  return false;
}

Ready Core::ready() {
  if (state_ == State::Leader && pending_bcast_) {
    pending_bcast_ = false;
    bcast_append();
  }
  Ready rd;
  handed_ = Handed{};
  handed_.active = true;
  if (pending_install_) {
    handed_.snapshot = pending_install_->meta;
    rd.snapshot = std::move(pending_install_);
    pending_install_.reset();
  }
  rd.entries = log_.unstable_entries();
  if (!rd.entries.empty()) {
    handed_.last_entry_index = rd.entries.back().index;
    handed_.last_entry_term = rd.entries.back().term;
  }
  HardState hs{term_, vote_, log_.committed()};
  if (hs != prev_hs_) {
    rd.hard_state = hs;
    rd.term_or_vote_changed = hs.term != prev_hs_.term || hs.vote != prev_hs_.vote;
    prev_hs_ = hs;
  }
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.committed_entries = log_.next_committed(log_.applied(), config_.max_apply_bytes);
  handed_.applied_to = rd.committed_entries.empty() ? log_.applied() : rd.committed_entries.back().index;
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  if (compact_hint_ != reported_compact_hint_) {
    rd.compact_hint = compact_hint_;
    reported_compact_hint_ = compact_hint_;
  }
  rd.need_snapshot = need_snapshot_;
  need_snapshot_ = false;
  return rd;
}

void Core::advance() {
  if (!handed_.active) return;
  if (handed_.last_entry_index != 0) log_.stable_to(handed_.last_entry_index, handed_.last_entry_term);
  log_.applied_to(handed_.applied_to);
  handed_ = Handed{};
}

// ---- status -----------------------------------------------------------------------------------

Status Core::status() const {
  Status s;
  s.id = config_.id;
  s.role = role();
  s.term = term_;
  s.vote = vote_;
  s.leader = leader_;
  s.commit = log_.committed();
  s.applied = log_.applied();
  s.first_index = log_.first_index();
  s.last_index = log_.last_index();
  s.compact_hint = compact_hint_;
  s.membership = membership_;
  s.transferee = transferee_;
  for (const auto& [id, pr] : progress_) {
    PeerStatus p;
    p.id = id;
    p.learner = pr.learner;
    p.match = pr.match;
    p.next = pr.next;
    p.state = pr.state;
    p.applied = pr.applied;
    p.recent_active = pr.recent_active;
    s.peers.push_back(p);
  }
  return s;
}

}  // namespace raft
