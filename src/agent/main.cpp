// dns-register: keeps this host's name pointed at its addresses. Replaces
// the name's A/AAAA RRsets with a TSIG-signed RFC 2136 UPDATE when the kernel
// reports an address change (rtnetlink) and every --interval.
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "agent.h"

namespace {

// Exit codes: what a supervisor (systemd) or a script can act on.
constexpr int kExitUnreachable = 1;  // no server committed the update (or bad usage)
constexpr int kExitBadKey = 2;       // NOTAUTH / BADKEY / BADSIG / BADTIME: fix the key
constexpr int kExitRefused = 3;      // REFUSED / NOTZONE: the name is not this key's to change

struct Options {
  std::string name, zone, key_name, key_secret, key_file, algorithm = "hmac-sha256";
  std::vector<std::string> servers{"127.0.0.1:53"};
  std::vector<std::string> ips;
  uint32_t ttl = 60;
  uint32_t interval = 300;
  int timeout_ms = 4000;
  bool once = false, no_tsig = false;
};

/// Reads a BIND key file (key "name" { algorithm ...; secret "..."; };) or
/// a file holding only the base64 secret.
util::Result<void> read_key_file(Options& o) {
  std::ifstream in(o.key_file);
  if (!in) return util::make_error("cannot read key file " + o.key_file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto quoted_after = [&](const std::string& word) -> std::string {
    size_t p = text.find(word);
    if (p == std::string::npos) return "";
    size_t q1 = text.find('"', p + word.size());
    size_t q2 = q1 == std::string::npos ? q1 : text.find('"', q1 + 1);
    return q2 == std::string::npos ? "" : text.substr(q1 + 1, q2 - q1 - 1);
  };
  if (text.find("secret") != std::string::npos) {
    o.key_secret = quoted_after("secret");
    if (o.key_name.empty()) o.key_name = quoted_after("key");
    if (size_t p = text.find("algorithm"); p != std::string::npos) {
      size_t s = text.find_first_not_of(" \t", p + 9);
      size_t e = text.find_first_of(";", s);
      if (s != std::string::npos && e != std::string::npos) o.algorithm = text.substr(s, e - s);
    }
  } else {
    size_t s = text.find_first_not_of(" \t\r\n");
    size_t e = text.find_last_not_of(" \t\r\n");
    o.key_secret = s == std::string::npos ? "" : text.substr(s, e - s + 1);
  }
  if (o.key_secret.empty()) return util::make_error("key file " + o.key_file + " holds no secret");
  return {};
}

std::string fqdn_of_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

uint16_t random_id() {
  static std::mt19937 rng{std::random_device{}()};
  return static_cast<uint16_t>(rng());
}

enum class Outcome { Done, Unreachable, BadKey, Refused };

/// Sends the update to each server in turn until one commits it.
Outcome publish(const std::vector<agent::Server>& servers, const agent::Target& t, const agent::Addresses& addrs) {
  for (const agent::Server& s : servers) {
    uint16_t id = random_id();
    std::string mac;
    std::string request = agent::build_update(t, addrs, id, &mac);
    agent::Answer a = agent::exchange(s, request, id, t, mac);
    if (a.transport_failed) {
      spdlog::warn("{}: {}; trying the next server", s.to_string(), a.detail);
      continue;
    }
    const std::string key = t.key ? t.key->name.to_text() : "(none)";
    if (a.tsig_error != 0 || a.rcode == dns::rcode::NOTAUTH) {
      std::string why = a.tsig_error == dns::rcode::BADKEY    ? "the server does not know key " + key
                        : a.tsig_error == dns::rcode::BADSIG  ? "the signature does not verify: the secret of key " +
                                                                    key + " differs from the server's"
                        : a.tsig_error == dns::rcode::BADTIME ? "the clocks differ by more than the allowed fudge "
                                                                "(300 s): set this host's time"
                        : !t.key ? "the server requires a TSIG key for updates (give --key-name and --key-secret)"
                                 : "the server is not authoritative for " + t.zone.to_text() + " or refuses the key";
      spdlog::critical("{}: update refused: {}{} ({})", s.to_string(), agent::rcode_text(a.rcode),
                       a.tsig_error ? "/" + agent::rcode_text(a.tsig_error) : "", why);
      return Outcome::BadKey;
    }
    if (a.rcode == dns::rcode::REFUSED || a.rcode == dns::rcode::NOTZONE) {
      spdlog::critical("{}: update refused: {} (key {} may not change {} in zone {}, or the name is not in that zone)",
                       s.to_string(), agent::rcode_text(a.rcode), key, t.name.to_text(), t.zone.to_text());
      return Outcome::Refused;
    }
    if (a.rcode != dns::rcode::NOERROR) {
      spdlog::warn("{}: answered {}; trying the next server", s.to_string(), agent::rcode_text(a.rcode));
      continue;
    }
    spdlog::debug("{}: NOERROR", s.to_string());
    return Outcome::Done;
  }
  return Outcome::Unreachable;
}

int exit_code(Outcome o) {
  switch (o) {
    case Outcome::Done: return 0;
    case Outcome::Unreachable: return kExitUnreachable;
    case Outcome::BadKey: return kExitBadKey;
    case Outcome::Refused: return kExitRefused;
  }
  return kExitUnreachable;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"dns-register: keep this host's name pointed at its addresses with signed RFC 2136 updates"};
  app.add_option("--name", o.name, "the host's name (default: the host name, which must be fully qualified)");
  app.add_option("--zone", o.zone, "the zone holding the name (default: found by an SOA query)");
  app.add_option("--server", o.servers, "a DNS server as host:port, repeatable; tried in turn (default 127.0.0.1:53)");
  app.add_option("--key-name", o.key_name, "TSIG key name, e.g. ddns-key.");
  app.add_option("--key-secret", o.key_secret, "TSIG secret (base64); visible in ps, prefer --key-file");
  app.add_option("--key-file", o.key_file, "file with a BIND key statement or only the base64 secret");
  app.add_option("--algorithm", o.algorithm, "hmac-sha256 (default), hmac-sha512, hmac-sha1, ...");
  app.add_option("--ttl", o.ttl, "TTL of the published records (default 60)");
  app.add_option("--interval", o.interval, "seconds between updates even without an address change (default 300)")
      ->check(CLI::Range(1u, 86400u * 7));
  app.add_option("--timeout", o.timeout_ms, "milliseconds to wait for each server (default 4000)")
      ->check(CLI::Range(100, 600000));
  app.add_option("--ip", o.ips, "publish this address instead of the host's own (repeatable; only the given families are replaced)");
  app.add_flag("--once", o.once, "send one update and exit: 0 done, 1 no server committed it, 2 key refused, 3 name refused");
  app.add_flag("--no-tsig", o.no_tsig, "send unsigned updates (only for servers that allow them from this address)");
  CLI11_PARSE(app, argc, argv);

  auto logger = std::make_shared<spdlog::logger>("dns-register", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e dns-register %l: %v");
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  auto usage_error = [](const std::string& m) {
    spdlog::critical("{}", m);
    return kExitUnreachable;
  };

  if (o.name.empty()) o.name = fqdn_of_host();
  if (o.name.find('.') == std::string::npos || o.name.front() == '.') {
    return usage_error("the host name '" + o.name + "' is not fully qualified: give --name host.example.com");
  }
  if (o.name.back() != '.') o.name += '.';
  auto name = dns::Name::from_text(o.name);
  if (!name) return usage_error("--name '" + o.name + "': " + name.error().message);

  std::vector<agent::Server> servers;
  for (const std::string& s : o.servers) {
    auto srv = agent::parse_server(s);
    if (!srv) return usage_error("--server: " + srv.error().message);
    servers.push_back(*srv);
  }

  agent::Target target;
  target.name = *name;
  target.ttl = o.ttl;
  target.timeout_ms = o.timeout_ms;
  if (!o.no_tsig) {
    if (!o.key_file.empty()) {
      if (auto r = read_key_file(o); !r) return usage_error(r.error().message);
    }
    if (o.key_name.empty() || o.key_secret.empty()) {
      return usage_error(
          "a TSIG key is needed: give --key-name and --key-secret (or --key-file); --no-tsig sends unsigned updates");
    }
    auto key = dns::tsig::make_key(o.key_name, o.algorithm, o.key_secret);
    if (!key) return usage_error("TSIG key: " + key.error().message);
    target.key = *key;
  }

  // Fixed addresses (--ip) replace only the families given; discovered ones
  // replace both, so a lost IPv6 address is withdrawn too.
  std::optional<agent::Addresses> fixed;
  if (!o.ips.empty()) {
    fixed.emplace();
    for (const std::string& ip : o.ips) {
      unsigned char raw[16];
      char text[INET6_ADDRSTRLEN];
      if (inet_pton(AF_INET, ip.c_str(), raw) == 1) {
        fixed->v4.insert(inet_ntop(AF_INET, raw, text, sizeof text));
      } else if (inet_pton(AF_INET6, ip.c_str(), raw) == 1) {
        fixed->v6.insert(inet_ntop(AF_INET6, raw, text, sizeof text));
      } else {
        return usage_error("--ip '" + ip + "' is not an IPv4 or IPv6 address");
      }
    }
    target.manage_v4 = !fixed->v4.empty();
    target.manage_v6 = !fixed->v6.empty();
  }
  auto current_addresses = [&]() -> util::Result<agent::Addresses> {
    if (fixed) return *fixed;
    return agent::discover_addresses();
  };

  auto resolve_zone = [&]() -> util::Result<void> {
    if (!o.zone.empty()) {
      auto z = dns::Name::from_text(o.zone.back() == '.' ? o.zone : o.zone + ".");
      if (!z) return util::make_error("--zone '" + o.zone + "': " + z.error().message);
      if (!name->is_subdomain_of(*z)) {
        return util::make_error("--name " + name->to_text() + " is not in --zone " + z->to_text());
      }
      target.zone = *z;
      return {};
    }
    auto z = agent::find_zone(servers, *name, o.timeout_ms);
    if (!z) return z.error();
    target.zone = *z;
    spdlog::info("{} is in zone {}", name->to_text(), target.zone.to_text());
    return {};
  };

  std::optional<agent::Addresses> published;
  auto update = [&](const char* why) -> Outcome {
    auto addrs = current_addresses();
    if (!addrs) {
      spdlog::error("{}", addrs.error().message);
      return Outcome::Unreachable;
    }
    if (addrs->v4.empty() && addrs->v6.empty()) {
      spdlog::warn("no global address on this host; {} keeps its records until one appears", name->to_text());
      return Outcome::Done;
    }
    if (target.zone.is_root()) {
      if (auto r = resolve_zone(); !r) {
        spdlog::error("{}", r.error().message);
        return Outcome::Unreachable;
      }
    }
    Outcome out = publish(servers, target, *addrs);
    if (out == Outcome::Done) {
      if (!published) {
        spdlog::info("{}: {} ({})", name->to_text(), addrs->to_string(), why);
      } else if (*published != *addrs) {
        spdlog::info("{}: {} -> {} ({})", name->to_text(), published->to_string(), addrs->to_string(), why);
      } else {
        spdlog::debug("{}: still {} ({})", name->to_text(), addrs->to_string(), why);
      }
      published = *addrs;
    } else if (out == Outcome::Unreachable) {
      spdlog::error("no server committed the update of {} (tried {})", name->to_text(), servers.size());
    }
    return out;
  };

  if (o.once) return exit_code(update("--once"));

  // Subscribe before the first update so no change slips in between.
  std::optional<agent::AddressWatch> watch;
  if (!fixed) {
    auto w = agent::AddressWatch::open();
    if (!w) {
      spdlog::warn("{}; updating every {} s only", w.error().message, o.interval);
    } else {
      watch.emplace(std::move(*w));
    }
  }
  using clock = std::chrono::steady_clock;
  Outcome last = update("start");
  if (last == Outcome::BadKey || last == Outcome::Refused) return exit_code(last);
  auto next = clock::now() + (last == Outcome::Done ? std::chrono::seconds(o.interval) : std::chrono::seconds(10));
  for (;;) {
    int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now()).count());
    bool changed = false;
    if (watch) {
      changed = watch->wait(std::max(wait_ms, 0));
    } else if (wait_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    const char* why = "interval";
    if (changed) {
      // Let a burst of events settle (several addresses at once). A new IPv6
      // address is tentative during DAD; the kernel reports it again when
      // it becomes usable, so no long wait is needed here.
      while (watch->wait(50)) {
      }
      auto now_addrs = current_addresses();
      if (now_addrs && published && *now_addrs == *published) continue;  // nothing we publish changed
      why = "address change";
    } else if (clock::now() < next) {
      continue;
    }
    last = update(why);
    if (last == Outcome::BadKey || last == Outcome::Refused) return exit_code(last);
    // After a failure, retry soon; the servers may be between leaders.
    next = clock::now() + (last == Outcome::Done ? std::chrono::seconds(o.interval) : std::chrono::seconds(10));
  }
}
