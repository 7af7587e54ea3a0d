// dns-node: entry point. Reads the command line and the config, binds the
// listeners, seeds the store from the zone files, then serves queries and
// stdin commands until SIGINT or SIGTERM.
//
// A query: UdpServer/TcpServer (src/server) -> server::respond() against the
// worker's snapshot of the store. A change: stdin line -> StdinCommands ->
// Cluster (Raft: forward to the leader, replicate, commit) -> apply on every
// node -> store::Store::apply() -> new snapshot for the workers.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "node/change_submitter.h"
#include "node/dnssec_keys.h"
#include "node/cluster.h"
#include "node/cli.h"
#include "node/config.h"
#include "node/control_socket.h"
#include "node/cpu_budget.h"
#include "node/member_commands.h"
#include "node/secondary_zones.h"
#include "node/service.h"
#include "node/stdin_commands.h"
#include "node/transfer_options.h"
#include "node/zone_loader.h"
#include "node/update_options.h"
#include "node/zone_seed.h"
#include "node/zone_settings.h"
#include "raft/peer_security.h"
#include "server/http_api.h"
#include "server/http_policy.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/notify.h"
#include "server/query_stats.h"
#include "server/recent_changes.h"
#include "server/tcp_server.h"
#include "server/udp_server.h"
#include "server/update.h"
#include "server/xfr.h"
#include "server/zone_follower.h"
#include "store/store.h"

#ifndef DNSNODE_VERSION
#define DNSNODE_VERSION "unknown"
#endif

namespace {

constexpr int kExitFailure = 1;

/// Logs go to stderr, one line per event; stdout carries only the replies
/// to stdin commands.
void setup_logging(const std::string& level, const std::string& node_id, const std::string& format) {
  auto logger = std::make_shared<spdlog::logger>("dns-node", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l node " + node_id + ": %v");
  // Under systemd the journal stamps and ranks each line itself.
  if (format == "journal" || (format == "auto" && node::stderr_is_journal())) {
    logger->set_formatter(node::journal_formatter(node_id));
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

server::ListenAddress listen_address(const node::Endpoint& ep) { return {ep.host, ep.port, ep.ipv6}; }

unsigned udp_thread_count(const node::Config& cfg) {
  if (cfg.udp_threads > 0) return cfg.udp_threads;
  // The CPUs this process may run on (taskset, cpuset, cgroup quota), not the
  // machine's: more threads than CPUs only take turns on them.
  static const unsigned usable = node::usable_cpus();
  return std::min(usable, 8u);
}

/// Reads the zone files. Returns nullopt if a file could not be read at all
/// (a typo in -z should not start a node that then removes its records).
std::optional<node::ZoneLoad> read_zone_files(const std::vector<std::string>& paths) {
  node::ZoneLoad load = node::load_zone_files(paths);
  for (const std::string& e : load.fatal) spdlog::critical("{}", e);
  if (!load.fatal.empty()) return std::nullopt;
  for (const std::string& w : load.warnings) spdlog::warn("{}", w);
  return load;
}

/// A ChangeSubmitter over a plain submit function: lets the stdin commands
/// and the zone seed go through RecentChanges::wrap (the status page).
class FunctionSubmitter final : public node::ChangeSubmitter {
 public:
  explicit FunctionSubmitter(server::SubmitFn fn) : fn_(std::move(fn)) {}
  void submit(store::Change change, std::function<void(node::SubmitResult)> done) override {
    fn_(std::move(change), std::move(done));
  }

 private:
  server::SubmitFn fn_;
};

/// Each TSIG key's HTTP role, by lower-case key name.
std::map<std::string, server::HttpRole> http_roles(const node::Config& cfg) {
  std::map<std::string, server::HttpRole> out;
  for (const node::TsigKey& k : cfg.tsig_keys) {
    std::string name = k.name;
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out[name] = k.role == "admin" ? server::HttpRole::Admin
                : k.role == "update" ? server::HttpRole::Update
                                     : server::HttpRole::None;
  }
  return out;
}

/// SIGINT and SIGTERM, taken by a thread of their own from the first moment
/// of start: seeding the store retries until `stopping`, and a node alone
/// waits for its seed before it serves, so a stop asked before serving must
/// set it too (a seed that never commits would otherwise hold the node).
class StopSignals {
 public:
  /// `signals` must already be blocked in the calling thread, whose mask
  /// the taking thread inherits.
  explicit StopSignals(const sigset_t& signals) : signals_(signals), thread_([this] { take(); }) {}
  ~StopSignals() {
    // When no signal came (a start that failed), one sent to the taking
    // thread alone ends its wait.
    closing_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Set once SIGINT or SIGTERM has come.
  std::atomic<bool>& stopping() { return stopping_; }
  /// Blocks until a stop signal has come or, when given, `done` is set by a
  /// thread that then calls wake().
  void wait(const std::atomic<bool>* done = nullptr) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || (done && *done); });
  }
  void wake() {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }

 private:
  void take() {
    int sig = 0;
    sigwait(&signals_, &sig);
    if (closing_) return;
    spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  const sigset_t signals_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

int main(int argc, char** argv) {
  node::CliOutcome cli = node::parse_command_line(argc, argv, DNSNODE_VERSION);
  if (!cli.options) {
    std::fputs(cli.out.c_str(), stdout);
    std::fputs(cli.err.c_str(), stderr);
    return cli.exit_code;
  }
  const node::Options& opts = *cli.options;
  setup_logging(opts.log_level, opts.node_id, opts.log_format);

  // SIGINT/SIGTERM are taken by StopSignals' thread, so block them before
  // any thread starts (threads inherit the mask). Writes to a closed socket
  // or stdout return EPIPE instead of killing the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  StopSignals stop(stop_signals);
  std::atomic<bool>& stopping = stop.stopping();

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
  // Peers authenticate with certificates (cluster.tls) or the cluster secret
  // (docs/config.md); running without either must be a deliberate choice.
  // A node alone has no peers: nothing to authenticate, and it commits at once.
  const bool alone = config->nodes.size() == 1 && !opts.join;
  const bool peer_credentials = config->cluster.tls || !config->cluster.secret.empty();
  std::shared_ptr<raft::PeerSecurity> peer_security;
  if (config->cluster.tls) {
    const node::ClusterTlsConfig files = config->cluster.tls->for_node(opts.node_id);
    auto loaded = raft::PeerSecurity::with_certificates({files.ca, files.cert, files.key},
                                                        raft::peer_credential_name(opts.node_id));
    if (!loaded) {
      spdlog::critical("{}: {}", opts.config_path, loaded.error().message);
      return kExitFailure;
    }
    peer_security = *loaded;
  }
  if (!alone && !peer_credentials && !opts.insecure_peers) {
    spdlog::critical(
        "{}: a cluster of {} nodes needs a shared secret to authenticate peer traffic: add "
        "\"cluster\": {{\"secret\": \"...\"}} with the same value on every node (make one with "
        "`openssl rand -base64 32`), or certificates in \"cluster\": {{\"tls\": ...}} (docs/config.md), or start "
        "with --insecure-peers on a trusted network",
        opts.config_path, config->nodes.size());
    return kExitFailure;
  }
  if (!peer_credentials && !alone) {
    spdlog::warn("--insecure-peers: peer traffic is not authenticated; use only on a trusted network");
  }
  // Online DNSSEC (docs/dnssec.md): the zones' private keys travel in the
  // replicated log and snapshots, so peer links must be encrypted (the
  // cluster secret or certificates), and every file the node writes is
  // readable by its user alone.
  const bool online_dnssec = std::any_of(config->zones.begin(), config->zones.end(),
                                         [](const auto& z) { return z.second.dnssec.has_value(); });
  if (online_dnssec && !alone && !peer_credentials) {
    spdlog::critical("{}: zones with \"dnssec\": {{\"policy\": \"online\"}} need encrypted peer links, since their "
                     "private keys are replicated: set cluster.secret or cluster.tls instead of --insecure-peers",
                     opts.config_path);
    return kExitFailure;
  }
  if (online_dnssec) {
    ::umask(0077);
    std::error_code ec;
    std::filesystem::create_directories(opts.data_dir, ec);
    for (auto it = std::filesystem::recursive_directory_iterator(opts.data_dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      const bool dir = it->is_directory(ec);
      std::filesystem::permissions(it->path(), dir ? std::filesystem::perms::owner_all
                                                   : (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write),
                                   ec);
    }
    std::filesystem::permissions(opts.data_dir, std::filesystem::perms::owner_all, ec);
  }
  // Alone without credentials, the node opens no peer port: nothing could
  // tell a peer from an attacker.
  const bool listen_for_peers = peer_credentials || opts.insecure_peers || !alone;
  if (opts.unreliable) spdlog::warn("--unreliable: injecting faults into this node's peer messages (testing only)");
  node::notify_service_manager("STATUS=reading the zone files");  // systemctl status shows where a slow start is
  const std::string seed_state = opts.data_dir + "/zone-seed.state";
  // Files byte for byte as last loaded hold exactly the records last loaded:
  // comparing their fingerprint replaces reading them (node/zone_seed.h).
  const std::optional<std::string> zone_fingerprint = node::zone_files_fingerprint(opts.zone_files);
  std::optional<node::ZoneLoad> zones;
  if (zone_fingerprint && node::zone_files_unchanged(seed_state, *zone_fingerprint)) {
    spdlog::info("zone files unchanged since last loaded (same fingerprint); not read again");
  } else {
    zones = read_zone_files(opts.zone_files);
    if (!zones) return kExitFailure;
    zones->fingerprint = zone_fingerprint;
  }
  // HTTPS on http_loc: the certificate and key are read before anything is bound.
  std::shared_ptr<server::HttpTls> http_tls;
  if (me.http && !config->http.tls_cert.empty()) {
    auto tls = server::load_http_tls(config->http.tls_cert, config->http.tls_key);
    if (!tls) {
      spdlog::critical("{}: {}", opts.config_path, tls.error().message);
      return kExitFailure;
    }
    http_tls = std::move(tls.value());
  }

  // Zones copied from an outside primary ("primary" in "zones").
  auto follower_options = node::make_follower_options(*config);
  if (!follower_options) {
    spdlog::critical("{}: {}", opts.config_path, follower_options.error().message);
    return kExitFailure;
  }

  store::Store store(store::SessionLimits{}, store::JournalLimits{config->journal.max_entries, config->journal.max_bytes});
  server::QueryStats stats;
  // Signed queries (RFC 8945) may use any configured TSIG key.
  const std::vector<dns::tsig::Key> query_keys = node::make_query_keys(*config);
  server::RecentChanges recent_changes;  // the status page's view of this node's changes; outlives every submitter
  server::UdpServer udp(store, stats,
                        server::UdpOptions{listen_address(me.query), udp_thread_count(*config), opts.query_log, config->rrl,
                                           config->max_udp_payload, query_keys});
  server::TcpServer tcp(store, stats,
                        server::TcpOptions{listen_address(me.query), config->tcp.idle_timeout_ms,
                                           config->tcp.max_connections, config->tcp.max_buffered_output,
                                           opts.query_log, config->tcp.message_timeout_ms, query_keys});
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
  // Said once the ports are bound, so a start that fails prints its one reason alone.
  if (!listen_for_peers) {
    spdlog::info("no peer port: a one-node cluster without cluster.secret or cluster.tls; set one (and the same on "
                 "every node) before growing the cluster");
  }

  // Restore the store from this node's checkpoint and log before serving:
  // a restarted node answers from its own data before any peer does.
  node::ClusterOptions co;
  co.self = me.numeric_id;
  for (const auto& [id, n] : config->nodes) co.members[n.numeric_id] = {n.query.to_string(), n.raft.to_string()};
  if (opts.join) co.join = *opts.join;
  co.secret = config->cluster.secret;
  co.insecure_peers = opts.insecure_peers || alone;
  co.peer_security = peer_security;
  co.listen_for_peers = listen_for_peers;
  if (opts.unreliable) co.unreliable = *opts.unreliable;
  co.data_dir = opts.data_dir;
  co.tick_ms = config->cluster.heartbeat_ms;
  co.election_ticks = std::max<uint32_t>(2, config->cluster.election_timeout_ms / std::max<uint32_t>(1, co.tick_ms));
  co.propose_timeout_ms = config->cluster.propose_timeout_ms;
  co.prune_lag_entries = config->cluster.prune_lag_entries;
  co.checkpoint_every_entries = config->cluster.checkpoint_every_entries;
  co.wal_segment_bytes = config->cluster.wal_segment_bytes;
  auto cluster = node::Cluster::open(co, store);
  if (!cluster) {
    spdlog::critical("{}", cluster.error().message);
    return kExitFailure;
  }
  if (auto started = (*cluster)->start(); !started) {
    spdlog::critical("{}", started.error().message);
    return kExitFailure;
  }
  // Every change carries its proposer's clock, apply's only clock (a
  // session stamps its own; this stamps the others).
  node::TimestampingSubmitter stamping(**cluster);
  // A zone copied from a primary changes by its transfers alone (docs/config.md).
  node::SecondaryZoneGuard secondary_guard(stamping, store, node::secondary_zones(*config));
  node::ChangeSubmitter& submitter = secondary_guard;
  // RFC 2136 UPDATE on the DNS port: checked and TSIG-verified by the
  // handler, then submitted like any other change.
  std::vector<std::string> update_warnings;
  auto update_options = node::make_update_options(*config, &update_warnings);
  for (const std::string& w : update_warnings) spdlog::warn("{}", w);
  if (!update_options) {
    spdlog::critical("{}", update_options.error().message);
    return kExitFailure;
  }
  // The HTTP API takes the same keys, read before the handler owns them.
  std::vector<server::HttpCredential> http_keys = server::http_credentials(update_options->keys, http_roles(*config));
  server::Metrics metrics;  // for /metrics; UPDATE outcomes are counted once committed
  server::UpdateHandler update_handler(
      store,
      recent_changes.wrap(
          [&submitter, &metrics](store::Change c, auto done) {
            submitter.submit(std::move(c), [&metrics, done = std::move(done)](node::SubmitResult r) {
              metrics.count_update("rfc2136", r ? server::rcode_name(r->rcode) : "unavailable");
              done(std::move(r));
            });
          },
          server::ChangeSource::Update),
      std::move(update_options.value()));
  udp.set_update_handler(&update_handler);
  tcp.set_update_handler(&update_handler);
  // Zone transfers out (AXFR, IXFR) from any node, and NOTIFY from the leader.
  auto xfr_options = node::make_xfr_options(*config);
  if (!xfr_options) {
    spdlog::critical("{}: {}", opts.config_path, xfr_options.error().message);
    return kExitFailure;
  }
  auto notify_options = node::make_notify_options(*config);
  if (!notify_options) {
    spdlog::critical("{}: {}", opts.config_path, notify_options.error().message);
    return kExitFailure;
  }
  server::XfrHandler xfr_handler(store, std::move(xfr_options.value()));
  tcp.set_xfr_handler(&xfr_handler);
  // The leader query is the cluster's STATUS for now, asked at most every
  // leader_poll_ms (100 ms) by the notifier's thread.
  server::Notifier notifier(store, std::move(notify_options.value()),
                            [&] { return (*cluster)->status().value("role", std::string()) == "leader"; });
  if (auto started = notifier.start(); !started) {
    spdlog::critical("{}", started.error().message);
    return kExitFailure;
  }
  metrics.add_source([&](server::PrometheusWriter& w) { server::render_transfer_metrics(w, xfr_handler, notifier, store); });
  // The leader follows each zone's outside primary and commits its transfers
  // past the guard; every node answers the primary's NOTIFY.
  server::ZoneFollower follower(store, std::move(follower_options.value()),
                                [&] { return (*cluster)->status().value("role", std::string()) == "leader"; },
                                [&stamping](store::Change c, auto done) { stamping.submit(std::move(c), std::move(done)); });
  udp.set_notify_handler(&follower);
  tcp.set_notify_handler(&follower);
  follower.start();
  metrics.add_source([&](server::PrometheusWriter& w) { follower.render_metrics(w); });
  // The HTTP API (DynDNS2, REST, /health, /metrics), when this node has an http_loc.
  server::HttpApiDeps http_deps{&store,
                                [&](store::Change c, std::function<void(node::SubmitResult)> done) {
                                  submitter.submit(std::move(c), std::move(done));
                                },
                                [&](std::function<void(util::Result<void>)> done) {
                                  (*cluster)->read_barrier(std::move(done));
                                },
                                [&] { return (*cluster)->status(); },
                                me.numeric_id,
                                // The UPDATE keys and their policies: user = key name, password = base64 secret.
                                std::move(http_keys),
                                &metrics, &stats,
                                [&] { return (*cluster)->members(); },
                                [&](server::MemberChange change, std::function<void(node::SubmitResult)> done) {
                                  node::submit_member_change(**cluster, change, std::move(done));
                                }};
  http_deps.recent = &recent_changes;
  for (const auto& [id, n] : config->nodes) {
    if (n.http) http_deps.node_urls[id] = (http_tls ? "https://" : "http://") + n.http->to_string() + "/";
  }
  for (const std::string& net : config->http.open_reads_from) {
    http_deps.open_reads_from.push_back(server::Network::parse(net).value());  // checked by the config reader
  }
  if (me.http) {
    for (size_t i = 0; i < config->tsig_keys.size(); ++i) {
      if (config->tsig_keys[i].role.empty()) {
        spdlog::warn("{}: tsig_keys[{}] ({}) has no \"role\": the HTTP API lets it read but change nothing; give it "
                     "\"role\": \"update\" (or \"admin\") to use it for DynDNS or REST",
                     opts.config_path, i, config->tsig_keys[i].name);
      }
    }
  }
  server::HttpApi http_api(std::move(http_deps));
  std::optional<server::HttpServer> http;
  if (me.http) {
    server::HttpServerOptions http_options{listen_address(*me.http)};
    http_options.tls = http_tls;
    http.emplace(http_api, std::move(http_options));
    if (auto bound = http->bind(); !bound) {
      spdlog::critical("{}", bound.error().message);
      return kExitFailure;
    }
    http->start();
  }

  // The zone seed, stdin and dns-nodectl commands, recorded for the status page.
  FunctionSubmitter seed_submitter(recent_changes.wrap(
      [&submitter](store::Change c, auto done) { submitter.submit(std::move(c), std::move(done)); },
      server::ChangeSource::ZoneFile));
  FunctionSubmitter stdin_submitter(recent_changes.wrap(
      [&submitter](store::Change c, auto done) { submitter.submit(std::move(c), std::move(done)); },
      server::ChangeSource::Stdin));
  FunctionSubmitter control_submitter(recent_changes.wrap(
      [&submitter](store::Change c, auto done) { submitter.submit(std::move(c), std::move(done)); },
      server::ChangeSource::Control));
  // Command handlers for stdin and for each control connection: each one a
  // client session of its own.
  auto make_commands_for = [&](node::ChangeSubmitter& entry) {
    auto c = std::make_unique<node::StdinCommands>(entry, store, me.numeric_id,
                                                   [&] { return (*cluster)->status(); });
    c->set_membership(
        [&](node::MemberOp op) {
          std::promise<node::SubmitResult> promise;
          auto future = promise.get_future();
          (*cluster)->change_members(std::move(op), [&promise](node::SubmitResult r) { promise.set_value(std::move(r)); });
          return future.get();
        },
        [&] { return (*cluster)->members(); });
    c->set_read_barrier([&] {
      std::promise<util::Result<void>> promise;
      auto future = promise.get_future();
      (*cluster)->read_barrier([&promise](util::Result<void> r) { promise.set_value(std::move(r)); });
      return future.get();
    });
    return c;
  };
  auto make_commands = [&] { return make_commands_for(control_submitter); };
  // dns-nodectl's socket (docs/dns-nodectl.md), bound with the ports.
  std::optional<node::ControlSocket> control;
  if (opts.control_socket != "none") {
    control.emplace(node::ControlSocketOptions{opts.control_socket}, make_commands);
    if (auto bound = control->bind(); !bound) {
      spdlog::critical("{}", bound.error().message);
      return kExitFailure;
    }
  }

  std::thread seed_thread;
  const store::Settings zone_settings = node::settings_from_config(*config);
  if (alone) {
    // Alone, the node commits at once: serve only once the zones are in.
    // The seed runs on a thread all the same, so that a stop signal ends the
    // wait for it (the cluster's stop answers a change still in flight).
    node::notify_service_manager("STATUS=committing the zone files' records");
    std::atomic<bool> seeded{false};
    seed_thread = std::thread([&, load = std::move(zones)]() mutable {
      if (load) node::seed_from_zone_files(seed_submitter, store, seed_state, std::move(*load), stopping, /*zone_wait_ms=*/0);
      node::propose_settings(seed_submitter, store, zone_settings, stopping);
      seeded = true;
      stop.wake();
    });
    stop.wait(&seeded);
  } else {
    // In a cluster the zone files' changes wait for a quorum; meanwhile the
    // node serves what it already has.
    // The seed takes the parsed records and frees them once proposed.
    seed_thread = std::thread([&, load = std::move(zones)]() mutable {
      if (load) node::seed_from_zone_files(seed_submitter, store, seed_state, std::move(*load), stopping);
      node::propose_settings(seed_submitter, store, zone_settings, stopping);
    });
  }

  // The leader makes the keys of online-signed zones (node/dnssec_keys.h).
  node::DnssecKeeper keeper(config->zones, store,
                            [&submitter](store::Change c, auto done) { submitter.submit(std::move(c), std::move(done)); },
                            [&] {
                              auto s = (*cluster)->status();
                              return s.contains("role") && s["role"] == "leader";
                            },
                            me.numeric_id);
  metrics.add_source([&store, zones = config->zones](server::PrometheusWriter& w) {
    node::render_dnssec_key_metrics(w, store, zones);
  });
  std::thread keeper_thread;
  if (keeper.zone_count() > 0) {
    keeper_thread = std::thread([&] {
      while (!stopping) {
        keeper.tick(static_cast<uint64_t>(::time(nullptr)));
        for (int i = 0; i < 10 && !stopping; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }

  // A stop asked while the zones went in ends the start before serving.
  if (!stopping) {
    udp.start();
    tcp.start();
    if (control) control->start();
    // Type=notify: ready once queries are answered and dns-nodectl can connect.
    node::notify_service_manager("READY=1\nSTATUS=serving " + me.query.to_string());
    spdlog::info("dns-node {} serving {} on udp and tcp ({} udp threads); {} records in {} zones", DNSNODE_VERSION,
                 me.query.to_string(), udp_thread_count(*config), store.snapshot()->record_count(),
                 store.snapshot()->zone_names().size());
  }

  // Stdin commands run on their own thread; end of input only ends them.
  int stop_pipe[2];
  if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
    spdlog::critical("cannot create a pipe: {}", std::strerror(errno));
    return kExitFailure;
  }
  std::unique_ptr<node::StdinCommands> commands = make_commands_for(stdin_submitter);
  std::thread stdin_thread([&] {
    commands->run(STDIN_FILENO, STDOUT_FILENO, stop_pipe[0]);
    spdlog::debug("end of standard input; still serving");
  });

  stop.wait();
  node::notify_service_manager("STOPPING=1");
  (void)!write(stop_pipe[1], "x", 1);
  stdin_thread.join();
  if (keeper_thread.joinable()) keeper_thread.join();
  if (control) control->stop();
  notifier.stop();
  follower.stop();
  (*cluster)->stop();
  if (http) http->stop();  // after the cluster: changes in flight get their answer first
  if (seed_thread.joinable()) seed_thread.join();
  tcp.stop();
  udp.stop();
  server::QueryTotals totals = stats.totals();
  spdlog::info("stopped after {} udp and {} tcp queries", totals.udp, totals.tcp);
  return 0;
}
