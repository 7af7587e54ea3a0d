// IPv4 and IPv6 prefixes: parsing "addr/len" and matching socket addresses.
#include "server/network.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <string>

namespace server {

util::Result<Network> Network::parse(std::string_view text) {
  Network n;
  std::string t(text);
  std::string addr = t;
  int prefix = -1;
  if (size_t slash = t.find('/'); slash != std::string::npos) {
    addr = t.substr(0, slash);
    std::string p = t.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size()) {
      return util::make_error("'" + t + "': bad prefix length '" + p + "'");
    }
  }
  if (inet_pton(AF_INET, addr.c_str(), n.addr) == 1) {
    n.ipv6 = false;
    if (prefix < 0) prefix = 32;
    if (prefix > 32) return util::make_error("'" + t + "': an IPv4 prefix length is 0-32");
  } else if (inet_pton(AF_INET6, addr.c_str(), n.addr) == 1) {
    n.ipv6 = true;
    if (prefix < 0) prefix = 128;
    if (prefix > 128) return util::make_error("'" + t + "': an IPv6 prefix length is 0-128");
  } else {
    return util::make_error("'" + t + "' is not an IP address or prefix (write \"127.0.0.0/8\" or \"::1/128\")");
  }
  n.prefix = static_cast<uint8_t>(prefix);
  return n;
}

bool Network::contains(const sockaddr* address) const {
  if (!address) return false;
  const uint8_t* a = nullptr;
  bool v6 = false;
  if (address->sa_family == AF_INET) {
    a = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(address)->sin_addr);
  } else if (address->sa_family == AF_INET6) {
    a = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
    v6 = true;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(a, kMapped, 12) == 0) {  // ::ffff:a.b.c.d is an IPv4 peer
      a += 12;
      v6 = false;
    }
  } else {
    return false;
  }
  if (v6 != ipv6) return false;
  size_t full = prefix / 8;
  if (std::memcmp(a, addr, full) != 0) return false;
  if (unsigned rest = prefix % 8; rest != 0) {
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    if ((a[full] & mask) != (addr[full] & mask)) return false;
  }
  return true;
}

}  // namespace server
