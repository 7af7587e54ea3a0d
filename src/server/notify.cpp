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
#include <set>

#include <spdlog/spdlog.h>

#include "dns/message.h"

namespace server {

namespace {

using Clock = std::chrono::steady_clock;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

/// One secondary to bring to a serial: NOTIFY until it answers, then its
/// SOA asked until it serves the serial (NOTIFY again if it does not).
struct Pending {
  /// Notify: a NOTIFY is due or awaits its answer. Verify: the secondary
  /// answered; its SOA is asked at next_send. Asked: that query awaits its answer.
  enum class Phase { Notify, Verify, Asked };
  Phase phase = Phase::Notify;
  dns::RR soa;
  uint32_t serial = 0;
  uint16_t id = 0;        // of the NOTIFY, or of the SOA query when Asked
  unsigned attempts = 0;  // NOTIFY messages sent for this serial
  unsigned checks = 0;    // SOA queries sent for this serial
  Clock::time_point next_send{};
  std::optional<dns::tsig::Key> key;
  bool held = false;  // waiting until every node serves the serial (Hold)
};

/// A new serial of a zone, not announced until every node of the cluster
/// serves it (or member_wait_ms passed): a secondary asks the SOA of one of
/// the nodes it lists, and one that has not applied the change yet would
/// tell it that it is up to date.
struct Hold {
  dns::Name apex;
  uint32_t serial = 0;
  Clock::time_point deadline{};
  Clock::time_point next_ask{};
  std::map<NotifyTarget, uint16_t> asking;  // member -> id of the SOA query in flight
  std::set<NotifyTarget> confirmed;         // members that serve the serial
};

/// How many times a secondary that answered NOTIFY but still serves an
/// older serial is notified again before the notifier gives up on it.
constexpr unsigned kMaxChecks = 8;

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
  std::map<std::string, Hold> holds;                                // zone key -> serial awaiting every node

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
      const bool hold = !options.members.empty();
      for (const NotifyTarget& t : p.targets) {
        // A newer serial replaces a NOTIFY still unanswered: one is enough.
        Pending n;
        n.soa = soa;
        n.serial = fields->serial;
        n.next_send = Clock::now();
        n.key = p.key;
        n.held = hold;
        pending[{key, t}] = std::move(n);
      }
      if (hold) {
        Hold h;
        h.apex = apex;
        h.serial = fields->serial;
        h.deadline = Clock::now() + std::chrono::milliseconds(options.member_wait_ms);
        h.next_ask = Clock::now();
        holds[key] = std::move(h);
      }
    }
  }

  /// Asks each node that has not confirmed a held serial for the zone's SOA,
  /// and releases the NOTIFYs of a serial every node serves (or whose wait
  /// ran out: a node that is down does not answer, nor can it mislead).
  void check_holds() {
    const auto now = Clock::now();
    for (auto it = holds.begin(); it != holds.end();) {
      Hold& h = it->second;
      if (h.confirmed.size() >= options.members.size() || now >= h.deadline) {
        for (auto& [k, n] : pending) {
          if (k.first == it->first && n.held && n.serial == h.serial) {
            n.held = false;
            n.next_send = now;
          }
        }
        it = holds.erase(it);
        continue;
      }
      if (now >= h.next_ask) {
        for (const NotifyTarget& m : options.members) {
          if (h.confirmed.count(m)) continue;
          const uint16_t id = static_cast<uint16_t>(rng());
          h.asking[m] = id;
          send(m, soa_query(id, h.apex));
        }
        h.next_ask = now + std::chrono::milliseconds(5);
      }
      ++it;
    }
  }

  static std::string soa_query(uint16_t id, const dns::Name& apex) {
    uint8_t buf[512];
    dns::MessageWriter w(buf, sizeof buf);
    dns::Header h;
    h.id = id;
    w.set_header(h);
    w.add_question(apex, dns::rrtype::SOA, dns::rrclass::IN);
    return std::string(reinterpret_cast<const char*>(buf), w.finish());
  }

  static std::optional<uint32_t> answered_serial(const uint8_t* buf, size_t len) {
    auto m = dns::parse_message(buf, len);
    if (!m || m->header.rcode() != dns::rcode::NOERROR) return std::nullopt;
    for (const dns::RR& rr : m->answers) {
      if (rr.type != dns::rrtype::SOA) continue;
      if (auto f = dns::soa_decode(rr.rdata)) return f->serial;
    }
    return std::nullopt;
  }

  bool send(const NotifyTarget& t, const std::string& msg) {
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(t, &ss, &len)) return false;
    const int fd = ss.ss_family == AF_INET ? sock4 : sock6;
    if (fd >= 0 && ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) >= 0) return true;
    spdlog::debug("NOTIFY to {}: send failed: {}", t.to_string(), std::strerror(errno));
    return false;
  }

  /// The wait before the next attempt: doubling from first_retry_ms (RFC 1996 §3.6).
  Clock::duration backoff(unsigned attempt) const {
    uint64_t wait = uint64_t{options.first_retry_ms} << std::min(attempt, 16u);
    return std::chrono::milliseconds(std::min<uint64_t>(wait, options.max_retry_ms));
  }

  void send_due() {
    const auto now = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      Pending& n = it->second;
      const NotifyTarget& t = it->first.second;
      if (n.held || n.next_send > now) {
        ++it;
        continue;
      }
      if (n.phase == Pending::Phase::Asked) {
        // The SOA query went unanswered: notify again.
        n.phase = Pending::Phase::Notify;
      }
      if (n.phase == Pending::Phase::Verify) {
        // RFC 1996 §4.7 lets a secondary check one primary of several; the
        // one it asked may not have applied the change yet, and it then
        // waits for its refresh timer. Asking its SOA tells whether it must
        // be notified again.
        if (n.checks >= kMaxChecks) {
          spdlog::warn("{} still serves an older serial of {} than {} after {} notifications; giving up until the next change",
                       t.to_string(), n.soa.owner.to_text(), n.serial, n.attempts);
          it = pending.erase(it);
          continue;
        }
        ++n.checks;
        n.id = static_cast<uint16_t>(rng());
        send(t, soa_query(n.id, n.soa.owner));
        n.phase = Pending::Phase::Asked;
        n.next_send = now + std::chrono::milliseconds(options.first_retry_ms);
        ++it;
        continue;
      }
      if (n.attempts > 0 && n.checks == 0) {
        ++counters.failed;
        spdlog::info("NOTIFY of {} serial {} to {}: no answer to attempt {}; sending again", n.soa.owner.to_text(),
                     n.serial, t.to_string(), n.attempts);
      }
      n.id = static_cast<uint16_t>(rng());
      if (send(t, build(n.id, n.soa, n.key, static_cast<uint64_t>(::time(nullptr))))) ++counters.sent;
      n.next_send = now + backoff(n.attempts);
      ++n.attempts;
      ++it;
    }
  }

  void receive(int fd) {
    uint8_t buf[4096];
    for (;;) {
      sockaddr_storage from;
      socklen_t from_len = sizeof from;
      ssize_t got = ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (got < 0) return;
      const size_t n_bytes = static_cast<size_t>(got);
      if (n_bytes < dns::kHeaderSize) continue;
      const uint16_t id = rd16(buf);
      const uint16_t flags = rd16(buf + 2);
      const uint8_t opcode = (flags >> 11) & 0xF;
      if (!(flags & dns::flag::QR) || (opcode != dns::opcode::NOTIFY && opcode != dns::opcode::QUERY)) continue;
      const NotifyTarget source = from_sockaddr(from);
      if (opcode == dns::opcode::QUERY) {
        bool member_answer = false;
        for (auto& [key, h] : holds) {
          auto asked = h.asking.find(source);
          if (asked == h.asking.end() || asked->second != id) continue;
          member_answer = true;
          auto serial = answered_serial(buf, n_bytes);
          if (serial && !store::serial_newer(h.serial, *serial)) h.confirmed.insert(source);
        }
        if (member_answer) continue;
      }
      for (auto it = pending.begin(); it != pending.end(); ++it) {
        Pending& n = it->second;
        if (n.id != id || !(it->first.second == source)) continue;
        const uint16_t rcode = flags & 0xF;
        if (opcode == dns::opcode::NOTIFY && n.phase == Pending::Phase::Notify) {
          if (rcode != dns::rcode::NOERROR) {
            // An error answer (REFUSED, NOTAUTH, NOTIMP) will not change by asking again.
            ++counters.failed;
            spdlog::warn("NOTIFY of {} serial {} to {}: answered with rcode {}; not retried", n.soa.owner.to_text(),
                         n.serial, source.to_string(), rcode);
            pending.erase(it);
            break;
          }
          ++counters.answered;
          if (n.attempts > 1 && n.checks == 0) {
            spdlog::info("NOTIFY of {} serial {} to {}: answered after {} attempts", n.soa.owner.to_text(), n.serial,
                         source.to_string(), n.attempts);
          }
          n.phase = Pending::Phase::Verify;
          n.next_send = Clock::now() + std::chrono::milliseconds(options.verify_after_ms) * (1u << std::min(n.checks, 6u));
          break;
        }
        if (opcode == dns::opcode::QUERY && n.phase == Pending::Phase::Asked) {
          std::optional<uint32_t> serial = answered_serial(buf, n_bytes);
          if (serial && !store::serial_newer(n.serial, *serial)) {
            pending.erase(it);  // it serves the serial (or a newer one)
            break;
          }
          spdlog::debug("{} serves serial {} of {} after NOTIFY of {}; notifying again", source.to_string(),
                        serial ? std::to_string(*serial) : "none", n.soa.owner.to_text(), n.serial);
          n.phase = Pending::Phase::Notify;
          n.next_send = Clock::now();
          break;
        }
      }
    }
  }

  bool any_targets() const {
    if (!options.policy.targets.empty()) return true;
    for (const auto& [apex, p] : options.zone_policies) {
      if (!p.targets.empty()) return true;
    }
    return false;
  }

  void run() {
    // With no secondary to notify there is nothing to do, and no reason to
    // ask the cluster who leads.
    const bool active = any_targets();
    for (;;) {
      const auto now = Clock::now();
      if (active && now >= next_leader_check) {
        next_leader_check = now + std::chrono::milliseconds(options.leader_poll_ms);
        const bool was = leader;
        leader = is_leader();
        if (leader && !was) {
          // A new leader notifies every zone once: whatever its predecessor
          // left unfinished is covered.
          notified.clear();
          seen_generation = UINT64_MAX;
        }
        if (!leader) {
          pending.clear();
          holds.clear();
        }
      }
      if (leader) {
        const uint64_t gen = store.generation();
        if (gen != seen_generation) {
          seen_generation = gen;
          scan();
        }
        check_holds();
        send_due();
      }
      pollfd fds[3] = {{wake[0], POLLIN, 0}, {sock4, POLLIN, 0}, {sock6, POLLIN, 0}};
      int rc = ::poll(fds, 3, active ? static_cast<int>(options.poll_ms) : -1);
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
