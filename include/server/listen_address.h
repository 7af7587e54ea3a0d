// An address a listener binds: an IP literal and a port, IPv4 or IPv6.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "util/result.h"

namespace server {

/// Where a listener binds. The host is an IP literal without brackets.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
  bool ipv6 = false;

  /// "127.0.0.1:10053" or "[::1]:10053".
  std::string to_string() const {
    return ipv6 ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
  }
};

/// Fills a sockaddr for `addr`; returns its length, or an error for a bad literal.
util::Result<socklen_t> to_sockaddr(const ListenAddress& addr, sockaddr_storage* out);

/// "127.0.0.1:5353" or "[::1]:5353" for a peer address (for logs).
std::string peer_to_string(const sockaddr* sa);

}  // namespace server
