// echo_floor: a do-nothing DNS responder that sends every query back with the
// QR bit set, over UDP (recvmmsg/sendmmsg) and TCP (RFC 1035 §4.2.2 framing).
// It does no DNS work, so its CPU time per query is the kernel's floor that
// every real server pays; the query benchmark reports each server above it.
//
// Usage: echo_floor PORT   (binds 127.0.0.1:PORT for UDP and TCP, one thread)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kBatch = 64;
constexpr size_t kMaxUdp = 4096;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int must(int rc, const char* what) {
  if (rc < 0) {
    std::fprintf(stderr, "echo_floor: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }
  return rc;
}

/// One TCP connection: bytes read but not yet a whole frame, and replies not
/// yet written.
struct Conn {
  std::vector<uint8_t> in;
  std::vector<uint8_t> out;
  bool want_out = false;  // registered for EPOLLOUT
};

/// Sets QR on every whole frame in `c.in`, moves them to `c.out`.
void echo_frames(Conn& c) {
  size_t pos = 0;
  while (c.in.size() - pos >= 2) {
    size_t len = (size_t(c.in[pos]) << 8) | c.in[pos + 1];
    if (c.in.size() - pos - 2 < len) break;
    size_t start = c.out.size();
    c.out.insert(c.out.end(), c.in.begin() + long(pos), c.in.begin() + long(pos + 2 + len));
    if (len > 2) c.out[start + 4] |= 0x80;
    pos += 2 + len;
  }
  c.in.erase(c.in.begin(), c.in.begin() + long(pos));
}

/// Writes what it can; returns false if the connection is dead.
bool flush(int fd, Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    c.out.erase(c.out.begin(), c.out.begin() + n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: echo_floor PORT\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;

  int udp = must(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), "udp socket");
  setsockopt(udp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rcvbuf = 4 << 20;  // as dns-node asks for; capped by net.core.rmem_max
  setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  must(::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind udp");
  int tcp = must(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), "tcp socket");
  setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  must(::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind tcp");
  must(::listen(tcp, 1024), "listen");

  int ep = must(epoll_create1(0), "epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = udp;
  must(epoll_ctl(ep, EPOLL_CTL_ADD, udp, &ev), "epoll add udp");
  ev.data.fd = tcp;
  must(epoll_ctl(ep, EPOLL_CTL_ADD, tcp, &ev), "epoll add tcp");

  static uint8_t bufs[kBatch][kMaxUdp];
  mmsghdr msgs[kBatch];
  iovec iovs[kBatch];
  sockaddr_storage peers[kBatch];
  std::unordered_map<int, Conn> conns;
  std::vector<uint8_t> chunk(65536);
  epoll_event events[64];

  while (!g_stop) {
    int n = epoll_wait(ep, events, 64, 200);
    if (n < 0) {
      if (errno == EINTR) continue;
      must(n, "epoll_wait");
    }
    for (int e = 0; e < n; ++e) {
      int fd = events[e].data.fd;
      if (fd == udp) {
        for (;;) {
          for (int i = 0; i < kBatch; ++i) {
            iovs[i] = {bufs[i], kMaxUdp};
            msgs[i].msg_hdr = {};
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
          }
          int got = ::recvmmsg(udp, msgs, kBatch, MSG_DONTWAIT, nullptr);
          if (got <= 0) break;
          for (int i = 0; i < got; ++i) {
            iovs[i].iov_len = msgs[i].msg_len;
            if (msgs[i].msg_len > 2) bufs[i][2] |= 0x80;
          }
          int sent = 0;
          while (sent < got) {
            int s = ::sendmmsg(udp, msgs + sent, unsigned(got - sent), 0);
            if (s <= 0) break;  // a full send buffer drops the rest, as a server would
            sent += s;
          }
          if (got < kBatch) break;
        }
      } else if (fd == tcp) {
        for (;;) {
          int c = ::accept4(tcp, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
      } else {
        Conn& c = conns[fd];
        bool alive = true;
        for (;;) {
          ssize_t r = ::recv(fd, chunk.data(), chunk.size(), 0);
          if (r > 0) {
            c.in.insert(c.in.end(), chunk.begin(), chunk.begin() + r);
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) alive = false;
          break;
        }
        echo_frames(c);
        if (!flush(fd, c)) alive = false;
        if (!alive) {
          ::close(fd);
          conns.erase(fd);
        } else if (c.want_out != !c.out.empty()) {
          // Ask for EPOLLOUT only while replies wait for send-buffer space.
          c.want_out = !c.out.empty();
          epoll_event cev{};
          cev.events = EPOLLIN | (c.out.empty() ? 0u : uint32_t(EPOLLOUT));
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
      }
    }
  }
  return 0;
}
