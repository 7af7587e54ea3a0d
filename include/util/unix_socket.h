// Unix socket addresses for paths of any length (a data directory may be
// deeper than the 107 octets a sockaddr_un holds).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "util/result.h"

namespace util {

/// The address of the Unix socket at `path`. A path too long for sun_path
/// is reached through its directory: the directory is opened (O_PATH) and
/// the address is "/proc/self/fd/N/<file name>", which Linux resolves to
/// the same file for bind() and connect(); the descriptor stays open as long
/// as this object.
class UnixSocketAddress {
 public:
  static Result<UnixSocketAddress> make(const std::string& path);
  UnixSocketAddress(UnixSocketAddress&& other) noexcept;
  UnixSocketAddress& operator=(UnixSocketAddress&&) = delete;
  UnixSocketAddress(const UnixSocketAddress&) = delete;
  ~UnixSocketAddress();

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t size() const { return sizeof addr_; }

 private:
  UnixSocketAddress() = default;
  sockaddr_un addr_{};
  int dir_fd_ = -1;
};

}  // namespace util
