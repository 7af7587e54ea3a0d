// The simulated cluster: seeded network faults, crash/restart from modelled
// disks, client traffic, membership changes and snapshots around real cores.
#include "cluster.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace raft::sim {

constexpr uint64_t kTickUnits = 10;

std::vector<FaultMix> standard_mixes() {
  std::vector<FaultMix> mixes;
  FaultMix calm;
  calm.name = "calm";
  calm.membership = 0.03;
  calm.transfer = 0.01;
  mixes.push_back(calm);

  FaultMix lossy;
  lossy.name = "lossy";
  lossy.drop = 0.2;
  lossy.duplicate = 0.1;
  lossy.max_delay = 30;  // up to three ticks: heavy reordering
  mixes.push_back(lossy);

  FaultMix parts;
  parts.name = "partitions";
  parts.drop = 0.03;
  parts.partition = 0.04;
  parts.one_way = 0.03;
  parts.max_delay = 12;
  mixes.push_back(parts);

  FaultMix crashes;
  crashes.name = "crashes";
  crashes.drop = 0.05;
  crashes.duplicate = 0.05;
  crashes.crash = 0.04;
  crashes.max_delay = 12;
  mixes.push_back(crashes);

  FaultMix members;
  members.name = "membership";
  members.drop = 0.08;
  members.duplicate = 0.03;
  members.max_delay = 15;
  members.crash = 0.015;
  members.membership = 0.08;
  members.transfer = 0.02;
  mixes.push_back(members);

  FaultMix chaos;
  chaos.name = "chaos";
  chaos.drop = 0.1;
  chaos.duplicate = 0.05;
  chaos.max_delay = 25;
  chaos.partition = 0.02;
  chaos.one_way = 0.02;
  chaos.crash = 0.02;
  chaos.membership = 0.04;
  chaos.transfer = 0.02;
  mixes.push_back(chaos);

  FaultMix slow;
  slow.name = "slow";  // delays up to 5 ticks: answers overtake Appends, heartbeats race
  slow.drop = 0.03;
  slow.duplicate = 0.03;
  slow.min_delay = 5;
  slow.max_delay = 50;
  slow.crash = 0.01;
  slow.membership = 0.03;
  mixes.push_back(slow);

  FaultMix classic;
  classic.name = "classic";
  classic.classic = true;
  classic.drop = 0.05;
  classic.duplicate = 0.03;
  classic.max_delay = 15;
  classic.partition = 0.03;
  classic.one_way = 0.02;
  classic.crash = 0.02;
  classic.membership = 0.03;
  classic.transfer = 0.01;
  mixes.push_back(classic);
  return mixes;
}

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

namespace {


std::string encode_state(Index applied, uint64_t hash) {
  // Padding makes snapshots span several chunks.
  std::string s = "S" + std::to_string(applied) + ":" + std::to_string(hash) + ":";
  s.append(200, 'x');
  return s;
}

bool decode_state(const std::string& s, Index* applied, uint64_t* hash) {
  unsigned long long a = 0, h = 0;
  if (std::sscanf(s.c_str(), "S%llu:%llu:", &a, &h) != 2) return false;
  *applied = a;
  *hash = h;
  return true;
}

}  // namespace

Cluster::Cluster(SimOptions opts) : opts_(std::move(opts)), rng_(opts_.seed * 0x2545F4914F6CDD1DULL + opts_.nodes) {
  for (int i = 1; i <= opts_.nodes; ++i) bootstrap_.voters.push_back(static_cast<NodeId>(i));
  next_id_ = static_cast<NodeId>(opts_.nodes);
  for (NodeId id : bootstrap_.voters) {
    auto n = std::make_unique<Node>();
    n->id = id;
    n->tick_phase = static_cast<int>(rng_.below(kTickUnits));
    nodes_[id] = std::move(n);
    boot(*nodes_[id]);
  }
}

void Cluster::trace(const std::string& line) const {
  if (opts_.trace) std::cout << "[t=" << now_ << "] " << line << "\n";
}

void Cluster::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = what + " (time " + std::to_string(now_) + ", tick " + std::to_string(current_tick_) + ")";
  trace("FAIL: " + result_.failure);
}

Config Cluster::config_for(NodeId id) const {
  Config c;
  c.id = id;
  c.initial_membership = bootstrap_;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.seed = opts_.seed * 1000003 + id;
  c.max_msg_bytes = 64;  // small: exercises batching limits
  c.max_inflight_msgs = 4;
  c.max_inflight_bytes = 1024;
  c.snapshot_chunk_bytes = 64;
  c.snapshot_window_chunks = 2;
  c.max_log_lag_entries = 40;
  if (opts_.mix.classic) {
    c.pre_vote = false;
    c.check_quorum = false;
  }
  return c;
}

void Cluster::boot(Node& n) {
  Restored r;
  r.hard_state = n.disk.hard_state;
  r.snapshot = n.disk.snap_meta;
  for (const auto& e : n.disk.entries) {
    if (e.index > n.disk.snap_meta.index) r.entries.push_back(e);
  }
  auto core = Core::create(config_for(n.id), std::move(r));
  if (!core) {
    fail("node " + std::to_string(n.id) + " cannot restart: " + core.error().message);
    return;
  }
  n.core = std::move(*core);
  n.applied = 0;
  n.hash = 0;
  if (n.disk.snap_meta.index > 0) {
    if (!decode_state(n.disk.snap_data, &n.applied, &n.hash)) fail("bad snapshot on disk");
    auto data = std::make_shared<const std::string>(n.disk.snap_data);
    auto ok = n.core->set_snapshot(n.disk.snap_meta, data);
    if (!ok) fail("set_snapshot after restart: " + ok.error().message);
    n.core->report_checkpoint(n.applied);
  }
  trace("boot node " + std::to_string(n.id) + " term " + std::to_string(n.core->term()) + " last " +
        std::to_string(n.core->last_index()));
  check(n);
}

void Cluster::crash(Node& n) {
  trace("crash node " + std::to_string(n.id));
  n.core.reset();
  n.pending.clear();
  inv_.forget(n.id);
  n.down_until_tick = current_tick_ + 5 + static_cast<int>(rng_.below(35));
}

void Cluster::check(Node& n) {
  if (!n.core || !result_.ok) return;
  if (auto err = inv_.check(*n.core)) fail(*err);
}

bool Cluster::link_up(NodeId from, NodeId to) const {
  if (!group_.empty()) {
    auto a = group_.find(from), b = group_.find(to);
    int ga = a == group_.end() ? 0 : a->second;
    int gb = b == group_.end() ? 0 : b->second;
    if (ga != gb) return false;
  }
  return cut_.count({from, to}) == 0;
}

void Cluster::send(const Message& m) {
  int copies = 1;
  if (faults_on_) {
    if (rng_.chance(opts_.mix.drop)) return;
    if (rng_.chance(opts_.mix.duplicate)) copies = 2;
  }
  for (int i = 0; i < copies; ++i) {
    int span = opts_.mix.max_delay - opts_.mix.min_delay + 1;
    uint64_t delay = static_cast<uint64_t>(opts_.mix.min_delay) + rng_.below(static_cast<uint64_t>(span));
    queue_.push(Event{now_ + delay, seq_++, m.to, m});
  }
}

void Cluster::deliver(const Event& ev) {
  now_ = std::max(now_, ev.time);
  auto it = nodes_.find(ev.to);
  if (it == nodes_.end() || !it->second->core || it->second->retired) return;
  if (!link_up(ev.msg.from, ev.to)) return;
  Node& n = *it->second;
  ++result_.events;
  if (opts_.trace) {
    trace(std::to_string(ev.msg.from) + "->" + std::to_string(ev.to) + " " + message_type_name(ev.msg.type) + " term " +
          std::to_string(ev.msg.term) + " idx " + std::to_string(ev.msg.index) + " lt " +
          std::to_string(ev.msg.log_term) + " n=" + std::to_string(ev.msg.entries.size()) + " commit " +
          std::to_string(ev.msg.commit) + (ev.msg.reject ? " REJECT" : ""));
  }
  n.core->step(ev.msg);
  process_ready(n);
  check(n);
}

void Cluster::apply(Node& n, const Entry& e) {
  if (e.index != n.applied + 1) {
    fail("node " + std::to_string(n.id) + " got committed entry " + std::to_string(e.index) + " after applying " +
         std::to_string(n.applied));
    return;
  }
  n.hash = hash_bytes(e.data, n.hash * 31 + e.term * 7 + static_cast<uint64_t>(e.type));
  n.applied = e.index;
  if (auto err = inv_.note_applied(n.id, e.index, n.hash)) fail(*err);
  if (e.type == EntryType::ConfChange) ++result_.conf_changes;
  auto p = n.pending.find(e.index);
  if (p != n.pending.end()) {
    if (p->second.first == e.term && p->second.second == e.data) {
      // The proposer applied its own entry: the client gets its answer.
      ++result_.acked;
      max_acked_index_ = std::max(max_acked_index_, e.index);
    }
  }
  n.pending.erase(n.pending.begin(), n.pending.upper_bound(e.index));
}

void Cluster::checkpoint(Node& n) {
  auto meta = n.core->snapshot_meta_for(n.applied);
  if (!meta) {
    fail("snapshot_meta_for: " + meta.error().message);
    return;
  }
  std::string data = encode_state(n.applied, n.hash);
  auto ok = n.core->set_snapshot(*meta, std::make_shared<const std::string>(data));
  if (!ok) {
    fail("set_snapshot: " + ok.error().message);
    return;
  }
  n.disk.snap_meta = *meta;
  n.disk.snap_data = std::move(data);
  n.core->report_checkpoint(n.applied);
}

void Cluster::process_ready(Node& n) {
  while (n.core && n.core->has_ready() && result_.ok) {
    Ready rd = n.core->ready();
    // 1. Snapshot: persist, drop the durable log, install.
    if (rd.snapshot) {
      n.disk.snap_meta = rd.snapshot->meta;
      n.disk.snap_data = rd.snapshot->data;
      n.disk.entries.clear();
      if (!decode_state(rd.snapshot->data, &n.applied, &n.hash)) fail("bad snapshot received");
      if (auto err = inv_.note_applied(n.id, n.applied, n.hash)) fail(*err);
      n.pending.erase(n.pending.begin(), n.pending.upper_bound(n.applied));
      ++result_.snapshots_installed;
    }
    // 2. Entries and hard state become durable.
    if (!rd.entries.empty()) {
      Index first = rd.entries.front().index;
      auto& d = n.disk.entries;
      d.erase(std::remove_if(d.begin(), d.end(), [&](const Entry& e) { return e.index >= first; }), d.end());
      d.insert(d.end(), rd.entries.begin(), rd.entries.end());
    }
    if (rd.hard_state) n.disk.hard_state = *rd.hard_state;
    // A crash here loses only what was not persisted: the messages.
    if (faults_on_ && rng_.chance(opts_.mix.crash * 0.02)) {
      crash(n);
      return;
    }
    // 3. Send.
    for (const auto& m : rd.messages) send(m);
    // 4. Apply.
    for (const auto& e : rd.committed_entries) apply(n, e);
    for (const auto& rs : rd.read_states) {
      auto it = reads_.find(rs.context);
      if (it == reads_.end()) continue;
      if (rs.index < it->second) {
        fail("ReadIndex: read " + rs.context + " got index " + std::to_string(rs.index) + " but index " +
             std::to_string(it->second) + " was committed before it was asked");
      }
      ++result_.reads;
      reads_.erase(it);
    }
    n.core->advance();
    // 5. Checkpoint now and then; compact as far as the leader allows.
    if (rd.need_snapshot || n.applied >= n.disk.snap_meta.index + 15) checkpoint(n);
    Index hint = std::min(n.core->status().compact_hint, n.disk.snap_meta.index);
    if (hint > n.core->log().snapshot_index()) {
      auto ok = n.core->compact(hint);
      if (!ok) fail("compact: " + ok.error().message);
      auto& d = n.disk.entries;
      d.erase(std::remove_if(d.begin(), d.end(), [&](const Entry& e) { return e.index <= hint; }), d.end());
    }
  }
}

Cluster::Node* Cluster::find_leader() {
  Node* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (!n->core || n->retired || n->core->role() != Role::Leader) continue;
    if (!best || n->core->term() > best->core->term()) best = n.get();
  }
  return best;
}

void Cluster::membership_action(Node& leader) {
  Core& core = *leader.core;
  const Membership& m = core.membership();
  int choice = static_cast<int>(rng_.below(3));
  if (choice == 0 && next_id_ < static_cast<NodeId>(opts_.nodes + 3)) {
    NodeId id = next_id_ + 1;
    auto r = core.propose_conf_change(ConfChange{ConfChangeType::AddLearner, id});
    if (!r) return;
    ++next_id_;
    auto n = std::make_unique<Node>();
    n->id = id;
    n->tick_phase = static_cast<int>(rng_.below(kTickUnits));
    nodes_[id] = std::move(n);
    trace("add learner " + std::to_string(id));
    boot(*nodes_[id]);
  } else if (choice == 1) {
    for (NodeId l : m.learners) {
      if (core.is_caught_up(l, 2) && m.voters.size() < static_cast<size_t>(opts_.nodes + 2)) {
        if (core.propose_conf_change(ConfChange{ConfChangeType::Promote, l})) trace("promote " + std::to_string(l));
        return;
      }
    }
  } else {
    size_t min_voters = opts_.nodes == 3 ? 2 : 3;
    std::vector<NodeId> candidates = m.learners;
    if (m.voters.size() > min_voters) candidates.insert(candidates.end(), m.voters.begin(), m.voters.end());
    if (candidates.empty()) return;
    NodeId victim = candidates[rng_.below(candidates.size())];
    if (core.propose_conf_change(ConfChange{ConfChangeType::Remove, victim})) trace("remove " + std::to_string(victim));
  }
}

void Cluster::chaos_actions(int tick) {
  const FaultMix& mix = opts_.mix;
  if ((!group_.empty() || !cut_.empty()) && tick >= partition_until_) {
    trace("partition healed");
    group_.clear();
    cut_.clear();
  }
  std::vector<NodeId> ids;
  for (auto& [id, n] : nodes_) ids.push_back(id);
  if (group_.empty() && rng_.chance(mix.partition)) {
    for (NodeId id : ids) group_[id] = static_cast<int>(rng_.below(2));
    partition_until_ = tick + 10 + static_cast<int>(rng_.below(50));
    trace("symmetric partition");
  }
  if (rng_.chance(mix.one_way)) {
    int k = 1 + static_cast<int>(rng_.below(3));
    for (int i = 0; i < k; ++i) {
      NodeId a = ids[rng_.below(ids.size())], b = ids[rng_.below(ids.size())];
      if (a != b) cut_.insert({a, b});
    }
    partition_until_ = std::max(partition_until_, tick + 10 + static_cast<int>(rng_.below(40)));
    trace("one-way cuts");
  }
  if (rng_.chance(mix.crash)) {
    int down = 0;
    for (auto& [id, n] : nodes_) down += n->core ? 0 : 1;
    if (down < (opts_.nodes - 1) / 2 + 1) {
      NodeId id = ids[rng_.below(ids.size())];
      if (nodes_[id]->core) crash(*nodes_[id]);
    }
  }
  Node* leader = find_leader();
  if (leader && rng_.chance(mix.membership)) membership_action(*leader);
  leader = find_leader();
  if (leader && rng_.chance(mix.transfer)) {
    const auto& voters = leader->core->membership().voters;
    NodeId target = voters[rng_.below(voters.size())];
    (void)leader->core->transfer_leadership(target);
    trace("transfer to " + std::to_string(target));
  }
}

void Cluster::global_tick(int tick, bool chaos) {
  current_tick_ = tick;
  if (chaos) chaos_actions(tick);
  for (auto& [id, n] : nodes_) {
    if (!n->core && !n->retired && tick >= n->down_until_tick) {
      boot(*n);
    }
  }
  // Client traffic.
  if (chaos) {
    int proposals = rng_.chance(opts_.mix.propose) ? 1 + static_cast<int>(rng_.below(3)) : 0;
    for (int i = 0; i < proposals; ++i) {
      std::vector<Node*> up;
      for (auto& [id, n] : nodes_) {
        if (n->core && !n->retired) up.push_back(n.get());
      }
      if (up.empty()) break;
      Node* n = up[rng_.below(up.size())];
      std::string data = "p" + std::to_string(++proposal_seq_);
      if (n->core->role() == Role::Leader) {
        auto r = n->core->propose(data);
        if (r && r->kind == Proposed::Kind::Appended) n->pending[r->index] = {r->term, data};
      } else {
        (void)n->core->propose_or_forward(data);
      }
      process_ready(*n);
      check(*n);
    }
    if (rng_.chance(opts_.mix.read)) {
      std::vector<Node*> up;
      for (auto& [id, n] : nodes_) {
        if (n->core && !n->retired) up.push_back(n.get());
      }
      if (!up.empty()) {
        Node* n = up[rng_.below(up.size())];
        std::string ctx = "r" + std::to_string(++read_seq_);
        if (n->core->read_index(ctx)) reads_[ctx] = inv_.max_committed();
        process_ready(*n);
      }
    }
  }
  // Node ticks at their phase within this tick, messages in between.
  std::vector<Node*> order;
  for (auto& [id, n] : nodes_) order.push_back(n.get());
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->tick_phase < b->tick_phase; });
  uint64_t base = static_cast<uint64_t>(tick) * kTickUnits;
  for (Node* n : order) {
    uint64_t at = base + static_cast<uint64_t>(n->tick_phase);
    while (!queue_.empty() && queue_.top().time <= at && result_.ok) {
      Event ev = queue_.top();
      queue_.pop();
      deliver(ev);
    }
    now_ = std::max(now_, at);
    if (n->core && !n->retired && result_.ok) {
      n->core->tick();
      process_ready(*n);
      check(*n);
    }
  }
  uint64_t end = base + kTickUnits;
  while (!queue_.empty() && queue_.top().time < end && result_.ok) {
    Event ev = queue_.top();
    queue_.pop();
    deliver(ev);
  }
  now_ = std::max(now_, end);
}

std::vector<NodeId> Cluster::live_members(const Node& leader) const {
  std::vector<NodeId> out;
  const Membership& m = leader.core->membership();
  for (auto& [id, n] : nodes_) {
    if (m.contains(id) && !n->retired) out.push_back(id);
  }
  return out;
}

bool Cluster::converged(Node& leader) {
  for (NodeId id : live_members(leader)) {
    const Node& n = *nodes_.at(id);
    if (!n.core || n.applied < max_acked_index_) return false;
  }
  return true;
}

SimResult Cluster::run() {
  int tick = 0;
  for (; tick < opts_.chaos_ticks && result_.ok; ++tick) global_tick(tick, true);
  if (!result_.ok) return result_;

  // Heal: a reliable network, every node back up.
  trace("heal");
  faults_on_ = false;
  group_.clear();
  cut_.clear();
  for (auto& [id, n] : nodes_) n->down_until_tick = 0;
  int healed_at = tick;
  bool leader_seen = false;
  bool probe_proposed = false;
  Index probe_index = 0;
  Term probe_term = 0;
  for (; tick < healed_at + opts_.heal_ticks && result_.ok; ++tick) {
    global_tick(tick, false);
    Node* leader = find_leader();
    if (!leader) continue;
    if (!leader_seen) {
      leader_seen = true;
      ++result_.leaders_elected;
    }
    // Writes work again: a fresh proposal is acknowledged.
    if (!probe_proposed || (max_acked_index_ < probe_index && leader->core->term() != probe_term)) {
      auto r = leader->core->propose("heal-probe");
      if (r) {
        probe_proposed = true;
        probe_index = r->index;
        probe_term = r->term;
        leader->pending[r->index] = {r->term, "heal-probe"};
        process_ready(*leader);
      }
      continue;
    }
    if (max_acked_index_ >= probe_index && converged(*leader)) return result_;
  }
  if (!result_.ok) return result_;
  Node* leader = find_leader();
  if (!leader) {
    fail("liveness: no leader " + std::to_string(opts_.heal_ticks) + " ticks after the network healed");
  } else if (max_acked_index_ < probe_index) {
    fail("liveness: a proposal after healing was not acknowledged within " + std::to_string(opts_.heal_ticks) +
         " ticks");
  } else {
    std::string lag;
    for (NodeId id : live_members(*leader)) {
      lag += " " + std::to_string(id) + ":" + std::to_string(nodes_.at(id)->applied);
    }
    fail("liveness: acknowledged index " + std::to_string(max_acked_index_) + " not applied everywhere (applied" +
         lag + ")");
  }
  return result_;
}

}  // namespace raft::sim
