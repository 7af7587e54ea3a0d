// dns_responder_probe: a minimal single-threaded DNS server (UDP and TCP) that
// answers from zone files with server::respond(); a test fixture that takes
// dns-node's command line (-n, -c, -z) so harnesses can run either.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/responder.h"
#include "zone/zone_file.h"
#include "zone/zone_set.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Args {
  std::string node = "0";
  std::string config;
  std::string listen;  // "127.0.0.1:port", overrides the config
  std::vector<std::string> zones;
};

int usage() {
  std::fprintf(stderr,
               "usage: dns_responder_probe (-c dns-config.json [-n id] | --listen 127.0.0.1:PORT) -z zonefile...\n"
               "  Other dns-node options (--data-dir, --log-level, ...) are accepted and ignored.\n");
  return 2;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "-n" || arg == "--node") {
      if (!value(&a->node)) return false;
    } else if (arg == "-c" || arg == "--config") {
      if (!value(&a->config)) return false;
    } else if (arg == "--listen") {
      if (!value(&a->listen)) return false;
    } else if (arg == "-z" || arg == "--zone") {
      if (!value(&v)) return false;
      a->zones.push_back(v);
    } else if (arg == "--data-dir" || arg == "--log-level" || arg == "--unreliable" || arg == "--join") {
      if (!value(&v)) return false;
    } else if (arg == "--query-log" || arg == "--insecure-peers") {
      // accepted for command-line compatibility
    } else {
      std::fprintf(stderr, "dns_responder_probe: unknown option '%s'\n", arg.c_str());
      return false;
    }
  }
  return !a->zones.empty() && (!a->config.empty() || !a->listen.empty());
}

/// The node's query_loc from dns-config.json.
bool listen_address(const Args& a, std::string* host, uint16_t* port) {
  std::string loc = a.listen;
  if (loc.empty()) {
    std::ifstream in(a.config);
    if (!in) {
      std::fprintf(stderr, "dns_responder_probe: cannot read %s\n", a.config.c_str());
      return false;
    }
    try {
      const auto j = nlohmann::json::parse(in);
      loc = j.at("nodes").at(a.node).at("query_loc").get<std::string>();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dns_responder_probe: %s: nodes.\"%s\".query_loc: %s\n", a.config.c_str(), a.node.c_str(),
                   e.what());
      return false;
    }
  }
  const size_t colon = loc.rfind(':');
  if (colon == std::string::npos) return false;
  *host = loc.substr(0, colon);
  const int p = std::atoi(loc.c_str() + colon + 1);
  if (p <= 0 || p > 65535) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

/// Loads every zone file: SOA records first, since they create the zones.
zone::ZoneSet load_zones(const std::vector<std::string>& files) {
  std::vector<dns::RR> records;
  for (const std::string& f : files) {
    zone::ZoneFileResult r = zone::read_zone_file(f);
    for (const std::string& e : r.errors) std::fprintf(stderr, "dns_responder_probe: %s\n", e.c_str());
    records.insert(records.end(), r.records.begin(), r.records.end());
  }
  std::stable_partition(records.begin(), records.end(), [](const dns::RR& rr) { return rr.type == dns::rrtype::SOA; });
  zone::ZoneSet zones;
  for (const dns::RR& rr : records) {
    if (auto res = zones.add(rr); !res) std::fprintf(stderr, "dns_responder_probe: %s\n", res.error().message.c_str());
  }
  return zones;
}

int bind_socket(int type, const std::string& host, uint16_t port) {
  const int fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1 || bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (type == SOCK_STREAM && listen(fd, 64) != 0)) {
    std::fprintf(stderr, "dns_responder_probe: cannot bind %s:%u: %s\n", host.c_str(), port, std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

bool read_full(int fd, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool write_full(int fd, const uint8_t* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = write(fd, buf + done, n - done);
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

/// Serves one TCP connection (RFC 7766 §8 framing) until the client closes
/// it or stays idle for two seconds; test clients do not hold connections.
void serve_tcp(int fd, const zone::ZoneSet& zones) {
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<uint8_t> in(65535), out(65537);
  for (;;) {
    uint8_t len[2];
    if (!read_full(fd, len, 2)) break;
    const size_t n = (size_t{len[0]} << 8) | len[1];
    if (!read_full(fd, in.data(), n)) break;
    const size_t m = server::respond(zones, in.data(), n, out.data() + 2, 65535, true);
    if (m == 0) break;
    out[0] = static_cast<uint8_t>(m >> 8);
    out[1] = static_cast<uint8_t>(m);
    if (!write_full(fd, out.data(), m + 2)) break;
  }
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, &args)) return usage();
  std::string host;
  uint16_t port = 0;
  if (!listen_address(args, &host, &port)) return usage();
  const zone::ZoneSet zones = load_zones(args.zones);

  const int udp = bind_socket(SOCK_DGRAM, host, port);
  const int tcp = bind_socket(SOCK_STREAM, host, port);
  if (udp < 0 || tcp < 0) return 1;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::printf("dns_responder_probe: serving %zu records in %zu zones on %s:%u\n", zones.record_count(),
              zones.zone_names().size(), host.c_str(), port);
  std::fflush(stdout);

  std::vector<uint8_t> in(65535), out(65535);
  pollfd fds[2] = {{udp, POLLIN, 0}, {tcp, POLLIN, 0}};
  while (!g_stop) {
    if (poll(fds, 2, 500) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = recvfrom(udp, in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n > 0) {
        const size_t m = server::respond(zones, in.data(), static_cast<size_t>(n), out.data(), out.size(), false);
        if (m > 0) sendto(udp, out.data(), m, 0, reinterpret_cast<sockaddr*>(&from), from_len);
      }
    }
    if (fds[1].revents & POLLIN) {
      const int c = accept(tcp, nullptr, nullptr);
      if (c >= 0) serve_tcp(c, zones);
    }
  }
  close(udp);
  close(tcp);
  return 0;
}
