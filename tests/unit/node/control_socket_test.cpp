// The control socket: each connection a client session of its own, the
// stdin replies on the socket, the connection bound, the socket's mode, and
// a stale socket replaced while a live one is refused.
#include "node/control_socket.h"
#include "util/unix_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace node {
namespace {

/// Records every change and applies nothing.
class RecordingSubmitter : public ChangeSubmitter {
 public:
  void submit(store::Change change, std::function<void(SubmitResult)> done) override {
    {
      std::lock_guard<std::mutex> lock(mu);
      changes.push_back(change);
    }
    store::ApplyResult r;
    r.op_errors.assign(change.ops.size(), "");
    done(r);
  }
  std::mutex mu;
  std::vector<store::Change> changes;
};

/// A connected client that sends lines and reads reply lines.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  std::string ask(const std::string& line) {
    std::string out = line + "\n";
    EXPECT_EQ(::write(fd_, out.data(), out.size()), static_cast<ssize_t>(out.size()));
    return read_line();
  }
  std::string read_line() {
    std::string line;
    char c;
    while (::read(fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ctl-sock-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "control.sock").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  ControlSocket make(size_t max_connections = 16) {
    return ControlSocket(ControlSocketOptions{path_, max_connections},
                         [this] { return std::make_unique<StdinCommands>(sub_, store_, 7, [] {
                                    return nlohmann::json{{"role", "leader"}};
                                  }); });
  }
  std::filesystem::path dir_;
  std::string path_;
  RecordingSubmitter sub_;
  store::Store store_;
};

TEST_F(ControlSocketTest, EachConnectionIsAClientSessionOfItsOwn) {
  ControlSocket sock = make();
  ASSERT_TRUE(sock.bind().ok());
  sock.start();
  Client a(path_), b(path_);
  ASSERT_TRUE(a.connected() && b.connected());
  EXPECT_EQ(a.ask("ADD: x.example.com A 192.0.2.1"), "OK added x.example.com. 3600 IN A 192.0.2.1");
  EXPECT_EQ(b.ask("ADD: y.example.com A 192.0.2.2"), "OK added y.example.com. 3600 IN A 192.0.2.2");
  EXPECT_EQ(a.ask("ADD: z.example.com A 192.0.2.3"), "OK added z.example.com. 3600 IN A 192.0.2.3");
  EXPECT_EQ(b.ask("STATUS"), "OK {\"role\":\"leader\"}");
  EXPECT_EQ(a.ask("FROB"), "ERROR: line 3: unknown command 'FROB' (try HELP)");  // lines counted per connection
  ASSERT_EQ(sub_.changes.size(), 3u);
  EXPECT_EQ(sub_.changes[0].origin, 7u);
  EXPECT_EQ(sub_.changes[0].client_id, sub_.changes[2].client_id);
  EXPECT_NE(sub_.changes[0].client_id, sub_.changes[1].client_id);
  EXPECT_LT(sub_.changes[0].sequence, sub_.changes[2].sequence);
  sock.stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ControlSocketTest, OneConnectionTooManyIsToldBusyAndClosed) {
  ControlSocket sock = make(2);
  ASSERT_TRUE(sock.bind().ok());
  sock.start();
  Client a(path_), b(path_);
  ASSERT_EQ(a.ask("STATUS").rfind("OK", 0), 0u);
  ASSERT_EQ(b.ask("STATUS").rfind("OK", 0), 0u);
  Client c(path_);
  EXPECT_EQ(c.read_line(), "BUSY too many control connections (at most 2); try again later");
  EXPECT_EQ(c.read_line(), "");  // closed
  EXPECT_EQ(sock.open_connections(), 2u);
}

TEST_F(ControlSocketTest, TheSocketIsForOwnerAndGroup) {
  ControlSocket sock = make();
  ASSERT_TRUE(sock.bind().ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ControlSocketTest, AStaleSocketIsReplacedALiveOneRefused) {
  {
    // A socket file nobody listens on, as a killed node leaves it.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  ControlSocket first = make();
  ASSERT_TRUE(first.bind().ok());
  first.start();
  ControlSocket second = make();
  auto bound = second.bind();
  ASSERT_FALSE(bound.ok());
  EXPECT_NE(bound.error().message.find("another dns-node runs with this data directory"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path_));  // the live node's socket stays
}

TEST_F(ControlSocketTest, ADataDirectoryDeeperThanASocketAddressHoldsStillWorks) {
  // sun_path holds 107 octets: the socket is reached through its directory.
  std::filesystem::path deep = dir_ / std::string(80, 'd') / std::string(80, 'e');
  std::filesystem::create_directories(deep);
  path_ = (deep / "control.sock").string();
  ASSERT_GT(path_.size(), 107u);
  ControlSocket sock = make();
  ASSERT_TRUE(sock.bind().ok());
  sock.start();
  EXPECT_TRUE(std::filesystem::exists(path_));
  auto addr = util::UnixSocketAddress::make(path_);
  ASSERT_TRUE(addr.ok());
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(fd, addr->get(), addr->size()), 0);
  ::close(fd);
  sock.stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace node
