// Runs the deterministic cluster simulation over thousands of seeds and
// fault mixes; prints the command that replays a failing seed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "cluster.h"

namespace raft::sim {
namespace {

struct Case {
  FaultMix mix;
  int nodes;
};

// Keeps gtest from dumping the parameter's bytes in failure lines.
void PrintTo(const Case& c, std::ostream* os) { *os << c.mix.name << " x" << c.nodes; }

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return info.param.mix.name + "_" + std::to_string(info.param.nodes) + "nodes";
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const auto& mix : standard_mixes()) {
    for (int n : {3, 5, 7}) out.push_back(Case{mix, n});
  }
  return out;
}

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

class SimTest : public testing::TestWithParam<Case> {};

// Default: 280 seeds per case x 24 cases = 6720 seeds.
// RAFT_SIM_SEED=<s>   run only seed s (replay); RAFT_SIM_TRACE=1 prints every event.
// RAFT_SIM_SEEDS=<n>  seeds per case; RAFT_SIM_FIRST=<s> first seed.
TEST_P(SimTest, SafetyAndLiveness) {
  const Case& c = GetParam();
  uint64_t first = env_u64("RAFT_SIM_FIRST", 1);
  uint64_t count = env_u64("RAFT_SIM_SEEDS", 280);
  if (std::getenv("RAFT_SIM_SEED")) {
    first = env_u64("RAFT_SIM_SEED", 1);
    count = 1;
  }
  bool trace = env_u64("RAFT_SIM_TRACE", 0) != 0;
  uint64_t acked = 0, reads = 0, snaps = 0, confs = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions opts;
    opts.seed = seed;
    opts.nodes = c.nodes;
    opts.mix = c.mix;
    opts.trace = trace;
    Cluster cluster(opts);
    SimResult r = cluster.run();
    if (!r.ok) {
      const auto* info = testing::UnitTest::GetInstance()->current_test_info();
      FAIL() << "seed " << seed << ": " << r.failure << "\nreplay: RAFT_SIM_SEED=" << seed
             << " RAFT_SIM_TRACE=1 build/tests/raft_sim_tests --gtest_filter='" << info->test_suite_name() << "."
             << info->name() << "'";
    }
    acked += r.acked;
    reads += r.reads;
    snaps += r.snapshots_installed;
    confs += r.conf_changes;
  }
  std::cout << c.mix.name << " x" << c.nodes << ": " << count << " seeds, " << acked << " proposals acknowledged, "
            << reads << " reads, " << snaps << " snapshots installed, " << confs << " membership entries applied\n";
  // The runs must do real work, or the invariants prove nothing.
  EXPECT_GT(acked, count);
}

INSTANTIATE_TEST_SUITE_P(Faults, SimTest, testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace raft::sim
