// The host's addresses through rtnetlink: an RTM_GETADDR dump to list them,
// and a socket subscribed to the address groups to hear of changes.
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "agent.h"

namespace agent {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

/// Addresses no other host can reach us at, whatever their scope says.
bool unreachable_from_elsewhere(int family, const unsigned char* a) {
  if (family == AF_INET) {
    return a[0] == 127 || (a[0] == 169 && a[1] == 254) || a[0] == 0;
  }
  static const unsigned char kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(a, kLoopback6, 16) == 0) return true;
  return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;  // fe80::/10 link-local
}

}  // namespace

std::string Addresses::to_string() const {
  std::string out;
  auto list = [&](const char* type, const std::set<std::string>& s) {
    out += out.empty() ? "" : ", ";
    out += type;
    out += " ";
    if (s.empty()) {
      out += "(none)";
      return;
    }
    bool first = true;
    for (const auto& a : s) {
      out += first ? "" : " ";
      out += a;
      first = false;
    }
  };
  list("A", v4);
  list("AAAA", v6);
  return out;
}

util::Result<Addresses> discover_addresses() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return util::make_error("cannot open a netlink socket: " + errno_text(errno));
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  req.nh.nlmsg_type = RTM_GETADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    int e = errno;
    ::close(fd);
    return util::make_error("cannot ask the kernel for addresses (RTM_GETADDR): " + errno_text(e));
  }

  Addresses out;
  std::vector<char> buf(65536);
  for (bool done = false; !done;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      return util::make_error("reading the address list from netlink failed: " + errno_text(e));
    }
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        ::close(fd);
        return util::make_error("the kernel refused the address list request");
      }
      if (nh->nlmsg_type != RTM_NEWADDR) continue;
      auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(nh));
      uint32_t flags = ifa->ifa_flags;
      const unsigned char* address = nullptr;
      const unsigned char* local = nullptr;
      int rlen = static_cast<int>(IFA_PAYLOAD(nh));
      for (auto* rta = IFA_RTA(ifa); RTA_OK(rta, rlen); rta = RTA_NEXT(rta, rlen)) {
        if (rta->rta_type == IFA_ADDRESS) address = static_cast<const unsigned char*>(RTA_DATA(rta));
        if (rta->rta_type == IFA_LOCAL) local = static_cast<const unsigned char*>(RTA_DATA(rta));
        if (rta->rta_type == IFA_FLAGS) std::memcpy(&flags, RTA_DATA(rta), sizeof flags);
      }
      // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
      const unsigned char* a = ifa->ifa_family == AF_INET && local ? local : address;
      if (!a || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)) continue;
      // Host scope is loopback, link scope link-local: not reachable by name.
      if (ifa->ifa_scope != RT_SCOPE_UNIVERSE) continue;
      // Not (or no longer) usable: still in duplicate address detection,
      // failed it, or being retired.
      if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)) continue;
      if (unreachable_from_elsewhere(ifa->ifa_family, a)) continue;
      char text[INET6_ADDRSTRLEN];
      if (!inet_ntop(ifa->ifa_family, a, text, sizeof text)) continue;
      (ifa->ifa_family == AF_INET ? out.v4 : out.v6).insert(text);
    }
  }
  ::close(fd);
  return out;
}

util::Result<AddressWatch> AddressWatch::open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return util::make_error("cannot open a netlink socket: " + errno_text(errno));
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    return util::make_error("cannot subscribe to address changes (rtnetlink): " + errno_text(e));
  }
  return AddressWatch(fd);
}

AddressWatch::~AddressWatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool AddressWatch::wait(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
  if (rc <= 0) return false;
  bool changed = false;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ENOBUFS) {
      changed = true;  // the kernel dropped events: assume something changed
      continue;
    }
    if (n <= 0) break;
    int len = static_cast<int>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == RTM_NEWADDR || nh->nlmsg_type == RTM_DELADDR) changed = true;
    }
  }
  return changed;
}

}  // namespace agent
