// Seeded random workloads with crashes at random points: after every restart
// the log and hard state are exactly what the last successful sync made durable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "storage_test_util.h"

namespace raft {
namespace {

using testing::open_ok;

/// What the last successful sync promised.
struct Durable {
  HardState hs;
  Index last = 0;
  std::vector<std::pair<Index, Term>> terms;  // (index, term) for first-1 .. last
};

Durable capture(const LogStorage& s) {
  Durable d{s.hard_state(), s.last_index(), {}};
  for (Index i = s.first_index() - 1; i <= s.last_index(); ++i) d.terms.emplace_back(i, *s.term(i));
  return d;
}

void check_matches(const LogStorage& s, const Durable& d, uint64_t seed, int step) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
  EXPECT_EQ(s.hard_state(), d.hs);
  EXPECT_EQ(s.last_index(), d.last);
  // Recovery may resume a little earlier or later (snapshot, first kept
  // segment) but every index both know about must agree.
  for (auto [index, term] : d.terms) {
    auto t = s.term(index);
    if (t) {
      EXPECT_EQ(*t, term) << "index " << index;
    }
  }
  EXPECT_LE(s.first_index() - 1, d.last);
}

TEST(RandomCrash, SyncedStateSurvivesEveryCrash) {
  // RAFT_STORAGE_SEEDS widens the search when hunting a bug; 150 is quick.
  const char* env = std::getenv("RAFT_STORAGE_SEEDS");
  const uint64_t seeds = env != nullptr ? std::strtoull(env, nullptr, 10) : 150;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
    MemFileSystem fs;
    auto s = open_ok(fs, 300 + pick(0, 700));
    ASSERT_NE(s, nullptr);
    Durable durable = capture(*s);
    Term term = 1;
    for (int step = 0; step < 150; ++step) {
      switch (pick(0, 9)) {
        case 0: case 1: case 2: {  // append, sometimes overwriting a suffix
          // Raft overwrites only uncommitted entries, never what a snapshot holds.
          Index low = std::max(s->first_index(), s->snapshot_meta().index + 1);
          Index start = (pick(0, 3) == 0 && low <= s->last_index()) ? pick(low, s->last_index() + 1)
                                                                    : s->last_index() + 1;
          if (pick(0, 4) == 0) ++term;
          std::vector<Entry> batch;
          for (uint64_t k = 0, n = pick(1, 6); k < n; ++k) {
            batch.push_back(testing::entry(start + k, term, std::string(pick(0, 40), 'a' + static_cast<char>(k))));
          }
          ASSERT_TRUE(s->append(batch).ok());
          break;
        }
        case 3:
          ASSERT_TRUE(s->set_hard_state({term, pick(0, 3), pick(0, s->last_index())}).ok());
          break;
        case 4: case 5:
          ASSERT_TRUE(s->sync().ok());
          durable = capture(*s);
          break;
        case 6:  // compact part of the durable log
          ASSERT_TRUE(s->sync().ok());
          if (s->durable_index() >= s->first_index()) {
            ASSERT_TRUE(s->compact(pick(s->first_index(), s->durable_index())).ok());
          }
          durable = capture(*s);
          break;
        case 7: {  // a local snapshot of durable entries, or an installed one
          ASSERT_TRUE(s->sync().ok());
          Index lo = std::max(s->snapshot_meta().index, s->first_index() - 1);
          if (pick(0, 1) == 0 && s->last_index() >= lo) {
            Index at = pick(lo, s->last_index());
            ASSERT_TRUE(s->save_snapshot(Snapshot{{at, *s->term(at), {{1}, {}}}, "local"}).ok());
          } else {
            Index at = pick(lo + 1, s->last_index() + 5);
            Term t = (pick(0, 1) == 0 && s->term(at)) ? *s->term(at) : ++term;
            ASSERT_TRUE(s->install_snapshot(Snapshot{{at, t, {{1}, {}}}, "leader"}).ok());
          }
          ASSERT_TRUE(s->sync().ok());
          durable = capture(*s);
          break;
        }
        default: {  // power loss, maybe tearing the unsynced tail
          uint64_t keep = pick(0, 2) == 0 ? pick(1, 200) : 0;
          s.reset();
          fs.crash(keep);
          s = open_ok(fs, 300 + pick(0, 700));
          ASSERT_NE(s, nullptr) << "seed " << seed << " step " << step;
          if (keep == 0) {
            check_matches(*s, durable, seed, step);
          } else {
            // Whole records of the torn tail may survive; what was synced stays.
            EXPECT_GE(s->hard_state().term, durable.hs.term);
          }
          durable = capture(*s);
          break;
        }
      }
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace raft
