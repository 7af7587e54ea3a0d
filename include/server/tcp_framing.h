// DNS over TCP message framing (RFC 1035 §4.2.2, RFC 7766 §8): each
// message is preceded by its length as two octets, network order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace server {

/// Reassembles length-prefixed messages from a byte stream, whatever the
/// read boundaries: a length split across reads, a body split across reads,
/// several messages in one read.
class TcpFramer {
 public:
  /// Adds bytes read from the connection. Invalidates spans from next().
  void append(const uint8_t* data, size_t len);

  /// The next complete message (without its length prefix), or nullopt when
  /// more bytes are needed. The span stays valid until the next append().
  std::optional<std::span<const uint8_t>> next();

  /// Bytes held that do not yet form a complete message.
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;  // start of the first unconsumed byte
};

/// Writes the two-octet length prefix of a message of `len` (<= 65535) octets.
inline void put_length_prefix(uint8_t* out, size_t len) {
  out[0] = static_cast<uint8_t>(len >> 8);
  out[1] = static_cast<uint8_t>(len & 0xff);
}

}  // namespace server
