// NOTIFY out: watches the store's versions, and while this node leads,
// sends RFC 1996 NOTIFY to each zone's secondaries until they answer.
#include "server/notify.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

#include <spdlog/spdlog.h>

#include "dns/message.h"

namespace server {

namespace {

using Clock = std::chrono::steady_clock;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

/// One NOTIFY waiting for its answer.
struct Pending {
  dns::RR soa;
  uint32_t serial = 0;
  uint16_t id = 0;
  unsigned attempts = 0;
  Clock::time_point next_send{};
  std::optional<dns::tsig::Key> key;
};

bool to_sockaddr(const NotifyTarget& t, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, t.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(t.port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, t.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(t.port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

NotifyTarget from_sockaddr(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "";
  NotifyTarget t;
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    t.port = ntohs(v4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    t.port = ntohs(v6->sin6_port);
  }
  t.host = buf;
  return t;
}

}  // namespace

std::string NotifyTarget::to_string() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
}

struct Notifier::Impl {
  Impl(const store::Store& s, NotifyOptions o, std::function<bool()> l, NotifyCounters& c)
      : store(s), options(std::move(o)), is_leader(std::move(l)), counters(c) {}

  const store::Store& store;
  NotifyOptions options;
  std::function<bool()> is_leader;
  NotifyCounters& counters;
  int sock4 = -1, sock6 = -1;
  int wake[2] = {-1, -1};  // stop() writes here
  std::thread thread;
  std::mt19937 rng{std::random_device{}()};

  bool leader = false;
  Clock::time_point next_leader_check{};
  uint64_t seen_generation = UINT64_MAX;
  std::map<std::string, uint32_t> notified;                         // zone key -> serial notified
  std::map<std::pair<std::string, NotifyTarget>, Pending> pending;  // (zone key, target) -> NOTIFY in flight

  const NotifyPolicy& policy_for(const dns::Name& apex) const {
    auto it = options.zone_policies.find(apex);
    return it == options.zone_policies.end() ? options.policy : it->second;
  }

  /// Queues a NOTIFY to each secondary of every zone whose serial moved.
  void scan() {
    auto version = store.version();
    for (const dns::Name& apex : version->zones.zone_names()) {
      const NotifyPolicy& p = policy_for(apex);
      if (p.targets.empty()) continue;
      const zone::Zone* z = version->zones.find_zone(apex);
      if (!z || !z->soa() || z->soa()->rdatas.empty()) continue;
      dns::RR soa{z->apex(), dns::rrtype::SOA, dns::rrclass::IN, z->soa()->ttl, std::string(z->soa()->rdatas.front())};
      auto fields = dns::soa_decode(soa.rdata);
      if (!fields) continue;
      const std::string key = apex.lowercased().wire();
      auto it = notified.find(key);
      if (it != notified.end() && it->second == fields->serial) continue;
      notified[key] = fields->serial;
      for (const NotifyTarget& t : p.targets) {
        // A newer serial replaces a NOTIFY still unanswered: one is enough.
        Pending& n = pending[{key, t}];
        n.soa = soa;
        n.serial = fields->serial;
        n.id = static_cast<uint16_t>(rng());
        n.attempts = 0;
        n.next_send = Clock::now();
        n.key = p.key;
      }
    }
  }

  void send_due() {
    const auto now = Clock::now();
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      Pending& n = it->second;
      if (n.next_send > now) continue;
      const NotifyTarget& t = it->first.second;
      if (n.attempts > 0) {
        ++counters.failed;
        spdlog::info("NOTIFY of {} serial {} to {}: no answer to attempt {}; sending again", n.soa.owner.to_text(),
                     n.serial, t.to_string(), n.attempts);
      }
      sockaddr_storage ss;
      socklen_t len = 0;
      if (!to_sockaddr(t, &ss, &len)) continue;
      const int fd = ss.ss_family == AF_INET ? sock4 : sock6;
      std::string msg = build(n.id, n.soa, n.key, static_cast<uint64_t>(::time(nullptr)));
      if (fd >= 0 && ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) >= 0) {
        ++counters.sent;
      } else {
        spdlog::debug("NOTIFY to {}: send failed: {}", t.to_string(), std::strerror(errno));
      }
      // RFC 1996 §3.6: retry until answered; the wait doubles each time.
      uint64_t wait = uint64_t{options.first_retry_ms} << std::min(n.attempts, 16u);
      n.next_send = now + std::chrono::milliseconds(std::min<uint64_t>(wait, options.max_retry_ms));
      ++n.attempts;
    }
  }

  void receive(int fd) {
    uint8_t buf[4096];
    for (;;) {
      sockaddr_storage from;
      socklen_t from_len = sizeof from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) return;
      if (n < static_cast<ssize_t>(dns::kHeaderSize)) continue;
      const uint16_t id = rd16(buf);
      const uint16_t flags = rd16(buf + 2);
      if (!(flags & dns::flag::QR) || ((flags >> 11) & 0xF) != dns::opcode::NOTIFY) continue;
      const NotifyTarget source = from_sockaddr(from);
      for (auto it = pending.begin(); it != pending.end(); ++it) {
        if (it->second.id != id || !(it->first.second == source)) continue;
        const uint16_t rcode = flags & 0xF;
        if (rcode == dns::rcode::NOERROR) {
          ++counters.answered;
          if (it->second.attempts > 1) {
            spdlog::info("NOTIFY of {} serial {} to {}: answered after {} attempts", it->second.soa.owner.to_text(),
                         it->second.serial, source.to_string(), it->second.attempts);
          }
        } else {
          // An error answer (REFUSED, NOTAUTH, NOTIMP) will not change by asking again.
          ++counters.failed;
          spdlog::warn("NOTIFY of {} serial {} to {}: answered with rcode {}; not retried",
                       it->second.soa.owner.to_text(), it->second.serial, source.to_string(), rcode);
        }
        pending.erase(it);
        break;
      }
    }
  }

  void run() {
    for (;;) {
      const auto now = Clock::now();
      if (now >= next_leader_check) {
        next_leader_check = now + std::chrono::milliseconds(options.leader_poll_ms);
        const bool was = leader;
        leader = is_leader();
        if (leader && !was) {
          // A new leader notifies every zone once: whatever its predecessor
          // left unfinished is covered.
          notified.clear();
          seen_generation = UINT64_MAX;
        }
        if (!leader) pending.clear();
      }
      if (leader) {
        const uint64_t gen = store.generation();
        if (gen != seen_generation) {
          seen_generation = gen;
          scan();
        }
        send_due();
      }
      pollfd fds[3] = {{wake[0], POLLIN, 0}, {sock4, POLLIN, 0}, {sock6, POLLIN, 0}};
      int rc = ::poll(fds, 3, static_cast<int>(options.poll_ms));
      if (rc < 0 && errno != EINTR) return;
      if (fds[0].revents) return;
      if (sock4 >= 0 && fds[1].revents) receive(sock4);
      if (sock6 >= 0 && fds[2].revents) receive(sock6);
    }
  }
};

std::string Notifier::build(uint16_t id, const dns::RR& soa, const std::optional<dns::tsig::Key>& key, uint64_t now) {
  uint8_t buf[1024];
  dns::MessageWriter w(buf, sizeof buf);
  dns::Header h;
  h.id = id;
  h.flags = static_cast<uint16_t>((dns::opcode::NOTIFY << 11) | dns::flag::AA);  // RFC 1996 §3.7
  w.set_header(h);
  w.add_question(soa.owner, dns::rrtype::SOA, dns::rrclass::IN);
  w.add_rr(dns::Section::Answer, soa.owner, dns::rrtype::SOA, dns::rrclass::IN, soa.ttl, soa.rdata);
  std::string msg(reinterpret_cast<const char*>(buf), w.finish());
  if (key) dns::tsig::sign(msg, *key, now);
  return msg;
}

Notifier::Notifier(const store::Store& store, NotifyOptions options, std::function<bool()> is_leader)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(is_leader), counters_)) {}

Notifier::~Notifier() { stop(); }

util::Result<void> Notifier::start() {
  Impl& s = *impl_;
  if (::pipe2(s.wake, O_CLOEXEC | O_NONBLOCK) != 0) return util::make_error(std::string("notify: pipe: ") + std::strerror(errno));
  s.sock4 = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  s.sock6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s.sock4 < 0 && s.sock6 < 0) return util::make_error(std::string("notify: cannot open a UDP socket: ") + std::strerror(errno));
  s.thread = std::thread([&s] { s.run(); });
  return {};
}

void Notifier::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  (void)!::write(s.wake[1], "x", 1);
  s.thread.join();
  for (int fd : {s.sock4, s.sock6, s.wake[0], s.wake[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace server
