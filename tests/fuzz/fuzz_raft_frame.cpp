// Fuzz target: bytes from a Raft peer (a whole frame, or a bare payload) must
// decode to a message that re-encodes stably, or fail cleanly, never crash.
// The peer link's TLS layer has authenticated these bytes; the codec must
// still never trust them.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "raft/codec.h"

namespace {

// A decoded message must survive encode -> decode unchanged: otherwise two
// nodes could disagree about what a peer sent.
void check_round_trip(const raft::Message& m) {
  const std::string once = raft::codec::encode(m);
  auto again = raft::codec::decode(once);
  if (!again.ok()) std::abort();
  if (raft::codec::encode(again.value()) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // A bare payload, as decode() sees it once a frame's length was read.
  auto m = raft::codec::decode(bytes);
  if (m.ok()) check_round_trip(m.value());

  // A whole frame: whatever opens must round-trip through
  // encode_frame/decode_frame too, and re-encode to the input exactly.
  raft::codec::OpenedFrame open = raft::codec::decode_frame(bytes, 1u << 20);
  if (open.error == raft::codec::FrameError::None) {
    check_round_trip(open.message);
    const std::string frame = raft::codec::encode_frame(open.message);
    if (raft::codec::decode_frame(frame, 1u << 20).error != raft::codec::FrameError::None) std::abort();
    if (frame != bytes) std::abort();
  } else if (open.reason.empty()) {
    std::abort();  // every refusal says why
  }
  return 0;
}
