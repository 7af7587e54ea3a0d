// The dns-node command line, and the --unreliable fault-injection spec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace node {

/// Faults injected into peer traffic for testing ("drop=0.2,dup=0.05,delay=5-50ms").
struct UnreliableSpec {
  double drop = 0;           // probability a frame is dropped
  double dup = 0;            // probability a frame is sent twice
  double reorder = 0;        // probability a frame is held back behind the next one
  uint32_t delay_min_ms = 0; // each frame is delayed uniformly in [min, max]
  uint32_t delay_max_ms = 0;

  bool any() const { return drop > 0 || dup > 0 || reorder > 0 || delay_max_ms > 0; }
};

/// Parses "key=value" pairs separated by commas. Keys: drop, dup, reorder
/// (probabilities 0-1) and delay ("20ms", "5-50ms", "1s"; a bare number is ms).
util::Result<UnreliableSpec> parse_unreliable(std::string_view spec);

/// Everything the command line sets.
struct Options {
  std::string node_id;
  std::string config_path = "dns-config.json";
  std::vector<std::string> zone_files;
  std::string data_dir;            // "data/node-<id>" unless given
  std::string log_level = "info";  // trace, debug, info, warn, error, critical, off
  bool query_log = false;          // one log line per query
  bool insecure_peers = false;     // allow peers without the cluster secret
  std::optional<UnreliableSpec> unreliable;
  std::optional<std::string> join;  // address of a running node to join through
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

/// `version` is what --version prints after the program name.
CliOutcome parse_command_line(int argc, const char* const* argv, const std::string& version);

}  // namespace node
