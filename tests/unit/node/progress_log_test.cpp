// Long work shows progress: the ticker logs while the work runs and stops
// when it ends; rates are counts over seconds.
#include "node/progress_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

namespace node {
namespace {

TEST(ProgressLog, TickerLogsWhileTheWorkRunsAndNotAfter) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
  {
    ProgressTicker ticker("loading big.zone", std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(110));
    EXPECT_GE(ticker.elapsed(), 0.1);
  }
  const std::string during = out.str();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  spdlog::set_default_logger(previous);
  EXPECT_NE(during.find("loading big.zone: still working ("), std::string::npos) << during;
  EXPECT_GE(std::count(during.begin(), during.end(), '\n'), 3);
  EXPECT_EQ(out.str(), during);  // nothing once it is gone
}

TEST(ProgressLog, RateIsCountOverSeconds) {
  EXPECT_EQ(rate_text(1000000, 2.0, "records"), "500000 records/s");
  EXPECT_EQ(rate_text(5, 0.0, "records"), "5000 records/s");  // no division by zero
}

}  // namespace
}  // namespace node
