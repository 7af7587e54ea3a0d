// IPv4 and IPv6 prefixes ("192.0.2.0/24", "::1/128") and the test of an
// address against one: for the networks of UPDATE, RRL and HTTP settings.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string_view>

#include "util/result.h"

namespace server {

/// An IPv4 or IPv6 prefix ("127.0.0.0/8", "::1/128", "192.0.2.7").
struct Network {
  bool ipv6 = false;
  uint8_t addr[16] = {};
  uint8_t prefix = 0;
  static util::Result<Network> parse(std::string_view text);
  /// Whether the address (AF_INET or AF_INET6; an IPv4-mapped IPv6 address
  /// counts as IPv4) lies in this prefix.
  bool contains(const sockaddr* address) const;
};

}  // namespace server
