// Following outside primaries: the follower's thread (timers, leadership,
// NOTIFY events), the SOA query over UDP, the transfer over TCP, and the
// commit of each transfer as one change.
#include "server/zone_follower.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/network.h"

namespace server {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t mono_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
}

std::string peer_text(const sockaddr* peer) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (peer && peer->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr, buf, sizeof buf);
  } else if (peer && peer->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

bool to_sockaddr(const std::string& host, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

TransferError network_error(std::string message) {
  return TransferError{TransferError::Kind::Network, 0, std::move(message)};
}

const char* kind_label(TransferError::Kind kind) {
  switch (kind) {
    case TransferError::Kind::Network: return "network";
    case TransferError::Kind::Rcode: return "rcode";
    case TransferError::Kind::Tsig: return "tsig";
    case TransferError::Kind::Malformed: return "malformed";
    case TransferError::Kind::Diverged: return "diverged";
  }
  return "?";
}

/// A socket closed when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

/// Waits for `events` on `fd` until `deadline_ms` (mono_ms); false on timeout.
bool wait_for(int fd, short events, uint64_t deadline_ms) {
  for (;;) {
    const uint64_t now = mono_ms();
    if (now >= deadline_ms) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<uint64_t>(deadline_ms - now, 1000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return false;
    if (rc > 0) return true;
  }
}

/// A TCP connection to a primary: length-prefixed messages (RFC 1035 §4.2.2).
class TcpLink {
 public:
  /// Connects within `timeout_ms`.
  std::optional<TransferError> open(const std::string& host, uint16_t port, uint32_t timeout_ms) {
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(host, port, &ss, &len)) return network_error("'" + host + "' is not an IP address");
    fd_ = std::make_unique<Fd>(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd_->fd < 0) return network_error(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd_->fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
      return network_error(std::string("connect: ") + std::strerror(errno));
    }
    if (!wait_for(fd_->fd, POLLOUT, mono_ms() + timeout_ms)) return network_error("connect: timed out");
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd_->fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) return network_error(std::string("connect: ") + std::strerror(err));
    return std::nullopt;
  }

  std::optional<TransferError> send(const std::string& msg, uint32_t timeout_ms) {
    std::string framed;
    framed.push_back(static_cast<char>(msg.size() >> 8));
    framed.push_back(static_cast<char>(msg.size() & 0xFF));
    framed += msg;
    const uint64_t deadline = mono_ms() + timeout_ms;
    size_t sent = 0;
    while (sent < framed.size()) {
      ssize_t n = ::send(fd_->fd, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!wait_for(fd_->fd, POLLOUT, deadline)) return network_error("send: timed out");
        continue;
      }
      return network_error(std::string("send: ") + std::strerror(errno));
    }
    return std::nullopt;
  }

  /// The next message into `out`, each waited for at most `timeout_ms`.
  std::optional<TransferError> receive(std::string& out, uint32_t timeout_ms) {
    const uint64_t deadline = mono_ms() + timeout_ms;
    uint8_t head[2];
    if (auto e = read_exactly(head, 2, deadline)) return e;
    out.resize(static_cast<size_t>((head[0] << 8) | head[1]));
    return read_exactly(reinterpret_cast<uint8_t*>(out.data()), out.size(), deadline);
  }

 private:
  std::optional<TransferError> read_exactly(uint8_t* buf, size_t n, uint64_t deadline) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::recv(fd_->fd, buf + got, n - got, 0);
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) return network_error("the primary closed the connection mid-answer");
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (!wait_for(fd_->fd, POLLIN, deadline)) return network_error("no answer in time");
        continue;
      }
      return network_error(std::string("receive: ") + std::strerror(errno));
    }
    return std::nullopt;
  }

  std::unique_ptr<Fd> fd_;
};

}  // namespace

std::string FollowedZone::primary_text() const {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                              : host + ":" + std::to_string(port);
}

struct ZoneFollower::Impl {
  Impl(const store::Store& s, FollowerOptions o, std::function<bool()> l, store::SubmitFn sub)
      : store(s), options(std::move(o)), is_leader(std::move(l)), submit(std::move(sub)) {
    if (!options.unix_now) options.unix_now = [] { return static_cast<uint64_t>(::time(nullptr)); };
    zones.resize(options.zones.size());
    for (size_t i = 0; i < options.zones.size(); ++i) {
      auto net = Network::parse(options.zones[i].host);
      if (net) zones[i].source = *net;
    }
  }

  /// A followed zone's state, under `mu` (never held during I/O).
  struct ZoneState {
    RefreshTimer timer;
    std::optional<Network> source;  // the primary's address: NOTIFY must come from it
    std::optional<uint32_t> primary_serial;  // last seen in an SOA answer
    bool warned_older = false;  // said once that the primary's serial is behind
    bool warned_expired = false;  // said once that the zone expired
  };

  const store::Store& store;
  FollowerOptions options;
  std::function<bool()> is_leader;
  store::SubmitFn submit;
  store::ClientSession session = store::ClientSession::open();  // one transfer outstanding at a time
  std::mt19937 rng{std::random_device{}()};

  mutable std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::vector<ZoneState> zones;
  std::deque<size_t> notified;  // zones a NOTIFY asked to check
  // Counters for /metrics, by (zone, label...).
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> transfers;  // (zone, kind, result)
  std::map<std::pair<std::string, std::string>, uint64_t> soa_checks;               // (zone, result)
  std::map<std::string, uint64_t> notifies;                                          // result
  std::thread thread;

  bool leader = false;
  uint64_t next_leader_check = 0;

  /// Leadership as of at most leader_poll_ms ago (asked from the thread).
  bool still_leading() {
    const uint64_t now = mono_ms();
    if (now >= next_leader_check) {
      next_leader_check = now + options.leader_poll_ms;
      leader = is_leader();
    }
    return leader;
  }

  void count_transfer(size_t i, const char* kind, const std::string& result) {
    std::lock_guard<std::mutex> lock(mu);
    ++transfers[{options.zones[i].zone.to_text(), kind, result}];
  }

  void count_soa(size_t i, const std::string& result) {
    std::lock_guard<std::mutex> lock(mu);
    ++soa_checks[{options.zones[i].zone.to_text(), result}];
  }

  /// The zone as the store holds it now: its SOA record, or nullopt.
  std::optional<dns::RR> held_soa(const dns::Name& apex) const {
    auto zs = store.snapshot();
    const zone::Zone* z = zs->find_zone(apex);
    if (!z || z->apex() != apex || !z->soa() || z->soa()->rdatas.empty()) return std::nullopt;
    return dns::RR{z->apex(), dns::rrtype::SOA, dns::rrclass::IN, z->soa()->ttl, std::string(z->soa()->rdatas.front())};
  }

  static std::optional<SoaTimers> timers_of(const std::optional<dns::RR>& soa) {
    if (!soa) return std::nullopt;
    auto f = dns::soa_decode(soa->rdata);
    if (!f) return std::nullopt;
    return SoaTimers::of(*f);
  }

  uint16_t new_id() { return static_cast<uint16_t>(rng()); }

  /// RFC 1034 §4.3.5: the primary's SOA, over UDP (two tries), or over TCP
  /// when the answer comes truncated.
  std::optional<TransferError> query_soa(const FollowedZone& fz, dns::RR& soa) {
    sockaddr_storage ss;
    socklen_t len = 0;
    if (!to_sockaddr(fz.host, fz.port, &ss, &len)) return network_error("'" + fz.host + "' is not an IP address");
    const dns::tsig::Key* key = fz.key ? &*fz.key : nullptr;
    std::optional<TransferError> last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      SoaQuery q(fz.zone, key, new_id(), options.unix_now());
      Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (fd.fd < 0) return network_error(std::string("socket: ") + std::strerror(errno));
      // Connected: only the primary's answers reach this socket.
      if (::connect(fd.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
          ::send(fd.fd, q.request().data(), q.request().size(), 0) < 0) {
        last = network_error(std::string("SOA query: ") + std::strerror(errno));
        continue;
      }
      const uint64_t deadline = mono_ms() + options.timeout_ms;
      last = network_error("no answer to the SOA query within " + std::to_string(options.timeout_ms) + " ms");
      uint8_t buf[4096];
      while (wait_for(fd.fd, POLLIN, deadline)) {
        ssize_t n = ::recv(fd.fd, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          last = network_error(std::string("SOA query: ") + std::strerror(errno));  // e.g. port unreachable
          break;
        }
        if (!q.matches(buf, static_cast<size_t>(n))) continue;
        last = q.read(buf, static_cast<size_t>(n), options.unix_now());
        if (last && q.truncated()) {
          SoaQuery tq(fz.zone, key, new_id(), options.unix_now());
          TcpLink link;
          std::string answer;
          if (auto e = link.open(fz.host, fz.port, options.timeout_ms)) return e;
          if (auto e = link.send(tq.request(), options.timeout_ms)) return e;
          if (auto e = link.receive(answer, options.timeout_ms)) return e;
          if (!tq.matches(reinterpret_cast<const uint8_t*>(answer.data()), answer.size())) {
            return TransferError{TransferError::Kind::Malformed, 0, "the SOA answer over TCP has another ID"};
          }
          last = tq.read(reinterpret_cast<const uint8_t*>(answer.data()), answer.size(), options.unix_now());
          if (!last) soa = tq.soa();
          return last;
        }
        if (!last) soa = q.soa();
        return last;
      }
      if (last && last->kind != TransferError::Kind::Network) return last;
    }
    return last;
  }

  /// One AXFR or IXFR (IXFR when `held` is given) into `exchange`; stops
  /// early when this node stops leading.
  std::optional<TransferError> transfer(const FollowedZone& fz, const std::optional<dns::RR>& held,
                                        std::unique_ptr<TransferExchange>& exchange) {
    exchange = std::make_unique<TransferExchange>(fz.zone, held, fz.key ? &*fz.key : nullptr, new_id(),
                                                  options.unix_now());
    spdlog::info("zone {}: {} from {} started{}", fz.zone.to_text(), exchange->ixfr() ? "IXFR" : "AXFR",
                 fz.primary_text(),
                 held ? " at serial " + std::to_string(dns::soa_decode(held->rdata).value().serial) : std::string());
    TcpLink link;
    if (auto e = link.open(fz.host, fz.port, options.timeout_ms)) return e;
    if (auto e = link.send(exchange->request(), options.timeout_ms)) return e;
    std::string msg;
    while (!exchange->done()) {
      if (!still_leading() || is_stopping()) return network_error("this node stopped leading; the transfer is dropped");
      if (auto e = link.receive(msg, options.timeout_ms)) return e;
      if (auto e = exchange->add(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), options.unix_now())) return e;
    }
    return std::nullopt;
  }

  bool is_stopping() {
    std::lock_guard<std::mutex> lock(mu);
    return stopping;
  }

  /// The outcome of committing a transfer.
  enum class Commit { Done, Moved, Failed };

  /// Submits the plan's change and waits until this node applied it.
  Commit commit(const FollowedZone& fz, TransferPlan& plan, const char* kind, uint64_t started_ms) {
    store::Change change = std::move(plan.change);
    session.stamp(change, store);
    auto promise = std::make_shared<std::promise<util::Result<store::ApplyResult>>>();
    auto future = promise->get_future();
    submit(std::move(change), [promise](util::Result<store::ApplyResult> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(std::chrono::milliseconds(options.commit_timeout_ms)) != std::future_status::ready) {
      // Given up (store/session.h): the next transfer takes the next stamp;
      // if this one still commits, the next is computed against it.
      spdlog::warn("zone {}: {} serial {} not applied within {} ms; checking again later", fz.zone.to_text(), kind,
                   plan.to_serial, options.commit_timeout_ms);
      return Commit::Failed;
    }
    util::Result<store::ApplyResult> r = future.get();
    if (!r) {
      spdlog::warn("zone {}: {} serial {} not committed: {}", fz.zone.to_text(), kind, plan.to_serial, r.error().message);
      return Commit::Failed;
    }
    if (r->rcode == dns::rcode::NXRRSET) {
      spdlog::info("zone {}: {}", fz.zone.to_text(), r->first_error());
      return Commit::Moved;
    }
    if (r->expired) {
      // Not applied (store/session.h): the next check computes a transfer
      // anew and commits it on a new session.
      session = store::ClientSession::open();
      return Commit::Failed;
    }
    if (r->stale) return Commit::Failed;
    size_t refused = 0;
    for (const std::string& e : r->op_errors) refused += e.empty() ? 0 : 1;
    if (refused > 0) {
      spdlog::warn("zone {}: {} serial {}: {} records of the primary's zone were not stored; the first: {}",
                   fz.zone.to_text(), kind, plan.to_serial, refused, r->first_error());
    }
    spdlog::info("zone {}: {} from {} committed: serial {} -> {}, {} records removed, {} added{} in {} ms",
                 fz.zone.to_text(), kind, fz.primary_text(),
                 plan.from_serial ? std::to_string(*plan.from_serial) : std::string("none"), plan.to_serial,
                 plan.removed, plan.added,
                 plan.skipped ? ", " + std::to_string(plan.skipped) + " outside the zone skipped" : std::string(),
                 mono_ms() - started_ms);
    return Commit::Done;
  }

  /// One check of zone `i` (RFC 1034 §4.3.5): SOA query, then a transfer
  /// when the primary is ahead, committed as one change.
  void check(size_t i) {
    const FollowedZone& fz = options.zones[i];
    const uint64_t started = mono_ms();
    std::optional<dns::RR> held = held_soa(fz.zone);
    auto finish = [&](void (RefreshTimer::*step)(uint64_t, const std::optional<SoaTimers>&)) {
      std::optional<dns::RR> now_held = held_soa(fz.zone);
      std::optional<SoaTimers> timers = timers_of(now_held);
      bool say = false;
      {
        std::lock_guard<std::mutex> lock(mu);
        (zones[i].timer.*step)(mono_ms(), timers);
        say = zones[i].timer.state(mono_ms()) == RefreshTimer::State::Expired && !zones[i].warned_expired;
        zones[i].warned_expired = zones[i].warned_expired || say;
      }
      // RFC 1034 §4.3.5 would stop answering here; the cluster keeps
      // answering its committed copy (docs/config.md) and says so.
      if (say && now_held && timers) {
        spdlog::error("zone {}: expired: no check of the primary {} has succeeded for {} s (the SOA's expire); every "
                      "node still answers the copy at serial {}",
                      fz.zone.to_text(), fz.primary_text(), timers->expire,
                      dns::soa_decode(now_held->rdata).value().serial);
      }
    };
    auto succeed = [&] {
      std::lock_guard<std::mutex> lock(mu);
      auto timers = timers_of(held_soa(fz.zone));
      zones[i].timer.succeeded(mono_ms(), timers.value_or(SoaTimers{}));
      zones[i].warned_expired = false;
    };

    dns::RR primary_soa;
    if (auto e = query_soa(fz, primary_soa)) {
      count_soa(i, kind_label(e->kind));
      spdlog::warn("zone {}: SOA query to {} failed: {}", fz.zone.to_text(), fz.primary_text(), e->message);
      return finish(&RefreshTimer::failed);
    }
    count_soa(i, "ok");
    const uint32_t primary_serial = dns::soa_decode(primary_soa.rdata).value().serial;
    const std::optional<uint32_t> held_serial =
        held ? std::optional<uint32_t>(dns::soa_decode(held->rdata).value().serial) : std::nullopt;
    {
      std::lock_guard<std::mutex> lock(mu);
      zones[i].primary_serial = primary_serial;
    }
    if (held_serial && !store::serial_newer(primary_serial, *held_serial)) {
      if (primary_serial != *held_serial) {
        bool say = false;
        {
          std::lock_guard<std::mutex> lock(mu);
          say = !zones[i].warned_older;
          zones[i].warned_older = true;
        }
        // RFC 1982: a serial behind ours is not a new version; the zone stays.
        if (say) {
          spdlog::warn("zone {}: the primary {} is at serial {}, behind the cluster's {}: nothing transferred until "
                       "it moves past it",
                       fz.zone.to_text(), fz.primary_text(), primary_serial, *held_serial);
        }
      }
      return succeed();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      zones[i].warned_older = false;
    }

    // RFC 1995: IXFR from the serial held; AXFR when nothing is held, and
    // as the fallback when the primary cannot answer IXFR or its diffs do
    // not fit the zone held (RFC 1995 §4, RFC 5936).
    std::unique_ptr<TransferExchange> exchange;
    const char* kind = held ? "IXFR" : "AXFR";
    std::optional<TransferError> failure = transfer(fz, held, exchange);
    TransferPlan plan;
    if (!failure && exchange->reader().kind() == TransferReader::Kind::UpToDate) {
      count_transfer(i, "ixfr", "uptodate");
      return succeed();
    }
    if (!failure) failure = plan_transfer(*store.snapshot(), fz.zone, exchange->reader(), plan);
    const bool fall_back = held && failure &&
                           (failure->kind == TransferError::Kind::Rcode || failure->kind == TransferError::Kind::Malformed ||
                            failure->kind == TransferError::Kind::Diverged) &&
                           still_leading();
    if (fall_back) {
      count_transfer(i, "ixfr", kind_label(failure->kind));
      spdlog::info("zone {}: IXFR from {} failed ({}); falling back to AXFR", fz.zone.to_text(), fz.primary_text(),
                   failure->message);
      kind = "AXFR";
      failure = transfer(fz, std::nullopt, exchange);
      if (!failure) failure = plan_transfer(*store.snapshot(), fz.zone, exchange->reader(), plan);
    }
    const char* label = std::strcmp(kind, "IXFR") == 0 ? "ixfr" : "axfr";
    if (failure) {
      count_transfer(i, label, kind_label(failure->kind));
      spdlog::warn("zone {}: {} from {} failed: {}", fz.zone.to_text(), kind, fz.primary_text(), failure->message);
      return finish(&RefreshTimer::failed);
    }
    if (exchange->reader().kind() == TransferReader::Kind::Full && std::strcmp(kind, "IXFR") == 0) {
      spdlog::info("zone {}: the primary answered IXFR with the whole zone", fz.zone.to_text());
    }
    if (plan.from_serial && !store::serial_newer(plan.to_serial, *plan.from_serial)) {
      // The primary moved back between the SOA answer and the transfer.
      count_transfer(i, label, "unchanged");
      return succeed();
    }
    switch (commit(fz, plan, kind, started)) {
      case Commit::Done:
        count_transfer(i, label, "committed");
        return succeed();
      case Commit::Moved: {
        count_transfer(i, label, "moved");
        std::lock_guard<std::mutex> lock(mu);
        zones[i].timer.again(mono_ms());
        return;
      }
      case Commit::Failed:
        count_transfer(i, label, "uncommitted");
        return finish(&RefreshTimer::failed);
    }
  }

  void run() {
    for (;;) {
      const bool leading = still_leading();
      std::vector<size_t> due;
      uint64_t next = mono_ms() + options.leader_poll_ms;
      {
        std::unique_lock<std::mutex> lock(mu);
        if (stopping) return;
        const uint64_t now = mono_ms();
        for (size_t i = 0; i < zones.size(); ++i) {
          RefreshTimer& t = zones[i].timer;
          if (leading && !t.leading()) {
            t.lead(now);
            spdlog::info("zone {}: this node leads: following the primary {}", options.zones[i].zone.to_text(),
                         options.zones[i].primary_text());
          } else if (!leading && t.leading()) {
            t.stand_by();
          }
        }
        while (!notified.empty()) {
          zones[notified.front()].timer.notified(now);
          notified.pop_front();
        }
        for (size_t i = 0; i < zones.size(); ++i) {
          if (zones[i].timer.begin(now)) due.push_back(i);
        }
        if (due.empty()) {
          for (const ZoneState& z : zones) next = std::min(next, z.timer.next_check_ms());
          const uint64_t wait = next > now ? next - now : 0;
          wake.wait_for(lock, std::chrono::milliseconds(wait), [this] { return stopping || !notified.empty(); });
          continue;
        }
      }
      for (size_t i : due) check(i);
    }
  }

  size_t answer_notify(const uint8_t* packet, size_t len, const sockaddr* peer, uint8_t* out, size_t cap);
  void count_notify(const char* result) {
    std::lock_guard<std::mutex> lock(mu);
    ++notifies[result];
  }
};

size_t ZoneFollower::Impl::answer_notify(const uint8_t* packet, size_t len, const sockaddr* peer, uint8_t* out,
                                         size_t cap) {
  if (len < dns::kHeaderSize) return 0;
  const std::string who = peer_text(peer);
  const uint16_t id = static_cast<uint16_t>((packet[0] << 8) | packet[1]);
  const uint16_t qflags = static_cast<uint16_t>((packet[2] << 8) | packet[3]);
  auto parsed = dns::parse_message(packet, len);
  const dns::Question* q =
      parsed && parsed->questions.size() == 1 ? &parsed->questions.front() : nullptr;
  std::optional<dns::tsig::ServerSigning> signing;
  // RFC 1996 §4.7: the answer echoes the question, with QR and AA set.
  auto answer = [&](uint16_t rcode) -> size_t {
    dns::MessageWriter w(out, cap);
    dns::Header h;
    h.id = id;
    h.flags = static_cast<uint16_t>(dns::flag::QR | dns::flag::AA | (qflags & 0x7800) | (rcode & 0xF));
    w.set_header(h);
    if (q) w.add_question(q->name, q->qtype, q->qclass);
    size_t n = w.finish();
    if (signing) n = signing->append(out, n, cap);
    return n;
  };
  if (!parsed || !q || q->qtype != dns::rrtype::SOA || q->qclass != dns::rrclass::IN) {
    // §3.7: a NOTIFY names one zone, with QTYPE SOA.
    count_notify("formerr");
    spdlog::info("NOTIFY from {}: FORMERR: {}", who,
                 !parsed ? parsed.error().message : std::string("not one question of type SOA, class IN"));
    return answer(dns::rcode::FORMERR);
  }
  const dns::Message& m = parsed.value();
  size_t i = 0;
  while (i < options.zones.size() && options.zones[i].zone != q->name) ++i;
  // RFC 8945 §5.2: the signature is checked first.
  const dns::tsig::Key* signed_by = nullptr;
  // A zone with a key accepts that key alone; `own_key` outlives `signing`.
  std::vector<dns::tsig::Key> own_key;
  if (i < options.zones.size() && options.zones[i].key) own_key.push_back(*options.zones[i].key);
  if (m.tsig) {
    const std::vector<dns::tsig::Key>& keys = own_key.empty() ? options.keys : own_key;
    dns::tsig::Verification v = dns::tsig::verify(packet, len, m, keys, options.unix_now());
    if (v.error == dns::rcode::FORMERR) {
      count_notify("formerr");
      return answer(dns::rcode::FORMERR);
    }
    signing.emplace(v, options.unix_now());
    if (signing->failed()) {
      count_notify("notauth");
      spdlog::info("NOTIFY of {} from {}: NOTAUTH: {}", q->name.to_text(), who, v.reason);
      return answer(dns::rcode::NOTAUTH);
    }
    signed_by = v.key;
  }
  if (i == options.zones.size()) {
    count_notify("notauth");
    spdlog::info("NOTIFY of {} from {}: NOTAUTH: not a zone this cluster copies from a primary", q->name.to_text(),
                 who);
    return answer(dns::rcode::NOTAUTH);
  }
  const FollowedZone& fz = options.zones[i];
  if (!zones[i].source || !zones[i].source->contains(peer)) {
    count_notify("refused");
    spdlog::info("NOTIFY of {} from {}: REFUSED: only its primary {} may notify", q->name.to_text(), who,
                 fz.primary_text());
    return answer(dns::rcode::REFUSED);
  }
  if (fz.key && !signed_by) {
    count_notify("refused");
    spdlog::info("NOTIFY of {} from {}: REFUSED: not signed with {}", q->name.to_text(), who, fz.key->name.to_text());
    return answer(dns::rcode::REFUSED);
  }
  std::optional<uint32_t> serial;
  for (const dns::RR& rr : m.answers) {
    if (rr.type == dns::rrtype::SOA) {
      if (auto f = dns::soa_decode(rr.rdata)) serial = f->serial;
    }
  }
  count_notify("accepted");
  {
    std::lock_guard<std::mutex> lock(mu);
    if (zones[i].timer.leading()) {
      notified.push_back(i);
      wake.notify_one();
    }
  }
  spdlog::info("NOTIFY of {} from {}{}: accepted", q->name.to_text(), who,
               serial ? " (serial " + std::to_string(*serial) + ")" : std::string());
  return answer(dns::rcode::NOERROR);
}

ZoneFollower::ZoneFollower(const store::Store& store, FollowerOptions options, std::function<bool()> is_leader,
                           store::SubmitFn submit)
    : impl_(std::make_shared<Impl>(store, std::move(options), std::move(is_leader), std::move(submit))) {}

ZoneFollower::~ZoneFollower() { stop(); }

void ZoneFollower::start() {
  if (impl_->options.zones.empty() || impl_->thread.joinable()) return;
  Impl* s = impl_.get();
  impl_->thread = std::thread([s] { s->run(); });
}

void ZoneFollower::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

size_t ZoneFollower::answer_notify(const uint8_t* packet, size_t len, const sockaddr* peer, uint8_t* out, size_t cap) {
  return impl_->answer_notify(packet, len, peer, out, cap);
}

void ZoneFollower::render_metrics(PrometheusWriter& w) const {
  using L = PrometheusWriter::Labels;
  const Impl& s = *impl_;
  if (s.options.zones.empty()) return;
  std::lock_guard<std::mutex> lock(s.mu);
  const uint64_t now = mono_ms();
  w.family("dnsnode_secondary_refresh_state", "gauge",
           "Each zone copied from an outside primary: 1 for its refresh state on this node (standby: another node "
           "leads and follows the primary; checking; current; retrying; expired: no check succeeded for the SOA's "
           "expire interval, the zone is still answered).");
  for (size_t i = 0; i < s.zones.size(); ++i) {
    const std::string zone = s.options.zones[i].zone.to_text();
    const RefreshTimer::State st = s.zones[i].timer.state(now);
    for (auto state : {RefreshTimer::State::Standby, RefreshTimer::State::Checking, RefreshTimer::State::Current,
                       RefreshTimer::State::Retrying, RefreshTimer::State::Expired}) {
      w.sample("dnsnode_secondary_refresh_state", L{{"zone", zone}, {"state", state_name(state)}},
               uint64_t{st == state ? 1u : 0u});
    }
  }
  w.family("dnsnode_secondary_primary_serial", "gauge",
           "The serial the zone's primary last answered to this node's SOA query (while it led).");
  for (size_t i = 0; i < s.zones.size(); ++i) {
    if (s.zones[i].primary_serial) {
      w.sample("dnsnode_secondary_primary_serial", L{{"zone", s.options.zones[i].zone.to_text()}},
               uint64_t{*s.zones[i].primary_serial});
    }
  }
  w.family("dnsnode_transfers_in_total", "counter",
           "Zone transfers this node received from outside primaries as leader, by kind (axfr, ixfr) and result: "
           "committed, uptodate (IXFR answered with the SOA alone), unchanged, moved (the zone moved before the "
           "commit; checked again), uncommitted (no quorum or timeout), network, rcode, tsig, malformed, diverged (an "
           "IXFR that does not fit the zone held; AXFR follows).");
  for (const auto& [key, n] : s.transfers) {
    w.sample("dnsnode_transfers_in_total",
             L{{"zone", std::get<0>(key)}, {"kind", std::get<1>(key)}, {"result", std::get<2>(key)}}, n);
  }
  w.family("dnsnode_secondary_soa_checks_total", "counter",
           "SOA queries this node sent to outside primaries as leader, by result (ok, network, rcode, tsig, malformed).");
  for (const auto& [key, n] : s.soa_checks) {
    w.sample("dnsnode_secondary_soa_checks_total", L{{"zone", key.first}, {"result", key.second}}, n);
  }
  w.family("dnsnode_notify_received_total", "counter",
           "NOTIFY messages this node received, by result: accepted, refused (another source, or unsigned where a "
           "key is required), notauth (a zone not copied from a primary, or a bad TSIG), formerr.");
  for (const auto& [result, n] : s.notifies) w.sample("dnsnode_notify_received_total", L{{"result", result}}, n);
}

}  // namespace server
