// Command-line parsing for dns-node (CLI11) and the --unreliable spec.
#include "node/cli.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdlib>
#include <sstream>

namespace node {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

util::Result<double> parse_probability(std::string_view key, std::string_view text) {
  std::string t(text);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !(v >= 0.0 && v <= 1.0)) {
    return util::make_error("--unreliable: " + std::string(key) + "=" + t + ": must be a probability from 0 to 1");
  }
  return v;
}

/// "20ms", "1s", "20" (ms).
util::Result<uint32_t> parse_duration_ms(std::string_view text) {
  uint64_t mult = 1;
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    text.remove_suffix(2);
  } else if (text.size() > 1 && text.back() == 's') {
    text.remove_suffix(1);
    mult = 1000;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v * mult > 600000) {
    return util::make_error("bad duration");
  }
  return static_cast<uint32_t>(v * mult);
}

}  // namespace

util::Result<UnreliableSpec> parse_unreliable(std::string_view spec) {
  UnreliableSpec out;
  if (trim(spec).empty()) return util::make_error("--unreliable: empty spec (e.g. drop=0.2,dup=0.05,delay=5-50ms)");
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return util::make_error("--unreliable: '" + std::string(item) + "' is not key=value");
    }
    std::string_view key = trim(item.substr(0, eq));
    std::string_view value = trim(item.substr(eq + 1));
    if (key == "drop" || key == "dup" || key == "reorder") {
      auto p = parse_probability(key, value);
      if (!p) return p.error();
      (key == "drop" ? out.drop : key == "dup" ? out.dup : out.reorder) = *p;
    } else if (key == "delay") {
      // "5-50ms": the unit written once at the end applies to both bounds.
      std::string_view lo = value, hi = value;
      size_t dash = value.find('-');
      std::string unit;
      if (dash != std::string_view::npos) {
        lo = value.substr(0, dash);
        hi = value.substr(dash + 1);
        size_t digits_end = hi.find_first_not_of("0123456789");
        if (digits_end != std::string_view::npos && lo.find_first_not_of("0123456789") == std::string_view::npos) {
          unit = std::string(hi.substr(digits_end));
        }
      }
      auto a = parse_duration_ms(std::string(lo) + unit);
      auto b = parse_duration_ms(hi);
      if (!a || !b) {
        return util::make_error("--unreliable: delay=" + std::string(value) +
                                ": write a delay such as 20ms or a range such as 5-50ms (at most 600s)");
      }
      if (*a > *b) {
        return util::make_error("--unreliable: delay=" + std::string(value) + ": the range's minimum is above its maximum");
      }
      out.delay_min_ms = *a;
      out.delay_max_ms = *b;
    } else {
      return util::make_error("--unreliable: unknown key '" + std::string(key) + "' (known: drop, dup, reorder, delay)");
    }
  }
  return out;
}

CliOutcome parse_command_line(int argc, const char* const* argv, const std::string& version) {
  CliOutcome outcome;
  Options opts;
  std::string unreliable;
  std::string join;

  CLI::App app{"dns-node: one node of a replicated authoritative DNS server", "dns-node"};
  app.set_version_flag("--version", "dns-node " + version);
  app.add_option("-n,--node", opts.node_id, "This node's id in the config file's \"nodes\"")->required();
  app.add_option("-c,--config", opts.config_path, "Cluster configuration file")->capture_default_str();
  app.add_option("-z,--zone", opts.zone_files, "Zone file to load (legacy or RFC 1035 master format); repeatable");
  app.add_option("--data-dir", opts.data_dir, "Directory for the Raft log and checkpoints (default data/node-<id>)");
  app.add_option("--log-level", opts.log_level, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--query-log", opts.query_log, "Log one line per query");
  app.add_flag("--insecure-peers", opts.insecure_peers, "Accept peer traffic without the cluster secret");
  app.add_option("--unreliable", unreliable, "Inject faults into peer traffic, e.g. drop=0.2,dup=0.05,delay=5-50ms");
  app.add_option("--join", join, "Address of a running node to join the cluster through");

  std::ostringstream out, err;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, like most Unix tools; --help and --version exit 0.
    outcome.exit_code = app.exit(e, out, err) == 0 ? 0 : 2;
    outcome.out = out.str();
    outcome.err = err.str();
    return outcome;
  }
  if (app.count("--unreliable")) {
    auto spec = parse_unreliable(unreliable);
    if (!spec) {
      outcome.exit_code = 2;
      outcome.err = spec.error().message + "\n";
      return outcome;
    }
    opts.unreliable = *spec;
  }
  if (app.count("--join")) {
    if (join.empty()) {
      outcome.exit_code = 2;
      outcome.err = "--join: needs an address such as 127.0.0.1:4321\n";
      return outcome;
    }
    opts.join = join;
  }
  if (opts.node_id.empty()) {
    outcome.exit_code = 2;
    outcome.err = "-n: the node id must not be empty\n";
    return outcome;
  }
  if (opts.data_dir.empty()) opts.data_dir = "data/node-" + opts.node_id;
  outcome.options = std::move(opts);
  return outcome;
}

}  // namespace node
