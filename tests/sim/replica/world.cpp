// The whole-node simulator: replicas, disks, network, clients and faults,
// and the checks of what the product promises (world.h).
#include "world.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

namespace node::sim {

namespace {

constexpr uint64_t kTickMs = 100;
constexpr uint16_t kA = dns::rrtype::A;

std::string ip_of(uint64_t seq) {
  return "10." + std::to_string((seq >> 16) & 0xff) + "." + std::to_string((seq >> 8) & 0xff) + "." +
         std::to_string(seq & 0xff);
}

dns::RR a_record(const std::string& owner, const std::string& ip) {
  dns::RR rr;
  rr.owner = dns::Name::from_text(owner).value();
  rr.type = kA;
  rr.ttl = 300;
  rr.rdata = dns::rdata_from_text(kA, ip, dns::Name()).value();
  return rr;
}

/// The name a writer's session sets to the sequence of its last change.
std::string session_name(uint64_t client) { return "w" + std::to_string(client) + ".sim."; }
/// The name only change (client, seq) adds.
std::string change_name(uint64_t client, uint64_t seq) {
  return "c" + std::to_string(client) + "-" + std::to_string(seq) + ".sim.";
}

/// The rdatas of `type` at `owner` in the store's current version.
std::vector<std::string> rdatas(const store::Store& s, const std::string& owner, uint16_t type) {
  std::vector<std::string> out;
  auto snap = s.snapshot();
  dns::Name name = dns::Name::from_text(owner).value();
  const zone::Zone* z = snap->find_zone(name);
  if (!z) return out;
  const zone::Node* n = z->find(name);
  if (!n) return out;
  const zone::RRset* rs = n->find(type);
  if (!rs) return out;
  for (std::string_view rd : rs->rdatas) out.emplace_back(rd);
  return out;
}

bool has_change(const store::Store& s, uint64_t client, uint64_t seq) {
  return !rdatas(s, change_name(client, seq), kA).empty();
}

/// How a client reads an error: whether this copy of the change was
/// applied nowhere (it never left the node).
bool never_sent(const util::Error& e) {
  switch (e.kind) {
    case util::ErrorKind::NoQuorum:
    case util::ErrorKind::StorageFailed:
    case util::ErrorKind::ShuttingDown:
    case util::ErrorKind::SessionExpired:
    case util::ErrorKind::Refused:
    case util::ErrorKind::Conflict:
      return true;
    default:
      return false;
  }
}

std::string str(uint64_t v) { return std::to_string(v); }

}  // namespace

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<FaultMix> standard_mixes() {
  std::vector<FaultMix> mixes;
  FaultMix calm;
  calm.name = "calm";
  calm.membership = 0.02;
  mixes.push_back(calm);

  FaultMix lossy;
  lossy.name = "lossy";
  lossy.drop = 0.15;
  lossy.duplicate = 0.1;
  lossy.max_delay_ms = 250;  // reordering across ticks
  mixes.push_back(lossy);

  FaultMix parts;
  parts.name = "partitions";
  parts.drop = 0.03;
  parts.partition = 0.06;
  mixes.push_back(parts);

  FaultMix crashes;
  crashes.name = "crashes";
  crashes.drop = 0.05;
  crashes.crash = 0.05;
  mixes.push_back(crashes);

  FaultMix disks;
  disks.name = "disks";  // full disks, failed fsyncs and the restarts after them
  disks.drop = 0.03;
  disks.disk_full = 0.05;
  disks.crash = 0.02;
  mixes.push_back(disks);

  FaultMix wipes;
  wipes.name = "wipes";  // a data directory lost, with crashes around it
  wipes.drop = 0.03;
  wipes.crash = 0.03;
  wipes.wipe = 0.05;
  mixes.push_back(wipes);

  FaultMix members;
  members.name = "membership";
  members.drop = 0.05;
  members.crash = 0.015;
  members.membership = 0.1;
  mixes.push_back(members);

  FaultMix chaos;
  chaos.name = "chaos";
  chaos.drop = 0.08;
  chaos.duplicate = 0.05;
  chaos.max_delay_ms = 150;
  chaos.partition = 0.02;
  chaos.crash = 0.02;
  chaos.disk_full = 0.01;
  chaos.wipe = 0.02;
  chaos.membership = 0.04;
  mixes.push_back(chaos);
  return mixes;
}

// ---- the parts of the world ------------------------------------------------------------

struct World::Node {
  uint32_t id = 0;
  MemberMap members;  // its config file
  std::string join;
  std::unique_ptr<raft::MemFileSystem> fs;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Replica> replica;  // null while down
  uint64_t tick_phase = 0;
  int down_until = 0;          // restart at this tick
  bool stopped = false;        // refused to take part (Effects::stop_process)
  bool retired = false;        // removed from the cluster and shut down
  bool leaving = false;        // removed from the member list; shut down once out of Raft's membership
  bool wiped = false;          // lost its data directory in this run
  bool wiped_marked = false;   // ... while the cluster recorded it as holding data
  int full_until = -1;         // the disk is full until this tick
  std::map<RequestId, Request> waiting;
};

struct World::Request {
  enum class Kind { Write, Setup, Member, Read } kind = Kind::Write;
  size_t writer = 0;
  std::pair<uint64_t, uint64_t> stamp;
  MemberOp op;
  std::vector<std::pair<uint64_t, uint64_t>> must_see;  // Read: acknowledged before it was asked
};

/// A client with one session on one node, one change outstanding at a time
/// (the rule of the client session: retries keep the stamp, the next change
/// takes the next one only once the outcome is known or given up).
struct World::Writer {
  uint32_t node = 0;
  store::ClientSession session{0};
  store::SessionStamp stamp;  // of the outstanding (or last) change
  bool outstanding = false;  // a request is in flight
  bool retry = false;        // the last change's outcome is unknown: send it again
  int attempts = 0;
  std::optional<std::pair<uint64_t, uint64_t>> last_acked;
};

class World::Host final : public ReplicaHost {
 public:
  Host(World& w, Node& n) : w_(w), n_(n) {}
  Time now() override { return Time(w_.now_); }
  void send(raft::Message m) override { w_.route(n_, std::move(m)); }
  void handle(Effects fx) override { w_.handle(n_, std::move(fx)); }

 private:
  World& w_;
  Node& n_;
};

World::World(SimOptions options) : opts_(std::move(options)), rng_(opts_.seed * 0x2545F4914F6CDD1DULL + opts_.nodes) {
  MemberMap first;
  for (int i = 0; i < opts_.nodes; ++i) {
    auto id = static_cast<uint32_t>(i);
    first[id] = {"q" + str(id), "n" + str(id)};
  }
  next_id_ = static_cast<uint32_t>(opts_.nodes);
  for (const auto& [id, info] : first) boot(add_node(id, first, ""));
  for (int i = 0; i < opts_.writers; ++i) {
    auto w = std::make_unique<Writer>();
    w->node = static_cast<uint32_t>(i % opts_.nodes);
    w->session = store::ClientSession(next_client_++);
    writers_.push_back(std::move(w));
  }
}

World::~World() = default;

void World::trace(const std::string& line) const {
  if (opts_.trace) std::cout << "[t=" << now_ << " tick " << tick_ << "] " << line << "\n";
}

void World::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = what + " (tick " + str(static_cast<uint64_t>(tick_)) + ", time " + str(now_) + " ms)";
  trace("FAIL: " + result_.failure);
}

// ---- nodes --------------------------------------------------------------------------------

World::Node& World::add_node(uint32_t id, MemberMap members, std::string join) {
  auto n = std::make_unique<Node>();
  n->id = id;
  n->members = std::move(members);
  n->join = std::move(join);
  n->fs = std::make_unique<raft::MemFileSystem>();
  n->tick_phase = rng_.below(kTickMs);
  Node& ref = *n;
  nodes_[id] = std::move(n);
  return ref;
}

bool World::up(const Node& n) const { return n.replica && !n.stopped && !n.retired; }

void World::boot(Node& n) {
  ReplicaOptions o;
  o.self = n.id;
  o.members = n.members;
  o.join = n.join;
  o.data_dir = "/data";
  o.fs = n.fs.get();
  o.propose_timeout = Time(3000);
  o.checkpoint_every_entries = 20;  // small: checkpoints, snapshots and compaction happen
  o.prune_lag_entries = 30;
  o.wal_segment_bytes = 4096;
  o.seed = opts_.seed * 1000003 + n.id;
  o.test_break_data_marks = opts_.break_marks;
  n.store = std::make_unique<store::Store>();
  auto r = Replica::open(o, *n.store);
  if (!r) {
    if (n.full_until >= 0) {
      // Its disk is still full: the process cannot start yet; the operator tries again.
      trace("node " + str(n.id) + " cannot start on a full disk: " + r.error().message);
      n.store.reset();
      n.down_until = tick_ + 3;
      return;
    }
    fail("node " + str(n.id) + " cannot restart: " + r.error().message);
    return;
  }
  n.replica = std::move(r.value());
  trace("boot node " + str(n.id) + (n.wiped ? " (wiped)" : "") + " applied " + str(n.replica->applied()));
  handle(n, n.replica->start());
  drive_node(n);
}

void World::crash(Node& n, bool power_loss) {
  if (!n.replica) return;
  trace(std::string(power_loss ? "power loss" : "restart") + " on node " + str(n.id));
  // Unsynced writes are lost, or a prefix of them kept: a torn write.
  if (opts_.trace) {
    auto names = n.fs->list_dir("/data/raft");
    std::string files;
    if (names) for (auto& f : *names) files += " " + f + ":" + str(n.fs->contents("/data/raft/" + f)->size());
    trace("files before:" + files);
  }
  n.fs->crash(power_loss ? rng_.below(300) : 0);
  if (opts_.trace) {
    auto names = n.fs->list_dir("/data/raft");
    std::string files;
    if (names) for (auto& f : *names) files += " " + f + ":" + str(n.fs->contents("/data/raft/" + f)->size());
    trace("files after:" + files);
  }
  n.replica.reset();
  n.store.reset();
  invariants_.forget(raft_id(n.id));
  // The node's clients lost their connection: the outcome is unknown.
  for (auto& [id, req] : n.waiting) {
    if (req.kind == Request::Kind::Write) {
      Writer& w = *writers_[req.writer];
      w.outstanding = false;
      w.retry = true;
    }
  }
  n.waiting.clear();
  n.down_until = tick_ + 3 + static_cast<int>(rng_.below(20));
  ++result_.crashes;
}

void World::wipe(Node& n) {
  // Whether the cluster relies on this node's data: its mark is applied on
  // some live member.
  bool marked = false;
  for (auto& [id, other] : nodes_) {
    if (!up(*other) || other.get() == &n) continue;
    const MemberMap& m = other->replica->committed_members();
    if (auto it = m.find(n.id); it != m.end() && it->second.holds_data) marked = true;
  }
  trace("wipe node " + str(n.id) + (marked ? " (marked as holding data)" : " (not marked)"));
  crash(n, true);
  n.fs = std::make_unique<raft::MemFileSystem>();
  n.wiped = true;
  n.wiped_marked = marked;
  ++result_.wipes;
}

void World::drive_node(Node& n) {
  if (!up(n) || !result_.ok) return;
  Host host(*this, n);
  drive(*n.replica, host);
  check_core(n);
}

void World::check_core(Node& n) {
  if (!up(n) || !result_.ok) return;
  if (const raft::Core* core = n.replica->core()) {
    if (auto err = invariants_.check(*core)) fail(*err);
  }
}

void World::handle(Node& n, Effects fx) {
  for (auto& m : fx.messages) route(n, std::move(m));
  for (auto& reply : fx.replies) {
    auto it = n.waiting.find(reply.id);
    if (it == n.waiting.end()) {
      fail("node " + str(n.id) + " replied to request " + str(reply.id) + " it was not asked, or twice");
      continue;
    }
    Request req = std::move(it->second);
    n.waiting.erase(it);
    on_reply(n, std::move(req), std::move(reply.result));
  }
  if (fx.storage_failed) {
    ++result_.storage_failures;
    trace("node " + str(n.id) + ": storage failed");
    // The operator restarts the process; a failed fsync may have lost data.
    crash(n, true);
    n.down_until = tick_ + 2;
  }
  if (fx.stop_process && n.full_until >= 0 && !n.wiped) {
    // It could not record its start on a full disk: it exits, and the
    // operator starts it again once there is room.
    trace("node " + str(n.id) + " exits: " + *fx.stop_process);
    crash(n, false);
    n.down_until = tick_ + 3;
  } else if (fx.stop_process) {
    trace("node " + str(n.id) + " stops: " + *fx.stop_process);
    if (!n.wiped) fail("node " + str(n.id) + " stopped though it lost nothing: " + *fx.stop_process);
    ++result_.wiped_refused;
    n.replica.reset();
    n.store.reset();
    n.stopped = true;
  }
}

// ---- network ----------------------------------------------------------------------------

bool World::link_up(uint32_t a, uint32_t b) const {
  if (group_.empty()) return true;
  auto ga = group_.find(a), gb = group_.find(b);
  return (ga == group_.end() ? 0 : ga->second) == (gb == group_.end() ? 0 : gb->second);
}

void World::route(Node& from, raft::Message m) {
  if (!up(from)) return;
  // Join requests and answers are how it learns its fate (a fresh cluster's
  // members answer each other's probes before any has a log).
  if (from.wiped_marked && m.type != raft::MessageType::JoinRequest && m.type != raft::MessageType::JoinResponse) {
    fail("node " + str(from.id) + " lost its data after the cluster recorded it as holding data, yet took part: it sent " +
         raft::message_type_name(m.type));
    return;
  }
  // The transport knows only the peers the replica gave it.
  PeerMap peers = from.replica->peer_map();
  auto peer = peers.find(m.to);
  if (peer == peers.end()) return;
  uint32_t to = 0;
  bool found = false;
  for (auto& [id, n] : nodes_) {
    if ("n" + str(id) == peer->second) to = id, found = true;
  }
  if (!found) return;
  if (m.type == raft::MessageType::JoinRequest) m.to = raft::kNoNode;  // as the transport sends it
  int copies = 1;
  if (faults_on_) {
    if (rng_.chance(opts_.mix.drop)) return;
    if (rng_.chance(opts_.mix.duplicate)) copies = 2;
  }
  for (int i = 0; i < copies; ++i) {
    uint64_t span = static_cast<uint64_t>(opts_.mix.max_delay_ms - opts_.mix.min_delay_ms + 1);
    uint64_t delay = static_cast<uint64_t>(opts_.mix.min_delay_ms) + rng_.below(span);
    queue_.push(Event{now_ + delay, seq_++, to, m});
  }
}

void World::deliver(const Event& ev) {
  now_ = std::max(now_, ev.time);
  auto it = nodes_.find(ev.to);
  if (it == nodes_.end() || !up(*it->second)) return;
  if (!link_up(config_id(ev.msg.from), ev.to)) return;
  Node& n = *it->second;
  if (opts_.trace) {
    trace(str(config_id(ev.msg.from)) + "->" + str(ev.to) + " " + raft::message_type_name(ev.msg.type) + " term " +
          str(ev.msg.term) + " idx " + str(ev.msg.index) + " n=" + str(ev.msg.entries.size()) + " commit " +
          str(ev.msg.commit) +
          (ev.msg.reject ? " REJECT hint " + str(ev.msg.reject_hint) + "/" + str(ev.msg.hint_term) : "") +
          (ev.msg.type == raft::MessageType::Append ? " prev term " + str(ev.msg.log_term) : ""));
  }
  handle(n, n.replica->receive(ev.msg, Time(now_)));
  drive_node(n);
}

// ---- clients --------------------------------------------------------------------------------

void World::submit(Writer& w) {
  Node* n = nodes_.count(w.node) ? nodes_[w.node].get() : nullptr;
  bool gone = !n || n->stopped || n->retired || (n->replica && (n->replica->removed() || n->replica->storage_failed()));
  if (gone) {
    // The node is gone for good: a new session on another node. The
    // outstanding change, if any, stays unknown.
    std::vector<uint32_t> candidates;
    for (auto& [id, other] : nodes_) {
      if (up(*other) && !other->replica->removed()) candidates.push_back(id);
    }
    if (candidates.empty()) return;
    if (w.retry) ++result_.unknown;
    w.node = candidates[rng_.below(candidates.size())];
    w.session = store::ClientSession(next_client_++);
    w.retry = false;
    w.attempts = 0;
    return;
  }
  if (!up(*n)) return;  // down for now: the client waits
  if (w.retry && w.attempts >= 4) {
    ++result_.unknown;  // given up: the session moves on (the rule allows it)
    w.retry = false;
    w.attempts = 0;
  }
  // The session's rule: the next stamp only once the last change's outcome
  // is known or given up; a retry carries the same stamp.
  if (!w.retry) w.stamp = w.session.next();
  const uint64_t client = w.stamp.client_id, seq = w.stamp.sequence;
  store::Change c;
  c.client_id = client;
  c.sequence = seq;
  store::Op clear;
  clear.kind = store::OpKind::RemoveRRset;
  clear.rr = a_record(session_name(client), "0.0.0.0");
  c.ops.push_back(clear);
  store::Op set;
  set.rr = a_record(session_name(client), ip_of(seq));
  c.ops.push_back(set);
  store::Op mark;
  mark.rr = a_record(change_name(client, seq), "192.0.2.1");
  c.ops.push_back(mark);
  Request req;
  req.kind = Request::Kind::Write;
  for (size_t i = 0; i < writers_.size(); ++i) {
    if (writers_[i].get() == &w) req.writer = i;
  }
  req.stamp = {client, seq};
  RequestId id = next_request_++;
  n->waiting[id] = req;
  w.outstanding = true;
  ++w.attempts;
  trace("writer " + str(req.writer) + " -> node " + str(n->id) + ": change " + str(client) + "/" + str(seq) +
        (w.retry ? " (again)" : ""));
  handle(*n, n->replica->submit(id, std::move(c), Time(now_)));
  drive_node(*n);
}

void World::on_reply(Node& n, Request req, SubmitResult result) {
  switch (req.kind) {
    case Request::Kind::Write: {
      Writer& w = *writers_[req.writer];
      w.outstanding = false;
      trace("node " + str(n.id) + " answers " + str(req.stamp.first) + "/" + str(req.stamp.second) + ": " +
            (result ? "OK" : result.error().message));
      if (result && result->stale) {
        fail("writer " + str(req.writer) + " keeps one change outstanding, yet change " + str(req.stamp.first) + "/" +
             str(req.stamp.second) + " was answered as older than its session's last");
      } else if (result && result->expired) {
        // The store forgot the session before this copy applied: not
        // applied by it (an earlier copy may have been). A new session.
        if (w.attempts == 1) {
          refused_.insert(req.stamp);
          ++result_.refused;
        } else {
          ++result_.unknown;
        }
        w.retry = false;
        w.attempts = 0;
        w.session = store::ClientSession(next_client_++);
      } else if (result) {
        acked_.insert(req.stamp);
        ++result_.acked;
        w.last_acked = req.stamp;
        w.retry = false;
        w.attempts = 0;
      } else if (never_sent(result.error()) && w.attempts == 1) {
        // Applied nowhere: no earlier copy of it left either. (A refused
        // retry says only that this copy never left: the outcome of the
        // first is still unknown.)
        refused_.insert(req.stamp);
        ++result_.refused;
        w.retry = false;
        w.attempts = 0;
        if (result.error().kind == util::ErrorKind::SessionExpired) w.session = store::ClientSession(next_client_++);
      } else if (result.error().kind == util::ErrorKind::SessionExpired) {
        // The store forgot the session: the change was not applied now, but
        // an earlier copy may have been. Move on with a new session.
        ++result_.unknown;
        w.retry = false;
        w.attempts = 0;
        w.session = store::ClientSession(next_client_++);
      } else {
        w.retry = true;  // outcome unknown: send it again with the same stamp
      }
      return;
    }
    case Request::Kind::Setup:
      if (result) {
        zone_ready_ = true;
        trace("the zone exists");
      }
      return;
    case Request::Kind::Member: {
      bool done = result && !result->op_errors.empty() && result->op_errors[0].empty();
      trace("member change " + std::string(req.op.kind == MemberOp::Kind::Set ? "ADD " : "REMOVE ") + str(req.op.id) +
            ": " + (done ? "done" : result ? result->op_errors[0] : result.error().message));
      if (!done) return;
      if (req.op.kind == MemberOp::Kind::Set && !nodes_.count(req.op.id)) {
        // The operator starts the new node, joining through the member it asked.
        ++result_.members_added;
        boot(add_node(req.op.id, {{req.op.id, req.op.info}}, "n" + str(n.id)));
      } else if (req.op.kind == MemberOp::Kind::Remove && nodes_.count(req.op.id)) {
        // The operator shuts the node down once MEMBERS no longer lists it
        // in Raft's membership (global_tick()).
        ++result_.members_removed;
        nodes_[req.op.id]->leaving = true;
      }
      return;
    }
    case Request::Kind::Read:
      if (!result) return;
      ++result_.reads;
      for (const auto& [client, seq] : req.must_see) {
        if (!has_change(*n.store, client, seq)) {
          fail("read barrier on node " + str(n.id) + " returned before change " + str(client) + "/" + str(seq) +
               ", acknowledged before the read was asked, was applied there");
        }
      }
      return;
  }
}

World::Node* World::leader() {
  Node* best = nullptr;
  for (auto& [id, n] : nodes_) {
    if (!up(*n) || !n->replica->is_leader()) continue;
    if (!best || n->replica->core()->term() > best->replica->core()->term()) best = n.get();
  }
  return best;
}

void World::operator_step() {
  bool busy = false;
  for (auto& [id, n] : nodes_) {
    for (auto& [rid, req] : n->waiting) busy |= req.kind == Request::Kind::Setup || req.kind == Request::Kind::Member;
  }
  if (busy) return;
  std::vector<Node*> live;
  for (auto& [id, n] : nodes_) {
    if (up(*n) && n->replica->core() && !n->replica->removed()) live.push_back(n.get());
  }
  if (live.empty()) return;
  // A MEMBER ADD whose outcome was unknown may have been applied: the
  // operator looks at MEMBERS and starts the node it finds there.
  if (Node* l = leader()) {
    const MemberMap added = l->replica->committed_members();
    for (const auto& [mid, info] : added) {
      if (nodes_.count(mid)) continue;
      trace("MEMBERS lists node " + str(mid) + ": the operator starts it");
      boot(add_node(mid, {{mid, {info.query_loc, info.raft_loc}}}, "n" + str(l->id)));
    }
  }
  Node& via = *live[rng_.below(live.size())];
  RequestId id = next_request_++;
  if (!zone_ready_) {
    if (tick_ % 5 != 0) return;
    store::Change c;
    c.client_id = next_client_++;
    c.sequence = 1;
    store::Op soa;
    soa.rr.owner = dns::Name::from_text("sim.").value();
    soa.rr.type = dns::rrtype::SOA;
    soa.rr.ttl = 300;
    soa.rr.rdata = dns::rdata_from_text(dns::rrtype::SOA, "ns.sim. admin.sim. 1 3600 600 86400 300", dns::Name()).value();
    c.ops.push_back(soa);
    Request req;
    req.kind = Request::Kind::Setup;
    via.waiting[id] = req;
    handle(via, via.replica->submit(id, std::move(c), Time(now_)));
    drive_node(via);
    return;
  }
  if (!faults_on_ || !rng_.chance(opts_.mix.membership)) return;
  // The member list the operator sees.
  const MemberMap& members = via.replica->committed_members();
  if (members.empty()) return;
  MemberOp op;
  op.client_id = next_client_++;
  op.sequence = 1;
  // A node that refused to start with its data lost is replaced first.
  std::optional<uint32_t> stopped;
  for (auto& [mid, info] : members) {
    if (nodes_.count(mid) && nodes_[mid]->stopped) stopped = mid;
  }
  size_t down = 0;
  for (auto& [mid, info] : members) down += nodes_.count(mid) && !up(*nodes_[mid]) ? 1 : 0;
  if (stopped) {
    op.kind = MemberOp::Kind::Remove;
    op.id = *stopped;
  } else if (rng_.chance(0.5) && nodes_.size() < static_cast<size_t>(opts_.nodes + 3)) {
    op.kind = MemberOp::Kind::Set;
    op.id = next_id_;
    op.info = {"q" + str(next_id_), "n" + str(next_id_)};
    ++next_id_;
  } else if (members.size() > 3 && down == 0) {
    std::vector<uint32_t> ids;
    for (auto& [mid, info] : members) ids.push_back(mid);
    op.kind = MemberOp::Kind::Remove;
    op.id = ids[rng_.below(ids.size())];
  } else {
    return;
  }
  Request req;
  req.kind = Request::Kind::Member;
  req.op = op;
  via.waiting[id] = req;
  trace("operator via node " + str(via.id) + ": MEMBER " + (op.kind == MemberOp::Kind::Set ? "ADD " : "REMOVE ") +
        str(op.id));
  handle(via, via.replica->change_members(id, op, Time(now_)));
  drive_node(via);
}

void World::read_step() {
  if (!rng_.chance(opts_.mix.read)) return;
  std::vector<Node*> live;
  for (auto& [id, n] : nodes_) {
    if (up(*n)) live.push_back(n.get());
  }
  if (live.empty()) return;
  Node& n = *live[rng_.below(live.size())];
  Request req;
  req.kind = Request::Kind::Read;
  for (const auto& w : writers_) {
    if (w->last_acked) req.must_see.push_back(*w->last_acked);
  }
  RequestId id = next_request_++;
  n.waiting[id] = req;
  handle(n, n.replica->read_barrier(id, Time(now_)));
  drive_node(n);
}

void World::writer_step(Writer& w) {
  if (!zone_ready_ || w.outstanding) return;
  if (w.retry) {
    submit(w);  // the client sends its change again as soon as it can
  } else if (faults_on_ && rng_.chance(opts_.mix.write)) {
    submit(w);
  }
}

// ---- the run ---------------------------------------------------------------------------------

void World::chaos_faults() {
  const FaultMix& mix = opts_.mix;
  if (!group_.empty() && tick_ >= partition_until_) {
    trace("partition healed");
    group_.clear();
  }
  std::vector<Node*> candidates;  // up and still a member
  size_t members = 0, down = 0;
  for (auto& [id, n] : nodes_) {
    if (n->retired) continue;
    ++members;
    if (!up(*n)) ++down;
    if (up(*n)) candidates.push_back(n.get());
  }
  // Never more than a minority down at once, so that the run makes progress.
  const bool may_take_one = down + 1 <= (members - 1) / 2;
  if (group_.empty() && rng_.chance(mix.partition)) {
    for (auto& [id, n] : nodes_) group_[id] = static_cast<int>(rng_.below(2));
    partition_until_ = tick_ + 5 + static_cast<int>(rng_.below(30));
    trace("partition");
  }
  if (candidates.empty()) return;
  if (may_take_one && rng_.chance(mix.crash)) crash(*candidates[rng_.below(candidates.size())], true);
  if (may_take_one && !wiped_once_ && rng_.chance(mix.wipe)) {
    Node& n = *candidates[rng_.below(candidates.size())];
    if (up(n)) {
      wiped_once_ = true;
      wipe(n);
    }
  }
  if (rng_.chance(mix.disk_full)) {
    Node& n = *candidates[rng_.below(candidates.size())];
    if (up(n) && n.full_until < 0) {
      n.fs->set_capacity(n.fs->used_bytes() + rng_.below(3000));
      n.full_until = tick_ + 5 + static_cast<int>(rng_.below(20));
      ++result_.disk_full;
      trace("disk of node " + str(n.id) + " full");
    }
  }
}

void World::global_tick(bool chaos) {
  if (chaos) chaos_faults();
  for (auto& [id, n] : nodes_) {
    if (n->full_until >= 0 && (tick_ >= n->full_until || !chaos)) {
      n->fs->set_capacity(std::nullopt);
      n->full_until = -1;
    }
    if (!n->replica && !n->stopped && !n->retired && n->down_until >= 0 && tick_ >= n->down_until) boot(*n);
    if (n->leaving && !n->retired) {
      Node* l = leader();
      if (l && !l->replica->core()->membership().contains(raft_id(n->id))) {
        trace("node " + str(n->id) + " retired");
        if (n->replica) handle(*n, n->replica->shutdown());
        n->replica.reset();
        n->retired = true;
        invariants_.forget(raft_id(n->id));
      }
    }
    // A joining node whose --join address left the cluster is restarted by
    // the operator with another member's.
    if (up(*n) && !n->replica->core() && !n->join.empty()) {
      auto target = nodes_.find(static_cast<uint32_t>(std::stoul(n->join.substr(1))));
      if (target != nodes_.end() && (target->second->retired || target->second->stopped)) {
        for (auto& [other_id, other] : nodes_) {
          if (up(*other) && other->replica->core() && !other->replica->removed()) n->join = "n" + str(other_id);
        }
        crash(*n, false);
        n->down_until = tick_ + 1;
      }
    }
  }
  operator_step();
  for (auto& w : writers_) writer_step(*w);
  if (chaos) read_step();

  std::vector<Node*> order;
  for (auto& [id, n] : nodes_) order.push_back(n.get());
  std::sort(order.begin(), order.end(), [](Node* a, Node* b) { return a->tick_phase < b->tick_phase; });
  const uint64_t base = static_cast<uint64_t>(tick_) * kTickMs;
  for (Node* n : order) {
    const uint64_t at = base + n->tick_phase;
    while (!queue_.empty() && queue_.top().time <= at && result_.ok) {
      Event ev = queue_.top();
      queue_.pop();
      deliver(ev);
    }
    now_ = std::max(now_, at);
    if (up(*n) && result_.ok) {
      handle(*n, n->replica->tick(Time(now_)));
      drive_node(*n);
    }
  }
  while (!queue_.empty() && queue_.top().time < base + kTickMs && result_.ok) {
    Event ev = queue_.top();
    queue_.pop();
    deliver(ev);
  }
  now_ = std::max(now_, base + kTickMs);
}

bool World::quiescent() {
  for (auto& w : writers_) {
    if (w->outstanding || w->retry) return false;
  }
  for (auto& [id, n] : nodes_) {
    if (!n->waiting.empty()) return false;
  }
  Node* l = leader();
  if (!l) return false;
  const raft::Core& core = *l->replica->core();
  if (core.commit() != core.last_index()) return false;
  for (auto& [id, n] : nodes_) {
    if (n->retired || n->stopped) continue;
    if (!l->replica->committed_members().count(id)) continue;
    if (!up(*n) || n->replica->applied() != core.commit()) return false;
  }
  return true;
}

void World::final_checks() {
  // The members, as the leader sees them. A node removed from the list may
  // never learn it (Raft stops sending it entries): it is left out.
  Node* l = leader();
  std::vector<Node*> live;
  for (auto& [id, n] : nodes_) {
    if (up(*n) && l->replica->committed_members().count(id)) live.push_back(n.get());
  }
  if (live.empty()) return fail("no live node at the end");
  // Every replica holds the same records.
  const std::string digest = live.front()->store->digest();
  for (Node* n : live) {
    if (n->store->digest() != digest) {
      return fail("digest of node " + str(n->id) + " differs from node " + str(live.front()->id) + "'s at applied index " +
                  str(n->replica->applied()));
    }
  }
  const store::Store& s = *live.front()->store;
  // Nothing acknowledged is lost; nothing refused is applied.
  for (const auto& [client, seq] : acked_) {
    if (!has_change(s, client, seq)) {
      return fail("acknowledged change " + str(client) + "/" + str(seq) + " is on no node");
    }
  }
  for (const auto& [client, seq] : refused_) {
    if (has_change(s, client, seq)) return fail("change " + str(client) + "/" + str(seq) + " was refused but applied");
  }
  // Nothing applied twice: each session's name holds its newest applied
  // change; an older change applied again after a newer one would show.
  std::map<uint64_t, uint64_t> newest;
  for (const auto& [client, seq] : acked_) newest[client] = std::max(newest[client], seq);
  for (uint64_t client = 1; client < next_client_; ++client) {
    uint64_t applied = 0;
    for (uint64_t seq = 1; seq <= 200; ++seq) {
      if (has_change(s, client, seq)) applied = seq;
    }
    std::vector<std::string> v = rdatas(s, session_name(client), kA);
    if (applied == 0) continue;
    std::string want = dns::rdata_from_text(kA, ip_of(applied), dns::Name()).value();
    if (v.size() != 1 || v[0] != want) {
      return fail("session " + str(client) + ": its newest applied change is " + str(applied) +
                  " but its name holds another change's value: an older change was applied again");
    }
  }
}

SimResult World::run() {
  for (; tick_ < opts_.chaos_ticks && result_.ok; ++tick_) global_tick(true);
  if (!result_.ok) return result_;
  trace("heal");
  faults_on_ = false;
  group_.clear();
  for (auto& [id, n] : nodes_) {
    if (!n->replica && !n->stopped && !n->retired && n->down_until >= 0) n->down_until = tick_;
  }
  const int healed_at = tick_;
  for (; tick_ < healed_at + opts_.heal_ticks && result_.ok; ++tick_) {
    global_tick(false);
    if (quiescent()) {
      final_checks();
      return result_;
    }
  }
  if (!result_.ok) return result_;
  std::string state;
  for (auto& [id, n] : nodes_) {
    state += " node " + str(id) + ":" +
             (n->retired  ? "retired"
              : n->stopped ? "stopped"
              : !n->replica ? "down"
                            : std::string(n->replica->status().value("role", "?")) + "@" + str(n->replica->applied()));
  }
  size_t outstanding = 0;
  for (auto& w : writers_) outstanding += w->outstanding || w->retry ? 1 : 0;
  fail("liveness: not quiescent " + str(static_cast<uint64_t>(opts_.heal_ticks)) + " ticks after healing (" +
       str(outstanding) + " writers waiting;" + state + ")");
  return result_;
}

}  // namespace node::sim
