// The control socket: accepts local connections and runs the stdin command
// loop on each, one client session per connection.
#include "node/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/unix_socket.h"

namespace node {
namespace {

/// A reply the client does not read for this long is dropped (the
/// connection's thread must not hang on a stuck client).
constexpr int kSendTimeoutSeconds = 30;

std::string errno_text(int err) { return std::strerror(err); }

/// Whether a process accepts connections on the socket at `addr` right now.
bool someone_listens(const util::UnixSocketAddress& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = ::connect(fd, addr.get(), addr.size()) == 0;
  ::close(fd);
  return live;
}

void write_all(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

ControlSocket::ControlSocket(ControlSocketOptions options, SessionFactory make_session)
    : options_(std::move(options)), make_session_(std::move(make_session)) {}

ControlSocket::~ControlSocket() { stop(); }

util::Result<void> ControlSocket::bind() {
  auto addr = util::UnixSocketAddress::make(options_.path);
  if (!addr) return util::make_error("control socket: " + addr.error().message);
  struct stat st{};
  if (::lstat(options_.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return util::make_error("control socket path '" + options_.path + "' exists and is not a socket");
    }
    if (someone_listens(*addr)) {
      return util::make_error("control socket '" + options_.path +
                              "' is in use: another dns-node runs with this data directory");
    }
    ::unlink(options_.path.c_str());  // left by a node that is gone
  }
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) return util::make_error("cannot create a pipe: " + errno_text(errno));
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return util::make_error("cannot create the control socket: " + errno_text(errno));
  // Created without any permission for others, then opened to the group:
  // no moment exists in which a wider mode applies.
  mode_t old_umask = ::umask(0177);
  int rc = ::bind(listen_fd_, addr->get(), addr->size());
  int bind_errno = errno;
  ::umask(old_umask);
  if (rc != 0) {
    return util::make_error("cannot bind the control socket '" + options_.path + "': " + errno_text(bind_errno));
  }
  if (::chmod(options_.path.c_str(), options_.mode) != 0) {
    return util::make_error("cannot set the mode of '" + options_.path + "': " + errno_text(errno));
  }
  if (::listen(listen_fd_, 16) != 0) {
    return util::make_error("cannot listen on the control socket '" + options_.path + "': " + errno_text(errno));
  }
  return {};
}

void ControlSocket::start() {
  if (listen_fd_ < 0 || started_) return;
  started_ = true;
  accept_thread_ = std::thread([this] { accept_loop(); });
  spdlog::info("control socket: {} (dns-nodectl -s {})", options_.path, options_.path);
}

void ControlSocket::stop() {
  if (stop_pipe_[1] >= 0) (void)!::write(stop_pipe_[1], "x", 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns.swap(connections_);
  }
  for (auto& c : conns) {
    // Wakes a thread blocked in a write to a client that stopped reading.
    ::shutdown(c->fd, SHUT_RDWR);
    if (c->thread.joinable()) c->thread.join();
    ::close(c->fd);
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(options_.path.c_str());
  }
  for (int& fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

size_t ControlSocket::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& c : connections_) n += c->done ? 0 : 1;
  return n;
}

void ControlSocket::reap_finished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();
      ::close((*it)->fd);
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void ControlSocket::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0 || fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      spdlog::warn("control socket: accept failed: {}", errno_text(errno));
      // Out of descriptors, say: do not spin while it lasts.
      pollfd stop = {stop_pipe_[0], POLLIN, 0};
      if (::poll(&stop, 1, 100) > 0) return;
      continue;
    }
    timeval send_timeout{kSendTimeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    std::lock_guard<std::mutex> lock(mu_);
    reap_finished();
    if (connections_.size() >= options_.max_connections) {
      spdlog::warn("control socket: refusing a connection: {} are open already", connections_.size());
      write_all(fd, "BUSY too many control connections (at most " + std::to_string(options_.max_connections) +
                        "); try again later\n");
      ::close(fd);
      continue;
    }
    auto conn = std::make_unique<Connection>();
    conn->fd = fd;
    Connection& c = *conn;
    connections_.push_back(std::move(conn));
    c.thread = std::thread([this, &c] { serve(c); });
  }
}

void ControlSocket::serve(Connection& conn) {
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(conn.fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0) {
    spdlog::debug("control socket: connection from pid {} uid {}", peer.pid, peer.uid);
  }
  std::unique_ptr<StdinCommands> session = make_session_();
  session->run(conn.fd, conn.fd, stop_pipe_[0]);
  ::shutdown(conn.fd, SHUT_RDWR);  // the client sees end of file at once
  conn.done = true;
}

}  // namespace node
