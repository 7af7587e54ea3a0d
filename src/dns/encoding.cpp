// RFC 4648 base64, base16 and base32hex (see include/dns/encoding.h).
#include "dns/encoding.h"

#include <cstdint>

namespace dns {
namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base32hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'v') return c - 'a' + 10;
  if (c >= 'A' && c <= 'V') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{uint8_t(bytes[i])} << 16) | (uint32_t{uint8_t(bytes[i + 1])} << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kChars[(v >> s) & 63]);
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = uint32_t{uint8_t(bytes[i])} << 16;
    if (rest == 2) v |= uint32_t{uint8_t(bytes[i + 1])} << 8;
    out.push_back(kChars[(v >> 18) & 63]);
    out.push_back(kChars[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kChars[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

util::Result<std::string> base64_decode(std::string_view text, Base64Padding padding) {
  size_t pad = 0;
  while (pad < text.size() && pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  const std::string_view body = text.substr(0, text.size() - pad);
  if (padding == Base64Padding::Required ? text.size() % 4 != 0 : (pad > 0 && text.size() % 4 != 0)) {
    return util::make_error("not valid base64 (its length is not a multiple of 4)");
  }
  if (body.size() % 4 == 1) return util::make_error("not valid base64 (a lone character at the end)");
  std::string out;
  out.reserve(body.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    const int v = base64_value(c);
    if (v < 0) return util::make_error("not valid base64 (unexpected character '" + std::string(1, c) + "')");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return util::make_error("not valid base64 (the last character has bits set past the data)");
  }
  return out;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

util::Result<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return util::make_error("odd number of hex digits");
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return util::make_error("not a hex digit in '" + std::string(text) + "'");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string base32hex_encode(std::string_view bytes) {
  static constexpr char kChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : bytes) {
    acc = (acc << 8) | static_cast<uint8_t>(ch);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kChars[(acc >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kChars[(acc << (5 - bits)) & 31]);
  return out;
}

util::Result<std::string> base32hex_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base32hex_value(c);
    if (v < 0) return util::make_error("not valid base32hex (unexpected character '" + std::string(1, c) + "')");
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // 2, 4, 5 or 7 characters of a final group leave 2, 4, 1 or 3 spare bits;
  // any other count cannot come from whole octets.
  if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0) {
    return util::make_error("not valid base32hex (its length or last character does not end on an octet)");
  }
  return out;
}

}  // namespace dns
