// Wire codec for Raft peer messages: versioned, bounds-checked encoding and
// HMAC-authenticated framing used by the TCP transport.
//
// Payload (all integers unsigned LEB128 varints unless noted; byte order is
// therefore explicit and host-independent):
//
//   u8  version (= kCodecVersion)
//   u8  MessageType
//   from to term log_term index commit  (varints)
//   u8  reject (0|1)
//   reject_hint hint_term               (varints)
//   count, then per Entry: term index u8 EntryType  len bytes
//   SnapshotMeta: index term  count voter...  count learner...
//   offset  u8 done(0|1)  len data-bytes
//   len context-bytes  applied compact_hint snapshot_size  u8 leader_transfer(0|1)
//
// Frame on a TCP stream:
//
//   [u32 little-endian length L][payload (L - 32 bytes)][32-byte HMAC-SHA256]
//
// The MAC covers the payload (version byte included) under the cluster
// secret. In insecure mode (no secret, `--insecure-peers`) the MAC is 32 zero
// bytes and is not checked. The length covers payload and MAC, never itself.
//
// Sender identity: there is no hello. `from` and `to` are inside the MAC, the
// receiver drops frames not addressed to it, and a connection is pinned to
// the first sender it authenticates. Frames carry no nonce, so a captured
// frame can be replayed; to Raft that is the same as a network duplicate or a
// delayed message, which it tolerates by design (stale terms are ignored).
//
// Adding a field to Message, Entry, SnapshotMeta or Membership breaks the
// build of codec.cpp (structured bindings name every field) until it is
// encoded; a new MessageType or EntryType likewise (-Wswitch). Append new
// fields at the end and, if old nodes must keep talking, bump kCodecVersion.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "util/result.h"

namespace raft::codec {

/// Version byte at the start of every payload. Bump on any incompatible change.
inline constexpr uint8_t kCodecVersion = 1;
/// Size of the frame's length prefix.
inline constexpr std::size_t kLengthPrefixSize = 4;
/// Size of the HMAC-SHA256 trailer.
inline constexpr std::size_t kMacSize = 32;
/// Smallest legal frame body: a version byte, a type byte and the MAC.
inline constexpr std::size_t kMinFrameBody = 2 + kMacSize;
/// Default upper bound on a frame body; a peer announcing more is cut off.
inline constexpr std::size_t kDefaultMaxFrameSize = 64u << 20;  // 64 MiB

/// Encodes `m` as [version][payload]. Never fails.
std::string encode(const Message& m);

/// Decodes [version][payload]. Rejects an unknown version, unknown enum
/// values, lengths that run past the buffer, overlong varints and trailing
/// bytes; the error says which field was bad and where.
util::Result<Message> decode(std::string_view bytes);

/// The cluster secret used to authenticate frames. An empty key means
/// insecure mode: frames carry a zero MAC and the MAC is not checked.
class FrameKey {
 public:
  /// Insecure: no authentication (for `--insecure-peers`).
  FrameKey() = default;
  explicit FrameKey(std::string secret) : secret_(std::move(secret)) {}

  bool insecure() const { return secret_.empty(); }

  /// HMAC-SHA256 of `payload` under the secret (zeros when insecure).
  std::array<uint8_t, kMacSize> mac(std::string_view payload) const;

  /// Constant-time check of `tag` against mac(payload); true when insecure.
  bool verify(std::string_view payload, std::string_view tag) const;

 private:
  std::string secret_;
};

/// Builds a complete frame (length prefix, payload, MAC) for `m`.
std::string encode_frame(const Message& m, const FrameKey& key);

/// Reads the 4-byte little-endian length prefix and checks it lies within
/// [kMinFrameBody, max_frame_size]. A length outside that range means the
/// stream cannot be trusted any more and the connection must be closed.
util::Result<uint32_t> parse_frame_length(const uint8_t (&prefix)[kLengthPrefixSize],
                                          std::size_t max_frame_size = kDefaultMaxFrameSize);

/// Why a frame body was not turned into a Message.
enum class FrameError : uint8_t {
  None = 0,
  BadMac = 1,     // authentication failed: counted as auth_failures
  Malformed = 2,  // MAC fine (or insecure) but payload did not decode
};

/// Result of opening one frame body (everything after the length prefix).
struct OpenedFrame {
  FrameError error = FrameError::None;
  std::string reason;  // set when error != None
  Message message;     // valid when error == None
};

/// Verifies the MAC of a frame body, then decodes its payload.
OpenedFrame open_frame(std::string_view body, const FrameKey& key);

/// Complete frame parser for a byte buffer (tests, fuzzing, tooling): parses
/// the length prefix and opens the body. The whole of `frame` must be one frame.
OpenedFrame decode_frame(std::string_view frame, const FrameKey& key,
                         std::size_t max_frame_size = kDefaultMaxFrameSize);

}  // namespace raft::codec
