// Command-line parsing for dns-node (CLI11).
#include "node/cli.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

namespace node {

util::Result<std::vector<std::string>> expand_zone_directories(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      out.push_back(path);  // a file, or a missing path the zone loader reports
      continue;
    }
    std::vector<std::string> found;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() == ".zone" && p.filename().string().front() != '.' && it->is_regular_file(ec)) {
        found.push_back(p.string());
      }
    }
    if (ec) return util::make_error("-z " + path + ": cannot list the directory: " + ec.message());
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
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
  app.add_option("-z,--zone", opts.zone_files,
                 "Zone file to load (legacy or RFC 1035 master format), or a directory whose *.zone files are "
                 "loaded in name order; repeatable");
  app.add_option("--data-dir", opts.data_dir, "Directory for the Raft log and checkpoints (default data/node-<id>)");
  app.add_option("--log-level", opts.log_level, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--log-format", opts.log_format,
                 "Log line shape: text (with a timestamp), journal (a syslog priority, no timestamp), or auto "
                 "(journal when stderr is the systemd journal)")
      ->check(CLI::IsMember({"auto", "text", "journal"}))
      ->capture_default_str();
  app.add_flag("--query-log", opts.query_log, "Log one line per query");
  app.add_flag("--insecure-peers", opts.insecure_peers, "Accept peer traffic without the cluster secret");
  app.add_option("--unreliable", unreliable, "Inject faults into peer traffic, e.g. drop=0.2,dup=0.05,delay=5-50ms");
  app.add_option("--join", join, "Address of a running node to join the cluster through");
  app.add_option("--control-socket", opts.control_socket,
                 "Unix socket for dns-nodectl (default DATA_DIR/control.sock; 'none': no socket)");

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
    auto spec = raft::parse_unreliable_spec(unreliable);
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
  auto zone_files = expand_zone_directories(opts.zone_files);
  if (!zone_files) {
    outcome.exit_code = 2;
    outcome.err = zone_files.error().message + "\n";
    return outcome;
  }
  opts.zone_files = std::move(*zone_files);
  if (opts.data_dir.empty()) opts.data_dir = "data/node-" + opts.node_id;
  if (opts.control_socket.empty()) opts.control_socket = opts.data_dir + "/control.sock";
  outcome.options = std::move(opts);
  return outcome;
}

}  // namespace node
