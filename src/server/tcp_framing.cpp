// Reassembling length-prefixed DNS messages from a TCP byte stream.
#include "server/tcp_framing.h"

namespace server {

void TcpFramer::append(const uint8_t* data, size_t len) {
  // Drop what has been consumed before growing, so the buffer holds at most
  // one partial message plus the new bytes.
  if (pos_ > 0) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data, data + len);
}

std::optional<std::span<const uint8_t>> TcpFramer::next() {
  size_t avail = buf_.size() - pos_;
  if (avail < 2) return std::nullopt;
  size_t len = (size_t(buf_[pos_]) << 8) | buf_[pos_ + 1];
  if (avail < 2 + len) return std::nullopt;
  std::span<const uint8_t> msg(buf_.data() + pos_ + 2, len);
  pos_ += 2 + len;
  return msg;
}

}  // namespace server
