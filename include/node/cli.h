// The dns-node command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/transport.h"
#include "util/result.h"

namespace node {

/// Everything the command line sets.
struct Options {
  std::string node_id;
  std::string config_path = "dns-config.json";
  std::vector<std::string> zone_files;
  std::string data_dir;            // "data/node-<id>" unless given
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off
  std::string log_format = "auto"; // auto, text, journal (node/service.h)
  bool query_log = false;          // one log line per query
  bool insecure_peers = false;     // allow peers without the cluster secret
  std::optional<raft::UnreliableOptions> unreliable;  // --unreliable, parsed by raft::parse_unreliable_spec
  std::optional<std::string> join;  // address of a running node to join through
  std::string control_socket;       // "<data_dir>/control.sock" unless given; "none": no socket
};

/// What parsing the command line decided: run with `options`, or exit now
/// with `exit_code` after printing `out` (to stdout: --help, --version) and
/// `err` (to stderr: usage errors).
struct CliOutcome {
  std::optional<Options> options;
  int exit_code = 0;
  std::string out;
  std::string err;
};

/// Replaces each directory among `paths` by its "*.zone" files, sorted by
/// name (hidden files skipped); files and missing paths stay as given.
util::Result<std::vector<std::string>> expand_zone_directories(const std::vector<std::string>& paths);

/// `version` is what --version prints after the program name.
CliOutcome parse_command_line(int argc, const char* const* argv, const std::string& version);

}  // namespace node
