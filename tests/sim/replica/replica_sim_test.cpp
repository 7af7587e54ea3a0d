// Runs the whole-node simulator over thousands of seeds and fault mixes, and
// checks that the checker itself catches a node that breaks the marks rule.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "world.h"

namespace node::sim {
namespace {

struct Case {
  FaultMix mix;
  int nodes;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.mix.name << " x" << c.nodes; }

std::string case_name(const testing::TestParamInfo<Case>& info) {
  return info.param.mix.name + "_" + std::to_string(info.param.nodes) + "nodes";
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const auto& mix : standard_mixes()) {
    for (int n : {3, 5}) out.push_back(Case{mix, n});
  }
  return out;
}

uint64_t env_u64(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

bool tracing() { return env_u64("REPLICA_SIM_TRACE", 0) != 0; }

void quiet_logs() { spdlog::set_level(tracing() ? spdlog::level::info : spdlog::level::off); }

class ReplicaSim : public testing::TestWithParam<Case> {};

// Default: 625 seeds per case x 16 cases = 10,000 seeds.
// REPLICA_SIM_SEED=<s>   run only seed s (replay); REPLICA_SIM_TRACE=1 prints every event.
// REPLICA_SIM_SEEDS=<n>  seeds per case; REPLICA_SIM_FIRST=<s> first seed;
// REPLICA_SIM_TICKS=<t>  ticks of chaos per seed (default 80).
TEST_P(ReplicaSim, ProductPromisesHold) {
  quiet_logs();
  const Case& c = GetParam();
  uint64_t first = env_u64("REPLICA_SIM_FIRST", 1);
  uint64_t count = env_u64("REPLICA_SIM_SEEDS", 625);
  if (std::getenv("REPLICA_SIM_SEED")) {
    first = env_u64("REPLICA_SIM_SEED", 1);
    count = 1;
  }
  SimResult total;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.nodes = c.nodes;
    o.mix = c.mix;
    o.chaos_ticks = static_cast<int>(env_u64("REPLICA_SIM_TICKS", 80));
    o.trace = tracing();
    World world(o);
    SimResult r = world.run();
    if (!r.ok) {
      const auto* info = testing::UnitTest::GetInstance()->current_test_info();
      FAIL() << "seed " << seed << ": " << r.failure << "\nreplay: REPLICA_SIM_SEED=" << seed
             << " REPLICA_SIM_TRACE=1 build/tests/replica_sim_tests --gtest_filter='" << info->test_suite_name()
             << "." << info->name() << "'";
    }
    total.acked += r.acked;
    total.refused += r.refused;
    total.unknown += r.unknown;
    total.reads += r.reads;
    total.crashes += r.crashes;
    total.wipes += r.wipes;
    total.wiped_refused += r.wiped_refused;
    total.disk_full += r.disk_full;
    total.storage_failures += r.storage_failures;
    total.members_added += r.members_added;
    total.members_removed += r.members_removed;
  }
  std::cout << c.mix.name << " x" << c.nodes << ": " << count << " seeds; changes acknowledged " << total.acked
            << ", refused " << total.refused << ", given up " << total.unknown << "; reads " << total.reads
            << "; crashes " << total.crashes << ", wipes " << total.wipes << " (refused to start "
            << total.wiped_refused << "), full disks " << total.disk_full << ", storage failures "
            << total.storage_failures << "; members added " << total.members_added << ", removed "
            << total.members_removed << "\n";
  // The runs must do real work, or the checks prove nothing.
  EXPECT_GT(total.acked, count);
}

INSTANTIATE_TEST_SUITE_P(Faults, ReplicaSim, testing::ValuesIn(all_cases()), case_name);

// The checker is only worth its promises if it fails when one is broken:
// without holds-data marks, a voter that lost its data comes back as a new
// member whose empty log can help elect a leader that lacks an acknowledged
// change.
TEST(ReplicaSimChecker, CatchesAWipedVoterCountedWithoutItsMark) {
  quiet_logs();
  FaultMix mix;
  for (const auto& m : standard_mixes()) {
    if (m.name == "wipes") mix = m;
  }
  uint64_t caught = 0, first_caught = 0;
  const uint64_t seeds = env_u64("REPLICA_SIM_SELFTEST_SEEDS", 2000);
  for (uint64_t seed = 1; seed <= seeds && caught == 0; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.nodes = 3;
    o.mix = mix;
    o.break_marks = true;
    SimResult r = World(o).run();
    // A liveness failure proves less (it may have other causes): the broken
    // rule must show as a broken promise.
    if (!r.ok && r.failure.rfind("liveness", 0) != 0) {
      ++caught;
      first_caught = seed;
      std::cout << "broken marks caught at seed " << seed << ": " << r.failure << "\n";
    } else if (!r.ok && std::getenv("REPLICA_SIM_SELFTEST_VERBOSE")) {
      std::cout << "seed " << seed << ": " << r.failure << "\n";
    }
  }
  ASSERT_GT(caught, 0u) << "the checker never noticed a node running without holds-data marks in " << seeds
                        << " seeds";
  // The same seed with the marks in place keeps every promise.
  SimOptions o;
  o.seed = first_caught;
  o.nodes = 3;
  o.mix = mix;
  SimResult r = World(o).run();
  EXPECT_TRUE(r.ok) << r.failure;
}

}  // namespace
}  // namespace node::sim
