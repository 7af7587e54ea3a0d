// The control socket: a Unix stream socket in the node's data directory on
// which dns-nodectl speaks the stdin commands (docs/dns-nodectl.md).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/stdin_commands.h"
#include "util/result.h"

namespace node {

/// The socket's file name inside the data directory.
inline constexpr const char* kControlSocketName = "control.sock";

/// Where the control socket lives and how many may use it at once.
struct ControlSocketOptions {
  std::string path;            // usually <data dir>/control.sock
  size_t max_connections = 16; // one more is told so and closed
  /// Owner and group may connect (as with knotc's socket): the node's user
  /// and whoever an operator puts in its group; others may not.
  mode_t mode = 0660;
};

/// Accepts connections on the control socket; each connection is a client
/// session of its own, served line by line by its own StdinCommands on its
/// own thread (the same parser, replies and line-length bound as stdin).
///
/// Threading: bind() and start() on the main thread, then one accept thread
/// and one thread per open connection; stop() ends them all and removes the
/// socket file. A connection waiting for a change to commit ends once the
/// change is answered (the cluster bounds that wait).
class ControlSocket {
 public:
  /// Makes the command handler of a new connection.
  using SessionFactory = std::function<std::unique_ptr<StdinCommands>()>;

  ControlSocket(ControlSocketOptions options, SessionFactory make_session);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  /// Creates the socket. A socket file left by a node that is gone is
  /// replaced; one on which a live node answers is an error. A path longer
  /// than a socket address holds is reached through its directory
  /// (util/unix_socket.h).
  util::Result<void> bind();
  void start();
  void stop();

  /// Connections open right now (for tests and the log).
  size_t open_connections() const;

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Connection& conn);
  void reap_finished();  // joins threads of connections that ended; caller holds mu_

  ControlSocketOptions options_;
  SessionFactory make_session_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
  bool started_ = false;
};

}  // namespace node
