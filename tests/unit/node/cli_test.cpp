// The dns-node command line and the --unreliable fault spec.
#include "node/cli.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
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
  EXPECT_NE(r.err.find("drop must be in [0,1]"), std::string::npos) << r.err;
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

TEST(Cli, ControlSocketAndLogFormatDefaults) {
  auto r = parse({"-n", "0", "--data-dir", "/var/lib/dns-node/0"});
  ASSERT_TRUE(r.options.has_value());
  EXPECT_EQ(r.options->control_socket, "/var/lib/dns-node/0/control.sock");
  EXPECT_EQ(r.options->log_format, "auto");
  r = parse({"-n", "0", "--control-socket", "none", "--log-format", "journal"});
  ASSERT_TRUE(r.options.has_value());
  EXPECT_EQ(r.options->control_socket, "none");
  EXPECT_EQ(r.options->log_format, "journal");
  r = parse({"-n", "0", "--log-format", "xml"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, AZoneDirectoryStandsForItsZoneFilesInNameOrder) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("cli-zones-" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub.zone");  // a directory, even named .zone, is not a zone file
  for (const char* name : {"b.example.zone", "a.example.zone", "notes.txt", ".hidden.zone"}) {
    std::ofstream(dir / name) << "";
  }
  auto r = parse({"-n", "0", "-z", "first.txt", "-z", dir.c_str()});
  ASSERT_TRUE(r.options.has_value()) << r.err;
  EXPECT_EQ(r.options->zone_files, (std::vector<std::string>{"first.txt", (dir / "a.example.zone").string(),
                                                              (dir / "b.example.zone").string()}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace node
