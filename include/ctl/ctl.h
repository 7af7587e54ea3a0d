// dns-nodectl's pieces: the connection to a node's control socket, and how a
// reply line becomes output and an exit status (docs/dns-nodectl.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace ctl {

/// Exit statuses: the node said OK, the node said ERROR, or dns-nodectl could
/// not ask (bad usage, no node at the socket, the connection broke).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

/// Where a node's control socket is when only its id is known: the data
/// directory the packaged unit gives node `id` (StateDirectory=dns-node/%i).
std::string default_socket_path(const std::string& node_id);

/// What was asked, for the commands whose reply dns-nodectl reshapes.
enum class Request { Line, Status, Digest, Members, Zones, ZoneShow, ZoneExport, ZoneImport };

/// One reply line: "OK text" or "ERROR: text" (text without the prefix), or
/// "BUSY text" when the node has no room for another control connection.
struct Reply {
  bool ok = false;
  bool busy = false;  // not an answer to the command: it was never read
  std::string text;
};
/// Splits a reply line; anything else is an error reply naming the line.
Reply parse_reply(std::string_view line);

/// The output for a reply: the reply line as the node wrote it, except
/// ZONES, ZONE SHOW (tables) and ZONE EXPORT (the master file itself).
std::string text_output(Request request, const Reply& reply);
/// The output for --json: the reply's JSON where it carries some (STATUS,
/// MEMBERS, ZONES, ZONE SHOW), a structured DIGEST, {"ok": true, "message"}
/// for other OK replies, {"ok": false, "error"} for ERROR.
nlohmann::json json_output(Request request, const Reply& reply);

/// A connection to a control socket: one command line at a time.
class Connection {
 public:
  /// Connects; the error says what to do (start the node, fix the path,
  /// join its group).
  static util::Result<Connection> open(const std::string& path);
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&&) = delete;
  ~Connection();

  /// Sends `bytes` as they are. `sent` (if given) hears the octets sent so far.
  util::Result<void> send(std::string_view bytes, const std::function<void(size_t)>& sent = {});
  /// The next line from the node, without its newline; waits at most
  /// `timeout` (zero: no limit).
  util::Result<std::string> read_line(std::chrono::milliseconds timeout);

 private:
  explicit Connection(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffered_;
};

}  // namespace ctl
