// Response rate limiting: token buckets per client network and response kind,
// with slip (every Nth limited response sent truncated instead of dropped).
#include "server/rrl.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include <nlohmann/json.hpp>

namespace server {

namespace {

util::Result<uint32_t> read_uint(const nlohmann::json& obj, const char* key, uint32_t lo, uint32_t hi,
                                 uint32_t fallback) {
  if (!obj.contains(key)) return fallback;
  const nlohmann::json& v = obj.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    return util::make_error(std::string("rrl.") + key + ": must be a whole number from " + std::to_string(lo) +
                            " to " + std::to_string(hi));
  }
  uint64_t n = v.get<uint64_t>();
  if (n < lo || n > hi) {
    return util::make_error(std::string("rrl.") + key + ": must be a whole number from " + std::to_string(lo) +
                            " to " + std::to_string(hi) + ", not " + std::to_string(n));
  }
  return static_cast<uint32_t>(n);
}

}  // namespace

util::Result<RrlOptions> parse_rrl_options(const nlohmann::json& rrl) {
  RrlOptions o;
  if (rrl.is_null()) return o;
  if (!rrl.is_object()) return util::make_error("rrl: must be an object such as {\"responses_per_second\": 20}");
  for (const auto& item : rrl.items()) {
    const std::string& key = item.key();
    static const char* kKnown[] = {"responses_per_second", "slip", "window", "ipv4_prefix", "ipv6_prefix"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return key == k; })) {
      return util::make_error("rrl." + key + ": unknown setting (known: responses_per_second, slip, window, "
                              "ipv4_prefix, ipv6_prefix)");
    }
  }
  auto rate = read_uint(rrl, "responses_per_second", 0, 1000000, o.responses_per_second);
  if (!rate) return rate.error();
  auto slip = read_uint(rrl, "slip", 0, 10, o.slip);
  if (!slip) return slip.error();
  auto window = read_uint(rrl, "window", 1, 3600, o.window);
  if (!window) return window.error();
  auto v4 = read_uint(rrl, "ipv4_prefix", 8, 32, o.ipv4_prefix);
  if (!v4) return v4.error();
  auto v6 = read_uint(rrl, "ipv6_prefix", 16, 128, o.ipv6_prefix);
  if (!v6) return v6.error();
  o.responses_per_second = *rate;
  o.slip = *slip;
  o.window = *window;
  o.ipv4_prefix = static_cast<uint8_t>(*v4);
  o.ipv6_prefix = static_cast<uint8_t>(*v6);
  return o;
}

RrlKind classify_response(const uint8_t* response, size_t len) {
  if (len < 12) return RrlKind::Error;
  const unsigned rcode = response[3] & 0x0F;
  const unsigned ancount = (static_cast<unsigned>(response[6]) << 8) | response[7];
  if (rcode == 3) return RrlKind::NxDomain;
  if (rcode != 0) return RrlKind::Error;
  return ancount > 0 ? RrlKind::Answer : RrlKind::NoData;
}

ResponseRateLimiter::ResponseRateLimiter(RrlOptions options) : options_(options) {}

std::string ResponseRateLimiter::key_of(const sockaddr* client, RrlKind kind) const {
  // Key: kind, family, then the address bytes masked to the prefix.
  std::string key(1, static_cast<char>(kind));
  auto masked = [&](const uint8_t* addr, size_t bytes, unsigned prefix) {
    for (size_t i = 0; i < bytes; ++i) {
      unsigned bits = prefix >= 8 * (i + 1) ? 8 : (prefix > 8 * i ? prefix - 8 * i : 0);
      uint8_t mask = bits == 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bits));
      key.push_back(static_cast<char>(addr[i] & mask));
    }
  };
  if (client->sa_family == AF_INET) {
    key.push_back('4');
    const auto* in = reinterpret_cast<const sockaddr_in*>(client);
    masked(reinterpret_cast<const uint8_t*>(&in->sin_addr), 4, options_.ipv4_prefix);
  } else if (client->sa_family == AF_INET6) {
    key.push_back('6');
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(client);
    masked(reinterpret_cast<const uint8_t*>(&in6->sin6_addr), 16, options_.ipv6_prefix);
  } else {
    key.push_back('?');
  }
  return key;
}

void ResponseRateLimiter::forget_idle(Shard& shard, Clock::time_point now) {
  // A bucket idle for a whole window is full again: forgetting it changes nothing.
  const auto idle = std::chrono::seconds(options_.window);
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    it = now - it->second.updated >= idle ? shard.buckets.erase(it) : std::next(it);
  }
  // Still full (a spoofed flood from very many networks): start over rather than grow.
  if (shard.buckets.size() >= kMaxBucketsPerShard) shard.buckets.clear();
}

RrlAction ResponseRateLimiter::check(const sockaddr* client, RrlKind kind, Clock::time_point now) {
  if (!options_.enabled()) return RrlAction::Send;
  const std::string key = key_of(client, kind);
  Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  const double rate = options_.responses_per_second;
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= kMaxBucketsPerShard) forget_idle(shard, now);
    it = shard.buckets.emplace(key, Bucket{rate, now, 0}).first;  // a new client starts with a full second
  }
  Bucket& b = it->second;
  // Refill at `rate` per second, up to one second's worth (the burst).
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) {
    b.tokens = std::min(rate, b.tokens + elapsed * rate);
    b.updated = now;
  }
  // Every response costs a token, sent or not, so a flood keeps its source
  // in debt (down to `window` seconds' worth) until it slows down.
  b.tokens = std::max(b.tokens - 1, -rate * options_.window);
  if (b.tokens >= 0) {
    b.limited = 0;
    return RrlAction::Send;
  }
  ++b.limited;
  if (options_.slip > 0 && b.limited % options_.slip == 0) {
    ++shard.slipped;
    return RrlAction::Slip;
  }
  ++shard.dropped;
  return RrlAction::Drop;
}

uint64_t ResponseRateLimiter::dropped() const {
  uint64_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.dropped;
  }
  return n;
}

uint64_t ResponseRateLimiter::slipped() const {
  uint64_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.slipped;
  }
  return n;
}

size_t truncate_response(uint8_t* buf, size_t len) {
  if (len < 12) return 0;
  const unsigned qdcount = (static_cast<unsigned>(buf[4]) << 8) | buf[5];
  size_t pos = 12;
  for (unsigned q = 0; q < qdcount; ++q) {
    // The question name: labels up to the root, or a compression pointer.
    while (true) {
      if (pos >= len) return 0;
      const uint8_t l = buf[pos];
      if (l == 0) {
        ++pos;
        break;
      }
      if ((l & 0xC0) == 0xC0) {
        pos += 2;
        break;
      }
      if (l & 0xC0) return 0;
      pos += 1 + l;
    }
    pos += 4;  // QTYPE, QCLASS
    if (pos > len) return 0;
  }
  buf[2] |= 0x02;  // TC
  std::memset(buf + 6, 0, 6);  // ANCOUNT, NSCOUNT, ARCOUNT
  return pos;
}

}  // namespace server
