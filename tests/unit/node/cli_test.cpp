// The dns-node command line and the --unreliable fault spec.
#include "node/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace node {
namespace {

CliOutcome parse(std::vector<const char*> args) {
  args.insert(args.begin(), "dns-node");
  return parse_command_line(static_cast<int>(args.size()), args.data(), "9.9.9");
}

TEST(Cli, SeedCommandLine) {
  auto r = parse({"-n", "0", "-c", "dns-config.json", "-z", "zone-files/zf0.txt"});
  ASSERT_TRUE(r.options.has_value()) << r.err;
  EXPECT_EQ(r.options->node_id, "0");
  EXPECT_EQ(r.options->config_path, "dns-config.json");
  EXPECT_EQ(r.options->zone_files, std::vector<std::string>{"zone-files/zf0.txt"});
  EXPECT_EQ(r.options->data_dir, "data/node-0");
  EXPECT_EQ(r.options->log_level, "info");
  EXPECT_FALSE(r.options->query_log);
  EXPECT_FALSE(r.options->insecure_peers);
  EXPECT_FALSE(r.options->unreliable.has_value());
  EXPECT_FALSE(r.options->join.has_value());
}

TEST(Cli, AllOptions) {
  auto r = parse({"--node", "2", "--config", "c.json", "-z", "a.txt", "-z", "b.zone", "--data-dir", "/tmp/d",
                  "--log-level", "debug", "--query-log", "--insecure-peers", "--unreliable", "drop=0.5",
                  "--join", "127.0.0.1:4321"});
  ASSERT_TRUE(r.options.has_value()) << r.err;
  EXPECT_EQ(r.options->zone_files, (std::vector<std::string>{"a.txt", "b.zone"}));
  EXPECT_EQ(r.options->data_dir, "/tmp/d");
  EXPECT_EQ(r.options->log_level, "debug");
  EXPECT_TRUE(r.options->query_log);
  EXPECT_TRUE(r.options->insecure_peers);
  ASSERT_TRUE(r.options->unreliable.has_value());
  EXPECT_DOUBLE_EQ(r.options->unreliable->drop, 0.5);
  EXPECT_EQ(r.options->join, "127.0.0.1:4321");
}

TEST(Cli, NodeIdIsRequired) {
  auto r = parse({"-c", "dns-config.json"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--node"), std::string::npos) << r.err;
}

TEST(Cli, BadLogLevelIsRefused) {
  auto r = parse({"-n", "0", "--log-level", "loud"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loud"), std::string::npos) << r.err;
}

TEST(Cli, UnknownOptionIsRefused) {
  auto r = parse({"-n", "0", "--frobnicate"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, BadUnreliableSpecIsRefused) {
  auto r = parse({"-n", "0", "--unreliable", "drop=2"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("drop=2"), std::string::npos) << r.err;
}

TEST(Cli, HelpAndVersionExitZeroOnStdout) {
  auto h = parse({"--help"});
  EXPECT_FALSE(h.options.has_value());
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--zone"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("--unreliable"), std::string::npos);
  auto v = parse({"--version"});
  EXPECT_FALSE(v.options.has_value());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("dns-node 9.9.9"), std::string::npos) << v.out;
}

TEST(Unreliable, FullSpec) {
  auto r = parse_unreliable("drop=0.2,dup=0.05,delay=5-50ms");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->drop, 0.2);
  EXPECT_DOUBLE_EQ(r->dup, 0.05);
  EXPECT_EQ(r->delay_min_ms, 5u);
  EXPECT_EQ(r->delay_max_ms, 50u);
  EXPECT_TRUE(r->any());
}

TEST(Unreliable, DelayForms) {
  struct Case {
    const char* spec;
    uint32_t lo, hi;
  };
  for (const Case& c : {Case{"delay=20ms", 20, 20}, Case{"delay=20", 20, 20}, Case{"delay=1s", 1000, 1000},
                        Case{"delay=5ms-1s", 5, 1000}, Case{"delay=0-10", 0, 10}, Case{" reorder=0.1 , delay=3-4ms ", 3, 4}}) {
    auto r = parse_unreliable(c.spec);
    ASSERT_TRUE(r.ok()) << c.spec << ": " << r.error().message;
    EXPECT_EQ(r->delay_min_ms, c.lo) << c.spec;
    EXPECT_EQ(r->delay_max_ms, c.hi) << c.spec;
  }
}

TEST(Unreliable, BadSpecsSayWhy) {
  struct Case {
    const char* spec;
    const char* expect;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"drop", "not key=value"}, Case{"drop=1.5", "probability"},
                        Case{"drop=-0.1", "probability"}, Case{"dup=x", "probability"}, Case{"drop=", "probability"},
                        Case{"loss=0.1", "unknown key 'loss'"}, Case{"delay=50-5ms", "minimum is above"},
                        Case{"delay=fast", "delay such as"}, Case{"delay=5-ms", "delay such as"},
                        Case{"delay=999s", "delay such as"}}) {
    auto r = parse_unreliable(c.spec);
    ASSERT_FALSE(r.ok()) << "accepted: " << c.spec;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << c.spec << " -> " << r.error().message;
  }
}

}  // namespace
}  // namespace node
