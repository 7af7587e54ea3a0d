// Wire codec for Raft peer messages: versioned, bounds-checked encoding and
// the length-prefixed framing used by the peer transport.
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
// Frame on a peer link (a TLS 1.3 stream, see raft/transport.h):
//
//   [u32 little-endian length L][payload (L bytes)]
//
// The frame carries no MAC of its own: TLS authenticates and encrypts the
// link, and binds every record to its connection, so a frame cannot be
// forged, altered or replayed by anyone outside the cluster. The transport
// checks that `from` is the node the link authenticated.
//
// Adding a field to Message, Entry, SnapshotMeta or Membership breaks the
// build of codec.cpp (structured bindings name every field) until it is
// encoded; a new MessageType or EntryType likewise (-Wswitch). Append new
// fields at the end and, if old nodes must keep talking, bump kCodecVersion.
#pragma once

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
/// Smallest legal frame body: a version byte and a type byte.
inline constexpr std::size_t kMinFrameBody = 2;
/// Default upper bound on a frame body; a peer announcing more is cut off.
inline constexpr std::size_t kDefaultMaxFrameSize = 64u << 20;  // 64 MiB

/// Encodes `m` as [version][payload]. Never fails.
std::string encode(const Message& m);

/// Decodes [version][payload]. Rejects an unknown version, unknown enum
/// values, lengths that run past the buffer, overlong varints and trailing
/// bytes; the error says which field was bad and where.
util::Result<Message> decode(std::string_view bytes);

/// Builds a complete frame (length prefix, payload) for `m`, in one buffer.
std::string encode_frame(const Message& m);

/// Reads the 4-byte little-endian length prefix and checks it lies within
/// [kMinFrameBody, max_frame_size]. A length outside that range means the
/// stream cannot be trusted any more and the connection must be closed.
util::Result<uint32_t> parse_frame_length(const uint8_t (&prefix)[kLengthPrefixSize],
                                          std::size_t max_frame_size = kDefaultMaxFrameSize);

/// Why a frame body was not turned into a Message.
enum class FrameError : uint8_t {
  None = 0,
  Malformed = 1,  // the payload did not decode
};

/// Result of opening one frame body (everything after the length prefix).
struct OpenedFrame {
  FrameError error = FrameError::None;
  std::string reason;  // set when error != None
  Message message;     // valid when error == None
};

/// Decodes a frame body (everything after the length prefix).
OpenedFrame open_frame(std::string_view body);

/// Complete frame parser for a byte buffer (tests, fuzzing, tooling): parses
/// the length prefix and opens the body. The whole of `frame` must be one frame.
OpenedFrame decode_frame(std::string_view frame, std::size_t max_frame_size = kDefaultMaxFrameSize);

}  // namespace raft::codec
