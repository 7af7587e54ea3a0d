// The Asio driver of a node (node::Cluster) against its threading promises:
// callers on other threads never share memory with the Raft thread after they
// return, every pending request ends, and bad peer input never ends the process.
#include "node/cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "node/replica.h"
#include "raft/mem_file_system.h"
#include "raft/transport.h"
#include "util/file.h"

namespace node {
namespace {

using namespace std::chrono_literals;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  (void)::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

store::Change add_change(uint64_t client, uint64_t seq, const std::string& owner) {
  store::Change c;
  c.client_id = client;
  c.sequence = seq;
  store::Op op;
  op.kind = store::OpKind::Add;
  op.rr.owner = dns::Name::from_text(owner).value();
  op.rr.type = dns::rrtype::A;
  op.rr.ttl = 300;
  op.rr.rdata = dns::rdata_from_text(dns::rrtype::A, "192.0.2.1", dns::Name()).value();
  c.ops.push_back(op);
  return c;
}

class ClusterTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cluster-test-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// A node alone in its cluster: it elects itself at once.
  ClusterOptions single() {
    ClusterOptions o;
    o.self = 0;
    o.members[0] = {loopback(free_port()), loopback(free_port())};
    o.insecure_peers = true;
    o.data_dir = dir_;
    o.fsync = false;
    o.tick_ms = 20;
    o.propose_timeout_ms = 500;
    return o;
  }

  /// Node 0 of three whose peers never answer: it never learns a leader.
  /// The cluster's first members are already recorded, as after a first start.
  ClusterOptions one_of_three() {
    ClusterOptions o = single();
    o.members[1] = {loopback(free_port()), loopback(free_port())};
    o.members[2] = {loopback(free_port()), loopback(free_port())};
    EXPECT_TRUE(util::write_file_atomically(dir_ + "/cluster-bootstrap.json", R"({"voters":[1,2,3]})"));
    return o;
  }

  std::unique_ptr<Cluster> open_and_start(ClusterOptions o) {
    auto c = Cluster::open(std::move(o), store_);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    if (!c) return nullptr;
    auto started = (*c)->start();
    EXPECT_TRUE(started) << (started ? "" : started.error().message);
    return std::move(c.value());
  }

  static void wait_for_role(Cluster& c, const std::string& role) {
    for (int i = 0; i < 500 && c.status().value("role", "") != role; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(c.status().value("role", ""), role);
  }

  std::string dir_;
  store::Store store_;
};

/// Runs `fn` on a thread whose stack is `stack`, and waits for it.
void run_on_stack(std::vector<char>& stack, std::function<void()> fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, stack.data(), stack.size());
  pthread_t t;
  auto* heap_fn = new std::function<void()>(std::move(fn));
  ASSERT_EQ(pthread_create(
                &t, &attr,
                [](void* p) -> void* {
                  auto* f = static_cast<std::function<void()>*>(p);
                  (*f)();
                  delete f;
                  return nullptr;
                },
                heap_fn),
            0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
}

// Bug: status() and members() handed the Raft thread a reference to a promise
// on the caller's stack; when the Raft thread was busy past the wait, the
// caller returned and the late answer was written into its dead frame.
TEST_F(ClusterTest, StatusAndMembersAnsweredLateWriteNothingIntoTheCallersFrame) {
  auto cluster = open_and_start(single());
  ASSERT_TRUE(cluster);
  wait_for_role(*cluster, "leader");

  // Keep the Raft thread busy: the callback of a change runs on it.
  std::promise<void> busy, release;
  auto release_future = release.get_future().share();
  cluster->submit(add_change(7, 1, "busy.example."), [&](SubmitResult) {
    busy.set_value();
    release_future.wait();
  });
  ASSERT_EQ(busy.get_future().wait_for(10s), std::future_status::ready);

  // Ask from a thread whose stack is scribbled over once it has returned, so
  // that a late write into its frame cannot go unnoticed.
  std::vector<char> stack(1 << 20);
  nlohmann::json status, members;
  run_on_stack(stack, [&] {
    status = cluster->status();
    members = cluster->members();
  });
  EXPECT_TRUE(status.contains("error")) << status.dump();
  EXPECT_TRUE(members.contains("error")) << members.dump();
#ifndef __SANITIZE_ADDRESS__
  // (Under AddressSanitizer, which keeps its own records of that stack, it
  // is left alone.)
  std::memset(stack.data(), 0xA5, stack.size());
#endif

  release.set_value();
  // The Raft thread now runs the two late requests; it must survive them.
  nlohmann::json after = cluster->status();
  EXPECT_EQ(after.value("role", ""), "leader") << after.dump();
  EXPECT_TRUE(cluster->members().contains("0"));
  cluster->stop();
}

// Bug: after a storage failure a pending consistent read waited until
// shutdown: the failure failed pending changes but not reads, and stopped the
// tick that enforces deadlines.
TEST_F(ClusterTest, PendingReadEndsWhenStorageFails) {
  raft::MemFileSystem fs;
  ClusterOptions o = single();
  o.fs = &fs;
  o.fsync = true;  // on the in-memory disk, whose syncs are about to fail
  auto cluster = open_and_start(o);
  ASSERT_TRUE(cluster);
  wait_for_role(*cluster, "leader");
  ASSERT_TRUE(submit_and_wait(*cluster, add_change(7, 1, "first.example.")));

  fs.fail_all_syncs(true);
  std::promise<SubmitResult> change;
  std::promise<util::Result<void>> read;
  // Both reach the Raft thread before its next batch, so the read waits on
  // the batch whose fsync fails.
  cluster->submit(add_change(7, 2, "second.example."), [&](SubmitResult r) { change.set_value(std::move(r)); });
  cluster->read_barrier([&](util::Result<void> r) { read.set_value(std::move(r)); });

  auto change_future = change.get_future();
  ASSERT_EQ(change_future.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(change_future.get());
  auto read_future = read.get_future();
  ASSERT_EQ(read_future.wait_for(10s), std::future_status::ready) << "the read still waits after the storage failure";
  EXPECT_FALSE(read_future.get());
  EXPECT_TRUE(cluster->status().value("storage_failed", false));
  // Later reads are refused at once.
  std::promise<util::Result<void>> later;
  cluster->read_barrier([&](util::Result<void> r) { later.set_value(std::move(r)); });
  auto later_future = later.get_future();
  ASSERT_EQ(later_future.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(later_future.get());
  cluster->stop();
}

// Bug: a malformed join answer (a field of the wrong type, a member id that
// is not a number) threw on the Raft thread and ended the process.
TEST_F(ClusterTest, MalformedJoinAnswersAreIgnoredAndAGoodOneIsTaken) {
  // A member played by a bare transport, answering every join request with
  // the next answer of the list.
  const uint16_t member_port = free_port();
  const uint16_t joiner_port = free_port();
  std::vector<std::string> answers = {
      R"({"voters":"1","members":{}})",
      R"({"voters":[1],"members":{"zero":{}}})",
      R"({"voters":[1],"members":{"0":{"query_loc":5}}})",
      R"({"voters":[1],"members":{"99999999999999":{}}})",
      R"({"voters":[1,"x"],"members":{}})",
      R"({"voters":[1],"members":{"0":{"query_loc":"127.0.0.1:1","raft_loc":")" + loopback(member_port) +
          R"("},"3":{"query_loc":"127.0.0.1:2","raft_loc":")" + loopback(joiner_port) + R"("}},"term":7})",
  };
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  raft::Transport::Options to;
  to.insecure = true;
  to.node_label = [](raft::NodeId id) { return std::to_string(config_id(id)); };  // as the node names its peers
  raft::Transport member(io, 1, loopback(member_port), {{4, loopback(joiner_port)}}, "", to);
  std::atomic<size_t> answered{0};
  member.on_message([&](raft::Message m) {
    if (m.type != raft::MessageType::JoinRequest || answered >= answers.size()) return;
    raft::Message reply;
    reply.type = raft::MessageType::JoinResponse;
    reply.from = 1;
    reply.to = m.from;
    reply.data = answers[answered++];
    member.send(std::move(reply));
  });
  ASSERT_TRUE(member.start());
  std::thread io_thread([&] { io.run(); });

  ClusterOptions o;
  o.self = 3;
  o.members[3] = {"127.0.0.1:2", loopback(joiner_port)};
  o.join = loopback(member_port);
  o.insecure_peers = true;
  o.data_dir = dir_;
  o.fsync = false;
  o.tick_ms = 10;
  o.election_ticks = 2;  // a join request every other tick
  auto joiner = open_and_start(o);
  ASSERT_TRUE(joiner);
  for (int i = 0; i < 1000 && joiner->status().value("role", "") == "joining"; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(answered.load(), answers.size());
  EXPECT_NE(joiner->status().value("role", ""), "joining") << "the good answer was not taken";
  joiner->stop();

  boost::asio::post(io, [&] {
    member.stop();
    work.reset();
  });
  io_thread.join();
}

// Bug: once shutdown had begun, status() computed the answer on the caller's
// thread while the Raft thread was still stopping the transport.
TEST_F(ClusterTest, StatusDuringShutdownNeverRunsBesideTheRaftThread) {
  ClusterOptions o = one_of_three();
  o.propose_timeout_ms = 60000;
  auto cluster = open_and_start(o);
  ASSERT_TRUE(cluster);

  // A change that waits for a leader; shutdown fails it, on the Raft thread,
  // whose callback then holds that thread inside the shutdown.
  std::promise<void> in_shutdown, release;
  auto release_future = release.get_future().share();
  cluster->submit(add_change(7, 1, "pending.example."), [&](SubmitResult) {
    in_shutdown.set_value();
    release_future.wait();
  });
  std::thread stopper([&] { cluster->stop(); });
  ASSERT_EQ(in_shutdown.get_future().wait_for(10s), std::future_status::ready);

  auto status = std::async(std::launch::async, [&] { return cluster->status(); });
  if (status.wait_for(300ms) == std::future_status::ready) {
    nlohmann::json s = status.get();
    EXPECT_FALSE(s.contains("role")) << "status computed off the Raft thread while it was stopping: " << s.dump();
  }
  release.set_value();
  stopper.join();
  if (status.valid()) status.get();
  // Once stopped, the node still reports its last state.
  EXPECT_EQ(cluster->status().value("node", ""), "0");
  EXPECT_TRUE(cluster->status().contains("role"));
}

}  // namespace
}  // namespace node
