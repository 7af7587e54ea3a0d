// dns-register's parts: the host's addresses (rtnetlink), the signed RFC 2136
// UPDATE that replaces the host's A/AAAA RRsets, and sending it to a list of
// servers until one commits it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/tsig.h"
#include "util/result.h"

namespace agent {

/// The addresses to publish, as text ("198.51.100.7", "2001:db8::7"), sorted.
struct Addresses {
  std::set<std::string> v4, v6;
  bool operator==(const Addresses& o) const { return v4 == o.v4 && v6 == o.v6; }
  bool operator!=(const Addresses& o) const { return !(*this == o); }
  std::string to_string() const;
};

/// The host's global addresses, read with an RTM_GETADDR dump: loopback
/// (host scope), link-local (link scope, 169.254/16, fe80::/10), tentative,
/// deprecated and DAD-failed addresses are left out.
util::Result<Addresses> discover_addresses();

/// A netlink socket subscribed to address changes (RTMGRP_IPV4_IFADDR and
/// RTMGRP_IPV6_IFADDR): the kernel reports each new or removed address.
class AddressWatch {
 public:
  static util::Result<AddressWatch> open();
  AddressWatch(AddressWatch&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  AddressWatch& operator=(AddressWatch&&) = delete;
  ~AddressWatch();
  /// Waits up to `timeout_ms` for an address event; drains every pending
  /// message. True if the kernel reported an address change.
  bool wait(int timeout_ms);

 private:
  explicit AddressWatch(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// A DNS server to try: an IP literal and a port.
struct Server {
  std::string host;
  uint16_t port = 53;
  std::string to_string() const;
};
util::Result<Server> parse_server(const std::string& text);

/// How a server answered one request.
struct Answer {
  uint16_t rcode = 0;
  uint16_t tsig_error = 0;  // BADSIG, BADKEY, BADTIME from the response's TSIG record
  std::string detail;       // why the answer cannot be trusted or used, for the log
  bool transport_failed = false;
};

/// Everything one registration needs.
struct Target {
  dns::Name name;
  dns::Name zone;
  uint32_t ttl = 60;
  std::optional<dns::tsig::Key> key;  // nullopt: unsigned (--no-tsig)
  bool manage_v4 = true, manage_v6 = true;  // which RRsets to replace
  int timeout_ms = 4000;                     // per server
};

/// Builds the UPDATE (RFC 2136 §2): zone section = the zone's SOA; no
/// prerequisites; for each managed family a delete of the RRset (§2.5.2,
/// class ANY) followed by an add of each address (§2.5.1). Signed with the
/// key when there is one (RFC 8945); returns the request MAC in `mac`.
std::string build_update(const Target& t, const Addresses& addrs, uint16_t id, std::string* mac);

/// Sends a request over UDP (then TCP if the answer is truncated) and reads
/// its answer, checking ID and, with a key, the response's TSIG.
Answer exchange(const Server& server, const std::string& request, uint16_t id, const Target& t,
                const std::string& request_mac);

/// Finds the zone holding `name` by an SOA query (the SOA in the answer or,
/// for a name without SOA, in the authority section).
util::Result<dns::Name> find_zone(const std::vector<Server>& servers, const dns::Name& name, int timeout_ms);

/// Name of an rcode, "NOERROR", "NOTAUTH", ...
std::string rcode_text(uint16_t rcode);

}  // namespace agent
