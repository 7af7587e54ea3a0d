// Proposals per second through the Raft core alone: a 3-node cluster wired
// in memory (no disk, no sockets), so the figure is the consensus overhead.
#include <benchmark/benchmark.h>

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "raft/core.h"

namespace {

using raft::Core;
using raft::Message;
using raft::NodeId;

class MemCluster {
 public:
  explicit MemCluster(int n) {
    raft::Membership m;
    for (int i = 1; i <= n; ++i) m.voters.push_back(static_cast<NodeId>(i));
    for (NodeId id : m.voters) {
      raft::Config c;
      c.id = id;
      c.initial_membership = m;
      c.seed = 7;
      c.max_inflight_msgs = 256;
      cores_[id] = Core::create(c, {}).value();
    }
    cores_[1]->campaign();
    pump();
  }

  Core& leader() { return *cores_[1]; }

  /// Drive every Ready and message until the cluster is quiet; returns
  /// entries applied on the leader.
  size_t pump() {
    size_t applied = 0;
    do {
      for (auto& [id, c] : cores_) {
        while (c->has_ready()) {
          raft::Ready rd = c->ready();
          for (auto& m : rd.messages) queue_.push_back(std::move(m));
          if (id == 1) applied += rd.committed_entries.size();
          c->advance();
        }
      }
      while (!queue_.empty()) {
        Message m = std::move(queue_.front());
        queue_.pop_front();
        cores_[m.to]->step(m);
      }
    } while (any_ready());
    return applied;
  }

 private:
  bool any_ready() const {
    for (auto& [id, c] : cores_) {
      if (c->has_ready()) return true;
    }
    return false;
  }
  std::map<NodeId, std::unique_ptr<Core>> cores_;
  std::deque<Message> queue_;
};

// One proposal, replicated and committed, per iteration (no batching).
void BM_ProposeCommitOneByOne(benchmark::State& state) {
  MemCluster cluster(3);
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    (void)cluster.leader().propose(data);
    benchmark::DoNotOptimize(cluster.pump());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ProposeCommitOneByOne)->Arg(64)->Arg(512);

// 64 proposals per Ready cycle: the batching a busy leader sees.
void BM_ProposeCommitBatched(benchmark::State& state) {
  MemCluster cluster(3);
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  constexpr int kBatch = 64;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) (void)cluster.leader().propose(data);
    benchmark::DoNotOptimize(cluster.pump());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}
BENCHMARK(BM_ProposeCommitBatched)->Arg(64)->Arg(512);

}  // namespace

BENCHMARK_MAIN();
