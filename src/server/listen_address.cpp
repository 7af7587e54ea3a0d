// Conversions between listen addresses, socket addresses and log text.
#include "server/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace server {

util::Result<socklen_t> to_sockaddr(const ListenAddress& addr, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  if (addr.ipv6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(out);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(addr.port);
    if (inet_pton(AF_INET6, addr.host.c_str(), &sa->sin6_addr) != 1) {
      return util::make_error("'" + addr.host + "' is not an IPv6 address");
    }
    return static_cast<socklen_t>(sizeof(sockaddr_in6));
  }
  auto* sa = reinterpret_cast<sockaddr_in*>(out);
  sa->sin_family = AF_INET;
  sa->sin_port = htons(addr.port);
  if (inet_pton(AF_INET, addr.host.c_str(), &sa->sin_addr) != 1) {
    return util::make_error("'" + addr.host + "' is not an IPv4 address");
  }
  return static_cast<socklen_t>(sizeof(sockaddr_in));
}

std::string peer_to_string(const sockaddr* sa) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
    return std::string("[") + text + "]:" + std::to_string(ntohs(s6->sin6_port));
  }
  if (sa->sa_family == AF_INET) {
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(s4->sin_port));
  }
  return "?";
}

}  // namespace server
