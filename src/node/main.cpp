// dns-node: entry point. Reads the command line and the config, binds the
// listeners, seeds the store from the zone files, then serves queries and
// stdin commands until SIGINT or SIGTERM.
//
// A query: UdpServer/TcpServer (src/server) -> server::respond() against the
// worker's snapshot of the store. A change: stdin line -> StdinCommands ->
// ChangeSubmitter -> store::Store::apply() -> new snapshot for the workers.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <memory>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "node/change_submitter.h"
#include "node/cli.h"
#include "node/config.h"
#include "node/stdin_commands.h"
#include "node/zone_loader.h"
#include "server/query_stats.h"
#include "server/tcp_server.h"
#include "server/udp_server.h"
#include "store/store.h"

#ifndef DNSNODE_VERSION
#define DNSNODE_VERSION "unknown"
#endif

namespace {

constexpr int kExitFailure = 1;

/// Logs go to stderr, one line per event; stdout carries only the replies
/// to stdin commands.
void setup_logging(const std::string& level, const std::string& node_id) {
  auto logger = std::make_shared<spdlog::logger>("dns-node", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l node " + node_id + ": %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

server::ListenAddress listen_address(const node::Endpoint& ep) { return {ep.host, ep.port, ep.ipv6}; }

unsigned udp_thread_count(const node::Config& cfg) {
  if (cfg.udp_threads > 0) return cfg.udp_threads;
  return std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
}

/// Reads the zone files and applies them as one change. Returns false if a
/// file could not be read at all (a typo in -z should not start an empty node).
bool seed_from_zone_files(const std::vector<std::string>& paths, node::ChangeSubmitter& submitter,
                          uint32_t origin) {
  node::ZoneLoad load = node::load_zone_files(paths);
  for (const std::string& e : load.fatal) spdlog::critical("{}", e);
  if (!load.fatal.empty()) return false;
  for (const std::string& w : load.warnings) spdlog::warn("{}", w);
  if (load.change.ops.empty()) return true;
  load.change.origin = origin;
  size_t ops = load.change.ops.size();
  node::SubmitResult result = node::submit_and_wait(submitter, load.change);
  if (!result) {
    spdlog::error("zone files not loaded: {}", result.error().message);
    return true;  // keep serving; the operator can retry through stdin
  }
  std::vector<std::string> rejected = node::rejected_records(load, *result);
  for (const std::string& r : rejected) spdlog::warn("{}", r);
  spdlog::info("loaded {} records from {} zone file(s), {} rejected, {} lines skipped", ops - rejected.size(),
               paths.size(), rejected.size(), load.warnings.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  node::CliOutcome cli = node::parse_command_line(argc, argv, DNSNODE_VERSION);
  if (!cli.options) {
    std::fputs(cli.out.c_str(), stdout);
    std::fputs(cli.err.c_str(), stderr);
    return cli.exit_code;
  }
  const node::Options& opts = *cli.options;
  setup_logging(opts.log_level, opts.node_id);

  // SIGINT/SIGTERM are taken by sigwait() below, so block them before any
  // thread starts (threads inherit the mask). Writes to a closed socket or
  // stdout return EPIPE instead of killing the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Everything that can be wrong with the configuration is reported before
  // anything is bound.
  auto config = node::load_config(opts.config_path);
  if (!config) {
    spdlog::critical("{}", config.error().message);
    return kExitFailure;
  }
  for (const std::string& w : config->warnings) spdlog::warn("{}", w);
  auto self = config->node(opts.node_id);
  if (!self) {
    spdlog::critical("{}: {}", opts.config_path, self.error().message);
    return kExitFailure;
  }
  const node::NodeConfig& me = **self;
  if (opts.unreliable || opts.insecure_peers || opts.join) {
    spdlog::info("peer options (--unreliable, --insecure-peers, --join) apply to cluster traffic; this node runs alone");
  }

  store::Store store;
  server::QueryStats stats;
  server::UdpServer udp(store, stats,
                        server::UdpOptions{listen_address(me.query), udp_thread_count(*config), opts.query_log});
  server::TcpServer tcp(store, stats,
                        server::TcpOptions{listen_address(me.query), config->tcp.idle_timeout_ms,
                                           config->tcp.max_connections, config->tcp.max_buffered_output,
                                           opts.query_log});
  // Bind before loading: a busy port is reported at once, and queries that
  // arrive while the zones load wait in the socket buffers.
  if (auto bound = udp.bind(); !bound) {
    spdlog::critical("{}", bound.error().message);
    return kExitFailure;
  }
  if (auto bound = tcp.bind(); !bound) {
    spdlog::critical("{}", bound.error().message);
    return kExitFailure;
  }

  node::LocalSubmitter submitter(store);
  if (!seed_from_zone_files(opts.zone_files, submitter, me.numeric_id)) return kExitFailure;

  udp.start();
  tcp.start();
  spdlog::info("dns-node {} serving {} on udp and tcp ({} udp threads); {} records in {} zones", DNSNODE_VERSION,
               me.query.to_string(), udp_thread_count(*config), store.snapshot()->record_count(),
               store.snapshot()->zone_names().size());

  // Stdin commands run on their own thread; end of input only ends them.
  int stop_pipe[2];
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
    spdlog::critical("cannot create a pipe: {}", std::strerror(errno));
    return kExitFailure;
  }
  node::StdinCommands commands(submitter, store, me.numeric_id,
                               [&] { return node::local_status(me.id, store); });
  std::thread stdin_thread([&] {
    commands.run(STDIN_FILENO, STDOUT_FILENO, stop_pipe[0]);
    spdlog::debug("end of standard input; still serving");
  });

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (void)!write(stop_pipe[1], "x", 1);
  stdin_thread.join();
  tcp.stop();
  udp.stop();
  server::QueryTotals totals = stats.totals();
  spdlog::info("stopped after {} udp and {} tcp queries", totals.udp, totals.tcp);
  return 0;
}
