// In-memory network for Raft core unit tests: delivers messages in order,
// can cut links and isolate nodes; no sockets, no clocks, no sleeps.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "raft/core.h"

namespace raft::test {

/// Config used by the tests: small timeouts, PreVote and CheckQuorum on.
inline Config test_config(NodeId id, const std::vector<NodeId>& voters) {
  Config c;
  c.id = id;
  c.initial_membership.voters = voters;
  c.election_tick = 10;
  c.heartbeat_tick = 1;
  c.seed = 42;
  return c;
}

inline std::vector<NodeId> ids(int n) {
  std::vector<NodeId> v;
  for (int i = 1; i <= n; ++i) v.push_back(static_cast<NodeId>(i));
  return v;
}

inline std::unique_ptr<Core> make_core(const Config& c, Restored r = {}) {
  auto core = Core::create(c, std::move(r));
  if (!core) throw std::runtime_error(core.error().message);
  return std::move(*core);
}

/// A cluster of cores wired through a FIFO in-memory network.
class Net {
 public:
  explicit Net(int n, const std::function<void(Config&)>& tweak = {}) {
    for (NodeId id : ids(n)) {
      Config c = test_config(id, ids(n));
      if (tweak) tweak(c);
      add(c);
    }
  }

  void add(const Config& c, Restored r = {}) { cores[c.id] = make_core(c, std::move(r)); }

  Core& at(NodeId id) { return *cores.at(id); }

  /// Hand every Ready to the "host": persist (ignored), queue messages, apply.
  void drain(NodeId id) {
    Core& c = at(id);
    while (c.has_ready()) {
      Ready rd = c.ready();
      if (rd.snapshot) snapshots[id].push_back(*rd.snapshot);
      for (auto& m : rd.messages) {
        sent.push_back(m);
        if (!link_ok(m)) continue;
        if (drop_if && drop_if(m)) continue;
        queue.push_back(std::move(m));
      }
      for (auto& e : rd.committed_entries) applied[id].push_back(e);
      for (auto& r : rd.read_states) reads[id].push_back(r);
      if (rd.compact_hint) hints[id] = *rd.compact_hint;
      if (rd.need_snapshot) need_snapshot[id] = true;
      c.advance();
    }
  }

  void drain_all() {
    for (auto& [id, c] : cores) drain(id);
  }

  /// Deliver until no message is left (bounded).
  void deliver_all(int max_messages = 100000) {
    drain_all();
    while (!queue.empty() && max_messages-- > 0) {
      Message m = std::move(queue.front());
      queue.pop_front();
      auto it = cores.find(m.to);
      if (it == cores.end() || !link_ok(m)) continue;
      it->second->step(m);
      drain(m.to);
    }
  }

  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, c] : cores) c->tick();
      deliver_all();
    }
  }

  /// Make `id` campaign and run the election to completion.
  void elect(NodeId id) {
    at(id).campaign();
    deliver_all();
  }

  NodeId leader() {
    NodeId found = kNoNode;
    for (auto& [id, c] : cores) {
      if (c->role() == Role::Leader && (found == kNoNode || c->term() > at(found).term())) found = id;
    }
    return found;
  }

  void isolate(NodeId id) { isolated.insert(id); }
  void heal() {
    isolated.clear();
    cut.clear();
  }
  void cut_link(NodeId from, NodeId to) { cut.insert({from, to}); }

  size_t count_sent(MessageType t, NodeId to = kNoNode) const {
    size_t n = 0;
    for (const auto& m : sent) n += (m.type == t && (to == kNoNode || m.to == to)) ? 1 : 0;
    return n;
  }

  std::map<NodeId, std::unique_ptr<Core>> cores;
  std::deque<Message> queue;
  std::vector<Message> sent;
  std::map<NodeId, std::vector<Entry>> applied;
  std::map<NodeId, std::vector<ReadState>> reads;
  std::map<NodeId, std::vector<Snapshot>> snapshots;
  std::map<NodeId, Index> hints;
  std::map<NodeId, bool> need_snapshot;
  std::function<bool(const Message&)> drop_if;
  std::set<NodeId> isolated;
  std::set<std::pair<NodeId, NodeId>> cut;

 private:
  bool link_ok(const Message& m) const {
    return !isolated.count(m.from) && !isolated.count(m.to) && !cut.count({m.from, m.to});
  }
};

/// Take and acknowledge every pending Ready of a lone core; return its messages.
/// A message of `t` from `from` to `to` in `term`, the rest left empty.
inline Message msg(MessageType t, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = t;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

inline std::vector<Message> take_messages(Core& c) {
  std::vector<Message> out;
  while (c.has_ready()) {
    Ready rd = c.ready();
    out.insert(out.end(), rd.messages.begin(), rd.messages.end());
    c.advance();
  }
  return out;
}

inline std::vector<Entry> make_log(const std::vector<Term>& terms, Index first = 1) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    Entry e;
    e.index = first + i;
    e.term = terms[i];
    e.data = "e" + std::to_string(first + i);
    out.push_back(e);
  }
  return out;
}

inline std::vector<std::string> normal_data(const std::vector<Entry>& ents) {
  std::vector<std::string> out;
  for (const auto& e : ents) {
    if (e.type == EntryType::Normal) out.push_back(e.data);
  }
  return out;
}

}  // namespace raft::test
