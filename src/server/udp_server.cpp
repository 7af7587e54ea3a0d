// DNS over UDP: receive a batch -> answer each from the cached snapshot ->
// send the batch. One socket and one thread per worker; the only shared lock is
// RRL's (sharded), when response rate limiting is on.
#include "server/udp_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>

#include "dns/message.h"
#include "server/query_log.h"
#include "server/responder.h"
#include "server/snapshot_cache.h"
#include "server/update.h"
#include "server/zone_follower.h"

namespace server {
namespace {

constexpr unsigned kBatch = 32;
constexpr size_t kMaxDatagram = 65535;
constexpr int kReceiveTimeoutMs = 200;  // how often a blocked worker checks for stop

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

UdpServer::UdpServer(const store::Store& store, QueryStats& stats, UdpOptions options)
    : store_(store), stats_(stats), options_(std::move(options)) {
  if (options_.threads == 0) options_.threads = 1;
  if (options_.rrl.enabled()) rrl_ = std::make_unique<ResponseRateLimiter>(options_.rrl);
}

UdpServer::~UdpServer() {
  stop();
  for (int fd : fds_) ::close(fd);
}

util::Result<void> UdpServer::bind() {
  sockaddr_storage ss;
  auto len = to_sockaddr(options_.address, &ss);
  std::string where = "udp " + options_.address.to_string();
  if (!len) return util::make_error("cannot listen on " + where + ": " + len.error().message);
  for (unsigned i = 0; i < options_.threads; ++i) {
    int fd = ::socket(options_.address.ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return util::make_error("cannot listen on " + where + ": socket: " + errno_text(errno));
    fds_.push_back(fd);
    int one = 1;
    // Every worker binds the same address; the kernel spreads datagrams
    // across the sockets by flow hash.
    if (options_.threads > 1 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      return util::make_error("cannot listen on " + where + ": SO_REUSEPORT: " + errno_text(errno));
    }
    if (options_.address.ipv6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rcvbuf = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);  // best effort; capped by rmem_max
    timeval tv{0, kReceiveTimeoutMs * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), *len) != 0) {
      return util::make_error("cannot listen on " + where + ": " + errno_text(errno));
    }
  }
  return {};
}

void UdpServer::start() {
  for (int fd : fds_) {
    QueryCounters& counters = stats_.add_thread();
    threads_.emplace_back([this, fd, &counters] { worker(fd, counters); });
  }
}

void UdpServer::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void UdpServer::hand_over_update(int fd, const uint8_t* packet, size_t len, const sockaddr_storage& peer,
                                 socklen_t peer_len) {
  // The answer comes once the change is committed, from another thread;
  // sendto on the worker's socket is safe from any thread.
  update_->handle(packet, len, reinterpret_cast<const sockaddr*>(&peer), [fd, peer, peer_len](std::string reply) {
    if (reply.empty()) return;
    if (::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&peer), peer_len) < 0) {
      spdlog::debug("udp: update answer not sent: {}", errno_text(errno));
    }
  });
}

void UdpServer::answer_notify(int fd, const uint8_t* packet, size_t len, const sockaddr_storage& peer,
                              socklen_t peer_len) {
  uint8_t answer[1024];
  size_t n = notify_->answer_notify(packet, len, reinterpret_cast<const sockaddr*>(&peer), answer, sizeof answer);
  if (n > 0 && ::sendto(fd, answer, n, 0, reinterpret_cast<const sockaddr*>(&peer), peer_len) < 0) {
    spdlog::debug("udp: NOTIFY answer not sent: {}", errno_text(errno));
  }
}

void UdpServer::worker(int fd, QueryCounters& counters) {
  // Everything the loop touches is allocated here, once. The buffers are
  // left uninitialised so untouched pages cost no memory.
  std::unique_ptr<uint8_t[]> in(new uint8_t[kBatch * kMaxDatagram]);
  std::unique_ptr<uint8_t[]> out(new uint8_t[kBatch * kMaxDatagram]);
  sockaddr_storage peers[kBatch];
  iovec in_iov[kBatch], out_iov[kBatch];
  mmsghdr in_msgs[kBatch], out_msgs[kBatch];
  ResponseInfo infos[kBatch];
  std::memset(in_msgs, 0, sizeof in_msgs);
  std::memset(out_msgs, 0, sizeof out_msgs);
  for (unsigned i = 0; i < kBatch; ++i) {
    in_iov[i] = {in.get() + i * kMaxDatagram, kMaxDatagram};
    in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
    in_msgs[i].msg_hdr.msg_iovlen = 1;
    in_msgs[i].msg_hdr.msg_name = &peers[i];
  }
  SnapshotCache cache(store_);
  RespondOptions respond_options;
  respond_options.max_udp_payload = options_.max_udp_payload;
  respond_options.tsig_keys = &options_.tsig_keys;

  while (!stopping_.load(std::memory_order_relaxed)) {
    for (unsigned i = 0; i < kBatch; ++i) {
      in_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      in_msgs[i].msg_hdr.msg_flags = 0;
    }
    // Blocks for the first datagram, then takes whatever else is queued.
    int n = ::recvmmsg(fd, in_msgs, kBatch, MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        spdlog::warn("udp {}: receive failed: {}", options_.address.to_string(), errno_text(errno));
      }
      continue;
    }
    const auto batch_start = std::chrono::steady_clock::now();  // for the latency histogram (per batch)
    const zone::ZoneSet& zones = cache.current();
    unsigned replies = 0;
    for (int i = 0; i < n; ++i) {
      const uint8_t* query = static_cast<const uint8_t*>(in_iov[i].iov_base);
      size_t query_len = in_msgs[i].msg_len;
      ResponseInfo& info = infos[i];
      info = ResponseInfo{};
      size_t len = 0;
      if (update_ && UpdateHandler::is_update(query, query_len) && !(in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        hand_over_update(fd, query, query_len, peers[i], in_msgs[i].msg_hdr.msg_namelen);
        continue;
      }
      if (notify_ && ZoneFollower::is_notify(query, query_len) && !(in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        answer_notify(fd, query, query_len, peers[i], in_msgs[i].msg_hdr.msg_namelen);
        continue;
      }
      // A datagram cut short by the buffer cannot be a sane query; drop it.
      if (!(in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        len = respond(zones, query, query_len, out.get() + i * kMaxDatagram, kMaxDatagram, respond_options, &info);
      }
      counters.count(info, len, false);
      if (options_.query_log) {
        log_query("udp", peer_to_string(reinterpret_cast<sockaddr*>(&peers[i])), query, query_len, info, len);
      }
      // RRL: a limited response is dropped or, every slip-th time, sent
      // truncated so a real client behind the flooded network retries over TCP.
      // A query whose TSIG verified cannot have a spoofed source: it is not
      // limited (as Knot does not limit authorized requests).
      if (len > 0 && rrl_ && !(info.signed_query && info.tsig_error == 0)) {
        uint8_t* response = out.get() + i * kMaxDatagram;
        const RrlKind kind = classify_response(response, len);
        // The batch's clock is close enough for buckets refilled per second.
        switch (rrl_->check(reinterpret_cast<const sockaddr*>(&peers[i]), kind, batch_start)) {
          case RrlAction::Send: break;
          case RrlAction::Drop:
            counters.count_rrl(false);
            len = 0;
            break;
          case RrlAction::Slip:
            counters.count_rrl(true);
            len = truncate_response(response, len);
            break;
        }
      }
      if (len == 0) continue;
      out_iov[replies] = {out.get() + i * kMaxDatagram, len};
      mmsghdr& m = out_msgs[replies];
      m.msg_hdr.msg_iov = &out_iov[replies];
      m.msg_hdr.msg_iovlen = 1;
      m.msg_hdr.msg_name = &peers[i];
      m.msg_hdr.msg_namelen = in_msgs[i].msg_hdr.msg_namelen;
      ++replies;
    }
    for (unsigned sent = 0; sent < replies;) {
      int k = ::sendmmsg(fd, out_msgs + sent, replies - sent, 0);
      if (k < 0) {
        if (errno == EINTR) continue;
        // The first datagram of the rest failed (peer unreachable, buffer
        // full): skip it, as a lost datagram, and send the others.
        spdlog::debug("udp {}: send failed: {}", options_.address.to_string(), errno_text(errno));
        ++sent;
        continue;
      }
      sent += static_cast<unsigned>(k);
    }
    counters.observe_latency(
        static_cast<uint64_t>((std::chrono::steady_clock::now() - batch_start) / std::chrono::nanoseconds(1)),
        static_cast<uint64_t>(n));
  }
}

}  // namespace server
