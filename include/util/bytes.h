// Big-endian byte writer and bounds-checked reader for the project's own
// binary formats (Raft log payloads, checkpoints).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace util {

/// Appends big-endian integers and length-prefixed strings to a std::string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { u8(v >> 8); u8(v & 0xFF); }
  void u32(uint32_t v) { u16(v >> 16); u16(v & 0xFFFF); }
  void u64(uint64_t v) { u32(v >> 32); u32(v & 0xFFFFFFFF); }
  void raw(std::string_view s) { out_.append(s); }
  /// A string prefixed with its 32-bit length.
  void str(std::string_view s) { u32(static_cast<uint32_t>(s.size())); raw(s); }

 private:
  std::string& out_;
};

/// Reads what ByteWriter wrote. Never reads past the end: after the first
/// short read every later read returns zero/empty and ok() is false.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

  uint8_t u8() { return need(1) ? static_cast<uint8_t>(in_[pos_++]) : 0; }
  uint16_t u16() { uint16_t hi = u8(); return static_cast<uint16_t>(hi << 8 | u8()); }
  uint32_t u32() { uint32_t hi = u16(); return hi << 16 | u16(); }
  uint64_t u64() { uint64_t hi = u32(); return hi << 32 | u32(); }
  std::string_view raw(size_t n) {
    if (!need(n)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view str() { return raw(u32()); }

 private:
  bool need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) { ok_ = false; return false; }
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace util
