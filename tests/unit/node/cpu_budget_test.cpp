// The default worker count follows the CPUs the process may use: its
// affinity mask and its cgroup v2 quota, not the machine's core count.
#include "node/cpu_budget.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("dnsnode-cgroup-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST(CpuBudget, CpuMaxGivesWholeCpusRoundedUp) {
  EXPECT_EQ(node::cpus_from_cpu_max("100000 100000\n"), 1u);
  EXPECT_EQ(node::cpus_from_cpu_max("150000 100000\n"), 2u);
  EXPECT_EQ(node::cpus_from_cpu_max("50000 100000"), 1u);
  EXPECT_EQ(node::cpus_from_cpu_max("400000 100000\n"), 4u);
}

TEST(CpuBudget, CpuMaxWithoutALimitIsNoQuota) {
  EXPECT_EQ(node::cpus_from_cpu_max("max 100000\n"), std::nullopt);
  EXPECT_EQ(node::cpus_from_cpu_max(""), std::nullopt);
  EXPECT_EQ(node::cpus_from_cpu_max("garbage"), std::nullopt);
  EXPECT_EQ(node::cpus_from_cpu_max("100000 0"), std::nullopt);
}

TEST(CpuBudget, DefaultIsTheAffinityLoweredToTheQuotaAndCapped) {
  EXPECT_EQ(node::default_worker_count(2, std::nullopt, 8), 2u);
  EXPECT_EQ(node::default_worker_count(16, std::nullopt, 8), 8u);
  EXPECT_EQ(node::default_worker_count(16, 3u, 8), 3u);
  EXPECT_EQ(node::default_worker_count(1, 4u, 8), 1u);  // pinned to one core: one thread
  EXPECT_EQ(node::default_worker_count(0, std::nullopt, 8), 1u);
}

TEST_F(CgroupTree, QuotaOfTheProcessGroupIsRead) {
  write_file(root_ / "system.slice/dns-node.service/cpu.max", "200000 100000\n");
  EXPECT_EQ(node::cgroup_cpu_quota("0::/system.slice/dns-node.service\n", root_.string()), 2u);
}

TEST_F(CgroupTree, TightestAncestorQuotaWins) {
  write_file(root_ / "a/cpu.max", "100000 100000\n");
  write_file(root_ / "a/b/cpu.max", "max 100000\n");
  write_file(root_ / "a/b/c/cpu.max", "300000 100000\n");
  EXPECT_EQ(node::cgroup_cpu_quota("0::/a/b/c\n", root_.string()), 1u);
}

TEST_F(CgroupTree, NoLimitAnywhereIsNoQuota) {
  write_file(root_ / "a/cpu.max", "max 100000\n");
  EXPECT_EQ(node::cgroup_cpu_quota("0::/a\n", root_.string()), std::nullopt);
  EXPECT_EQ(node::cgroup_cpu_quota("0::/\n", root_.string()), std::nullopt);
}

TEST_F(CgroupTree, CgroupV1OnlyIsNoQuota) {
  write_file(root_ / "a/cpu.max", "100000 100000\n");
  EXPECT_EQ(node::cgroup_cpu_quota("4:memory:/a\n1:cpu:/a\n", root_.string()), std::nullopt);
}

TEST(CpuBudget, UsableCpusFollowsTheAffinityMask) {
  // On a thread of its own, so the test leaves the process's mask alone.
  unsigned seen = 0;
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    cpu_set_t mine;
    ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &mine)) {
        CPU_SET(c, &one);
        break;
      }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    seen = node::usable_cpus();
  });
  t.join();
  EXPECT_EQ(seen, 1u);
  EXPECT_GE(node::usable_cpus(), 1u);
}

}  // namespace
