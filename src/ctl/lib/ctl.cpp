// dns-nodectl: the control-socket connection and the shaping of replies.
#include "ctl/ctl.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "util/unix_socket.h"

namespace ctl {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::string default_socket_path(const std::string& node_id) {
  return "/var/lib/dns-node/" + node_id + "/control.sock";
}

Reply parse_reply(std::string_view line) {
  if (line == "OK") return {true, false, ""};
  if (line.substr(0, 3) == "OK ") return {true, false, std::string(line.substr(3))};
  if (line.substr(0, 7) == "ERROR: ") return {false, false, std::string(line.substr(7))};
  if (line.substr(0, 5) == "BUSY ") return {false, true, std::string(line.substr(5))};
  return {false, false, "unexpected reply from the node: " + std::string(line)};
}

std::string text_output(Request request, const Reply& reply) {
  if (!reply.ok) return "ERROR: " + reply.text + "\n";
  auto parsed = nlohmann::json::parse(reply.text, nullptr, /*allow_exceptions=*/false);
  switch (request) {
    case Request::Zones: {
      if (!parsed.is_array()) break;
      std::ostringstream out;
      out << "ZONE SERIAL RECORDS\n";
      for (const auto& z : parsed) {
        out << z.value("zone", "") << ' ' << z.value("serial", 0u) << ' ' << z.value("records", size_t{0}) << '\n';
      }
      return out.str();
    }
    case Request::ZoneShow: {
      if (!parsed.is_object()) break;
      std::ostringstream out;
      out << "; zone " << parsed.value("zone", "") << " serial " << parsed.value("serial", 0u) << ", "
          << parsed.value("records", size_t{0}) << " records\n";
      for (const auto& set : parsed.value("rrsets", nlohmann::json::array())) {
        for (const auto& data : set.value("data", nlohmann::json::array())) {
          out << set.value("name", "") << ' ' << set.value("ttl", 0u) << " IN " << set.value("type", "") << ' '
              << data.get<std::string>() << '\n';
        }
      }
      return out.str();
    }
    case Request::ZoneExport:
      if (parsed.is_string()) return parsed.get<std::string>();
      break;
    default:
      break;
  }
  return reply.text.empty() ? "OK\n" : "OK " + reply.text + "\n";
}

nlohmann::json json_output(Request request, const Reply& reply) {
  if (!reply.ok) return {{"ok", false}, {"error", reply.text}};
  auto parsed = nlohmann::json::parse(reply.text, nullptr, /*allow_exceptions=*/false);
  switch (request) {
    case Request::Status:
    case Request::Members:
    case Request::Zones:
    case Request::ZoneShow:
      if (!parsed.is_discarded()) return parsed;
      break;
    case Request::ZoneExport:
      if (parsed.is_string()) return {{"ok", true}, {"text", parsed}};
      break;
    case Request::Digest: {
      // "sha256-hex applied-index record-count"
      std::istringstream in(reply.text);
      std::string digest;
      uint64_t index = 0, records = 0;
      if (in >> digest >> index >> records) return {{"digest", digest}, {"applied_index", index}, {"records", records}};
      break;
    }
    default:
      break;
  }
  return {{"ok", true}, {"message", reply.text}};
}

util::Result<Connection> Connection::open(const std::string& path) {
  auto addr = util::UnixSocketAddress::make(path);
  if (!addr) return util::make_error("cannot connect to " + path + ": " + addr.error().message);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return util::make_error("cannot create a socket: " + errno_text(errno));
  if (::connect(fd, addr->get(), addr->size()) != 0) {
    int err = errno;
    ::close(fd);
    std::string msg = "cannot connect to " + path + ": " + errno_text(err);
    if (err == ENOENT || err == ECONNREFUSED) {
      msg += " (is the node running? name its socket with -s or its data directory with -d)";
    } else if (err == EACCES || err == EPERM) {
      msg += " (the socket is for the node's user and group: run as root or join the group)";
    }
    return util::make_error(msg);
  }
  return Connection(fd);
}

Connection::Connection(Connection&& other) noexcept : fd_(other.fd_), buffered_(std::move(other.buffered_)) {
  other.fd_ = -1;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

util::Result<void> Connection::send(std::string_view bytes, const std::function<void(size_t)>& sent) {
  size_t off = 0;
  while (off < bytes.size()) {
    // MSG_NOSIGNAL: a node that went away is an error here, not SIGPIPE.
    ssize_t n = ::send(fd_, bytes.data() + off, std::min<size_t>(bytes.size() - off, 1 << 20), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return util::make_error("the node closed the connection: " + errno_text(errno));
    off += static_cast<size_t>(n);
    if (sent) sent(off);
  }
  return {};
}

util::Result<std::string> Connection::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    if (size_t nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    int wait_ms = -1;
    if (timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return util::make_error("no reply from the node within " + std::to_string(timeout.count() / 1000) +
                                " s (a change may still be applied; --timeout waits longer)");
      }
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return util::make_error("poll: " + errno_text(errno));
    if (rc == 0) continue;
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return util::make_error("reading the reply: " + errno_text(errno));
    if (n == 0) return util::make_error("the node closed the connection before replying");
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace ctl
