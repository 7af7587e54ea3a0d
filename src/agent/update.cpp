// Building, signing and sending the UPDATE (RFC 2136, TSIG RFC 8945), and
// the SOA query that finds the zone of a name.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent.h"
#include "dns/message.h"
#include "dns/rr.h"

namespace agent {
namespace {

uint64_t unix_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

/// A connected socket to the server, or an error.
util::Result<int> connect_to(const Server& s, int type) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss); inet_pton(AF_INET, s.host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(s.port);
    len = sizeof(sockaddr_in);
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss); inet_pton(AF_INET6, s.host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(s.port);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    return util::make_error("'" + s.host + "' is not an IP address");
  }
  int fd = ::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return util::make_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    return util::make_error(std::string("connect: ") + std::strerror(e));
  }
  return fd;
}

/// Waits for `events` on fd until the deadline. False on timeout.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

/// One round trip over UDP; falls back to TCP when the answer is truncated.
util::Result<std::string> round_trip(const Server& s, const std::string& request, uint16_t id, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto fd = connect_to(s, SOCK_DGRAM);
  if (!fd) return fd.error();
  std::string answer;
  if (::send(*fd, request.data(), request.size(), 0) < 0) {
    int e = errno;
    ::close(*fd);
    return util::make_error(std::string("send: ") + std::strerror(e));
  }
  char buf[65536];
  for (;;) {
    if (!wait_for(*fd, POLLIN, deadline)) {
      ::close(*fd);
      return util::make_error("no answer within " + std::to_string(timeout_ms) + " ms");
    }
    ssize_t n = ::recv(*fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      int e = errno;
      ::close(*fd);
      return util::make_error(std::string("receive: ") + std::strerror(e));  // e.g. connection refused
    }
    // Ignore stray datagrams: the answer carries our ID.
    if (n >= 12 && static_cast<uint8_t>(buf[0]) == (id >> 8) && static_cast<uint8_t>(buf[1]) == (id & 0xff)) {
      answer.assign(buf, static_cast<size_t>(n));
      break;
    }
  }
  ::close(*fd);
  if (!(static_cast<uint8_t>(answer[2]) & 0x02)) return answer;  // TC clear

  // Truncated: ask again over TCP (RFC 7766), two-octet length framing.
  auto tfd = connect_to(s, SOCK_STREAM);
  if (!tfd) return tfd.error();
  std::string framed;
  framed += static_cast<char>(request.size() >> 8);
  framed += static_cast<char>(request.size() & 0xff);
  framed += request;
  size_t sent = 0;
  while (sent < framed.size()) {
    if (!wait_for(*tfd, POLLOUT, deadline)) break;
    ssize_t n = ::send(*tfd, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  while (sent == framed.size()) {
    if (in.size() >= 2 && in.size() >= 2 + ((size_t{static_cast<uint8_t>(in[0])} << 8) | static_cast<uint8_t>(in[1]))) {
      break;
    }
    if (!wait_for(*tfd, POLLIN, deadline)) break;
    ssize_t n = ::recv(*tfd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(*tfd);
  if (in.size() < 2) return util::make_error("truncated over UDP and no answer over TCP");
  size_t len = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
  if (in.size() < 2 + len) return util::make_error("TCP answer cut short");
  return in.substr(2, len);
}

}  // namespace

std::string Server::to_string() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

util::Result<Server> parse_server(const std::string& text) {
  Server s;
  std::string host = text, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return util::make_error("server '" + text + "': missing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return util::make_error("server '" + text + "': expected ':' after ']'");
      port = text.substr(close + 2);
    }
  } else if (size_t colon = text.find(':'); colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  in6_addr probe{};
  if (inet_pton(AF_INET, host.c_str(), &probe) != 1 && inet_pton(AF_INET6, host.c_str(), &probe) != 1) {
    return util::make_error("server '" + text + "': '" + host + "' is not an IP address (give host:port, e.g. 192.0.2.1:53)");
  }
  s.host = host;
  if (!port.empty()) {
    char* end = nullptr;
    unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (*end || p == 0 || p > 65535) return util::make_error("server '" + text + "': bad port '" + port + "'");
    s.port = static_cast<uint16_t>(p);
  }
  return s;
}

std::string rcode_text(uint16_t rcode) {
  static const char* const kNames[] = {"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
                                       "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rcode < std::size(kNames)) return kNames[rcode];
  if (rcode == dns::rcode::BADSIG) return "BADSIG";
  if (rcode == dns::rcode::BADKEY) return "BADKEY";
  if (rcode == dns::rcode::BADTIME) return "BADTIME";
  return "RCODE" + std::to_string(rcode);
}

std::string build_update(const Target& t, const Addresses& addrs, uint16_t id, std::string* mac) {
  std::string buf(65535, '\0');
  dns::MessageWriter w(reinterpret_cast<uint8_t*>(buf.data()), buf.size());
  dns::Header h;
  h.id = id;
  h.flags = static_cast<uint16_t>(dns::opcode::UPDATE << 11);
  w.set_header(h);
  // RFC 2136 §2.3: the zone section holds one "question": the zone, SOA, IN.
  w.add_question(t.zone, dns::rrtype::SOA, dns::rrclass::IN);
  auto family = [&](uint16_t type, const std::set<std::string>& values) {
    // §2.5.2: delete the RRset (class ANY, TTL 0, no rdata), then §2.5.1 add.
    w.add_rr(dns::Section::Authority, t.name, type, dns::rrclass::ANY, 0, "");
    for (const std::string& v : values) {
      unsigned char raw[16];
      inet_pton(type == dns::rrtype::A ? AF_INET : AF_INET6, v.c_str(), raw);
      w.add_rr(dns::Section::Authority, t.name, type, dns::rrclass::IN, t.ttl,
               std::string_view(reinterpret_cast<const char*>(raw), type == dns::rrtype::A ? 4 : 16));
    }
  };
  if (t.manage_v4) family(dns::rrtype::A, addrs.v4);
  if (t.manage_v6) family(dns::rrtype::AAAA, addrs.v6);
  buf.resize(w.finish());
  if (t.key) {
    *mac = dns::tsig::sign(buf, *t.key, unix_now());
  } else {
    mac->clear();
  }
  return buf;
}

Answer exchange(const Server& server, const std::string& request, uint16_t id, const Target& t,
                const std::string& request_mac) {
  Answer a;
  auto raw = round_trip(server, request, id, t.timeout_ms);
  if (!raw) {
    a.transport_failed = true;
    a.detail = raw.error().message;
    return a;
  }
  const auto* data = reinterpret_cast<const uint8_t*>(raw->data());
  auto msg = dns::parse_message(data, raw->size());
  if (!msg) {
    a.transport_failed = true;
    a.detail = "unparseable answer: " + msg.error().message;
    return a;
  }
  a.rcode = msg->rcode();
  if (!t.key) return a;
  if (!msg->tsig) {
    // RFC 8945 §5.3: a server that knows the key signs its answer. An
    // unsigned one is only what a server without our key would say.
    if (a.rcode == dns::rcode::NOERROR) {
      a.transport_failed = true;
      a.detail = "the answer is not signed; not trusting it";
    }
    return a;
  }
  auto rd = dns::tsig::parse_rdata(msg->tsig->rdata);
  if (rd && rd->error != 0) {
    a.tsig_error = rd->error;  // the server could not verify our request
    return a;
  }
  std::vector<dns::tsig::Key> keys{*t.key};
  dns::tsig::Verification v = dns::tsig::verify(data, raw->size(), *msg, keys, unix_now(), request_mac);
  if (v.error != 0) {
    a.transport_failed = true;
    a.detail = "the answer's signature does not verify (" + v.reason + "); not trusting it";
  }
  return a;
}

util::Result<dns::Name> find_zone(const std::vector<Server>& servers, const dns::Name& name, int timeout_ms) {
  std::string last_error = "no servers";
  for (const Server& s : servers) {
    uint16_t id = static_cast<uint16_t>(std::chrono::steady_clock::now().time_since_epoch().count() & 0xffff);
    uint8_t buf[512];
    dns::MessageWriter w(buf, sizeof buf);
    dns::Header h;
    h.id = id;
    w.set_header(h);
    w.add_question(name, dns::rrtype::SOA, dns::rrclass::IN);
    std::string request(reinterpret_cast<char*>(buf), w.finish());
    auto raw = round_trip(s, request, id, timeout_ms);
    if (!raw) {
      last_error = s.to_string() + ": " + raw.error().message;
      continue;
    }
    auto msg = dns::parse_message(reinterpret_cast<const uint8_t*>(raw->data()), raw->size());
    if (!msg) {
      last_error = s.to_string() + ": unparseable answer";
      continue;
    }
    for (const auto* section : {&msg->answers, &msg->authorities}) {
      for (const dns::RR& rr : *section) {
        if (rr.type == dns::rrtype::SOA && name.is_subdomain_of(rr.owner)) return rr.owner;
      }
    }
    last_error = s.to_string() + ": answered " + rcode_text(msg->rcode()) + " without an SOA for " + name.to_text() +
                 " (is the name in a zone it serves?)";
  }
  return util::make_error("cannot find the zone of " + name.to_text() + ": " + last_error + "; give --zone");
}

}  // namespace agent
