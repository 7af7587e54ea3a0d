// Response rate limiting: token buckets per client network and response kind,
// with slip (every Nth limited response sent truncated instead of dropped),
// kept in fixed-size tables that forget the least recently used bucket.
#include "server/rrl.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>

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
  if (!rrl.is_object()) return util::make_error("rrl: must be an object such as {\"responses_per_second\": 100}");
  static const char* kKnown[] = {"responses_per_second", "slip", "window", "ipv4_prefix", "ipv6_prefix",
                                 "table_size", "exempt_clients"};
  for (const auto& item : rrl.items()) {
    const std::string& key = item.key();
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return key == k; })) {
      return util::make_error("rrl." + key + ": unknown setting (known: responses_per_second, slip, window, "
                              "ipv4_prefix, ipv6_prefix, table_size, exempt_clients)");
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
  auto table = read_uint(rrl, "table_size", 16, 16777216, o.table_size);
  if (!table) return table.error();
  if (rrl.contains("exempt_clients")) {
    const nlohmann::json& nets = rrl.at("exempt_clients");
    if (!nets.is_array()) {
      return util::make_error("rrl.exempt_clients: must be a list of networks such as [\"192.0.2.0/24\"]");
    }
    for (size_t i = 0; i < nets.size(); ++i) {
      const std::string where = "rrl.exempt_clients[" + std::to_string(i) + "]";
      if (!nets[i].is_string()) return util::make_error(where + ": must be a string such as \"192.0.2.0/24\"");
      auto net = Network::parse(nets[i].get<std::string>());
      if (!net) return util::make_error(where + ": " + net.error().message);
      o.exempt_clients.push_back(net.value());
    }
  }
  o.responses_per_second = *rate;
  o.slip = *slip;
  o.window = *window;
  o.ipv4_prefix = static_cast<uint8_t>(*v4);
  o.ipv6_prefix = static_cast<uint8_t>(*v6);
  o.table_size = *table;
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

ResponseRateLimiter::ResponseRateLimiter(RrlOptions options)
    : options_(std::move(options)),
      per_shard_(std::max<size_t>(1, (options_.table_size + kShards - 1) / kShards)),
      seed_(std::random_device{}() | (uint64_t{std::random_device{}()} << 32)) {
  // The prefix masks, octet by octet: IPv4's four, then IPv6's sixteen.
  auto fill = [](uint8_t* mask, size_t n, unsigned prefix) {
    for (size_t i = 0; i < n; ++i) {
      const unsigned bits = prefix >= 8 * (i + 1) ? 8 : (prefix > 8 * i ? prefix - 8 * i : 0);
      mask[i] = bits == 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bits));
    }
  };
  fill(masks_.data(), 4, options_.ipv4_prefix);
  fill(masks_.data() + 4, 16, options_.ipv6_prefix);
}

bool ResponseRateLimiter::Key::operator==(const Key& o) const { return std::memcmp(bytes, o.bytes, sizeof bytes) == 0; }

ResponseRateLimiter::Key ResponseRateLimiter::key_of(const sockaddr* client, RrlKind kind) const {
  // Kind, family, then the address bytes masked to the prefix.
  Key key;
  key.bytes[0] = static_cast<uint8_t>(kind);
  if (client->sa_family == AF_INET) {
    key.bytes[1] = 4;
    const auto* addr = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(client)->sin_addr);
    for (size_t i = 0; i < 4; ++i) key.bytes[2 + i] = addr[i] & masks_[i];
  } else if (client->sa_family == AF_INET6) {
    key.bytes[1] = 6;
    const auto* addr = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr);
    for (size_t i = 0; i < 16; ++i) key.bytes[2 + i] = addr[i] & masks_[4 + i];
  }
  return key;
}

uint64_t ResponseRateLimiter::hash_of(const Key& key) const {
  // Three 64-bit words through a multiply-xorshift mix, seeded per process
  // so that no one can pick networks that share one probe chain.
  uint64_t w[3] = {};
  std::memcpy(w, key.bytes, sizeof key.bytes);
  uint64_t h = seed_;
  for (uint64_t v : w) {
    h ^= v;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

bool ResponseRateLimiter::exempt(const sockaddr* client) const {
  for (const Network& n : options_.exempt_clients) {
    if (n.contains(client)) return true;
  }
  return false;
}

void ResponseRateLimiter::unlink(Shard& shard, uint32_t i) {
  Bucket& b = shard.buckets[i];
  if (b.newer != kNone) shard.buckets[b.newer].older = b.older; else shard.newest = b.older;
  if (b.older != kNone) shard.buckets[b.older].newer = b.newer; else shard.oldest = b.newer;
  b.newer = b.older = kNone;
}

void ResponseRateLimiter::push_newest(Shard& shard, uint32_t i) {
  Bucket& b = shard.buckets[i];
  b.newer = kNone;
  b.older = shard.newest;
  if (shard.newest != kNone) shard.buckets[shard.newest].newer = i;
  shard.newest = i;
  if (shard.oldest == kNone) shard.oldest = i;
}

void ResponseRateLimiter::erase_slot(Shard& shard, size_t slot) {
  // Linear probing's deletion without tombstones: pull back every later
  // entry of the chain whose home slot does not lie between the hole and it.
  const size_t mask = shard.slots.size() - 1;
  size_t hole = slot;
  for (size_t j = (hole + 1) & mask; shard.slots[j] != 0; j = (j + 1) & mask) {
    const size_t home = shard.buckets[shard.slots[j] - 1].hash & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    shard.slots[hole] = shard.slots[j];
    hole = j;
  }
  shard.slots[hole] = 0;
}

void ResponseRateLimiter::rebuild_slots(Shard& shard, size_t size) {
  shard.slots.assign(size, 0);
  const size_t mask = size - 1;
  for (size_t i = 0; i < shard.buckets.size(); ++i) {
    size_t s = shard.buckets[i].hash & mask;
    while (shard.slots[s] != 0) s = (s + 1) & mask;
    shard.slots[s] = static_cast<uint32_t>(i + 1);
  }
}

ResponseRateLimiter::Bucket& ResponseRateLimiter::find_or_add(Shard& shard, const Key& key, uint64_t hash,
                                                              Clock::time_point now) {
  if (shard.slots.empty()) rebuild_slots(shard, 64);
  size_t mask = shard.slots.size() - 1;
  size_t s = hash & mask;
  for (; shard.slots[s] != 0; s = (s + 1) & mask) {
    const uint32_t i = shard.slots[s] - 1;
    if (shard.buckets[i].hash == hash && shard.buckets[i].key == key) {
      if (shard.newest != i) {
        unlink(shard, i);
        push_newest(shard, i);
      }
      return shard.buckets[i];
    }
  }
  // A new network: a fresh bucket while the shard has room, else the least
  // recently used one is forgotten and reused.
  uint32_t i;
  const bool grow = shard.buckets.size() < per_shard_;
  if (grow) {
    i = static_cast<uint32_t>(shard.buckets.size());
    shard.buckets.emplace_back();
  } else {
    i = shard.oldest;
    unlink(shard, i);
    size_t old = shard.buckets[i].hash & mask;
    while (shard.slots[old] != i + 1) old = (old + 1) & mask;
    erase_slot(shard, old);
  }
  Bucket& b = shard.buckets[i];
  b = Bucket{};
  b.key = key;
  b.hash = hash;
  b.tokens = options_.responses_per_second;  // a new client starts with a full second
  b.updated = now;
  if (grow && shard.buckets.size() * 2 > shard.slots.size()) {
    rebuild_slots(shard, shard.slots.size() * 2);  // keeps the load at most one half; places `b` too
  } else {
    for (s = hash & mask; shard.slots[s] != 0; s = (s + 1) & mask) {
    }
    shard.slots[s] = i + 1;
  }
  push_newest(shard, i);
  return b;
}

RrlAction ResponseRateLimiter::check(const sockaddr* client, RrlKind kind, Clock::time_point now) {
  if (!options_.enabled()) return RrlAction::Send;
  if (!options_.exempt_clients.empty() && exempt(client)) return RrlAction::Send;
  const Key key = key_of(client, kind);
  const uint64_t hash = hash_of(key);
  Shard& shard = shards_[(hash >> 56) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  const double rate = options_.responses_per_second;
  Bucket& b = find_or_add(shard, key, hash, now);
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

size_t ResponseRateLimiter::size() const {
  size_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.buckets.size();
  }
  return n;
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
