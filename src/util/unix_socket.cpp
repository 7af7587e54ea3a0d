// Unix socket addresses, long paths reached through their directory.
#include "util/unix_socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace util {

Result<UnixSocketAddress> UnixSocketAddress::make(const std::string& path) {
  UnixSocketAddress a;
  a.addr_.sun_family = AF_UNIX;
  constexpr size_t kMax = sizeof a.addr_.sun_path - 1;
  if (path.empty()) return make_error("empty Unix socket path");
  if (path.size() <= kMax) {
    std::memcpy(a.addr_.sun_path, path.data(), path.size());
    return a;
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  a.dir_fd_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (a.dir_fd_ < 0) return make_error("cannot open the directory of " + path + ": " + std::strerror(errno));
  const std::string via = "/proc/self/fd/" + std::to_string(a.dir_fd_) + "/" + name;
  if (via.size() > kMax) {
    return make_error("Unix socket file name '" + name + "' is too long (" + std::to_string(name.size()) +
                      " octets)");
  }
  std::memcpy(a.addr_.sun_path, via.data(), via.size());
  return a;
}

UnixSocketAddress::UnixSocketAddress(UnixSocketAddress&& other) noexcept : addr_(other.addr_), dir_fd_(other.dir_fd_) {
  other.dir_fd_ = -1;
}

UnixSocketAddress::~UnixSocketAddress() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

}  // namespace util
