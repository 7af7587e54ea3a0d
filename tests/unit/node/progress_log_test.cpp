// Long work shows progress: the ticker logs while the work runs and stops
// when it ends; rates are counts over seconds.
#include "node/progress_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace node {
namespace {

/// Keeps every message logged, for the test to read while the ticker runs.
class KeepingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return kept_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { kept_.emplace_back(msg.payload.begin(), msg.payload.end()); }
  void flush_() override {}

 private:
  std::vector<std::string> kept_;
};

TEST(ProgressLog, TickerLogsWhileTheWorkRunsAndNotAfter) {
  auto sink = std::make_shared<KeepingSink>();
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  size_t during = 0;
  {
    ProgressTicker ticker("loading big.zone", std::chrono::milliseconds(10));
    // However slowly the machine runs the ticker's thread, it ticks again and again.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sink->messages().size() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    during = sink->messages().size();
  }
  const size_t at_end = sink->messages().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<std::string> all = sink->messages();
  spdlog::set_default_logger(previous);
  ASSERT_GE(during, 3u);
  EXPECT_EQ(all.front().rfind("loading big.zone: still working (", 0), 0u) << all.front();
  EXPECT_EQ(all.size(), at_end);  // nothing once it is gone
}

TEST(ProgressLog, RateIsCountOverSeconds) {
  EXPECT_EQ(rate_text(1000000, 2.0, "records"), "500000 records/s");
  EXPECT_EQ(rate_text(5, 0.0, "records"), "5000 records/s");  // no division by zero
}

}  // namespace
}  // namespace node
