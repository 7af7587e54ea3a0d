// The config's "rrl" object: read into Config::rrl, errors name file and field.
#include <gtest/gtest.h>

#include "node/config.h"

namespace node {
namespace {

const char* kNodes = R"("nodes": {"0": {"query_loc": "127.0.0.1:20053", "raft_loc": "127.0.0.1:20054"}})";

TEST(RrlConfig, OnWithTheDefaultsWhenAbsent) {
  auto cfg = parse_config(std::string("{") + kNodes + "}", "c.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_TRUE(cfg->rrl.enabled());
  EXPECT_EQ(cfg->rrl.responses_per_second, 100u);
  EXPECT_EQ(cfg->rrl.slip, 2u);
  EXPECT_TRUE(cfg->rrl.exempt_clients.empty());
}

TEST(RrlConfig, ZeroTurnsItOff) {
  auto cfg = parse_config(std::string("{") + kNodes + R"(, "rrl": {"responses_per_second": 0}})", "c.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_FALSE(cfg->rrl.enabled());
}

TEST(RrlConfig, ReadsTheSettings) {
  auto cfg = parse_config(std::string("{") + kNodes + R"(, "rrl": {"responses_per_second": 5, "slip": 3, "window": 7}})",
                          "c.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->rrl.responses_per_second, 5u);
  EXPECT_EQ(cfg->rrl.slip, 3u);
  EXPECT_EQ(cfg->rrl.window, 7u);
  EXPECT_TRUE(cfg->warnings.empty());
}

TEST(RrlConfig, BadValueNamesFileAndField) {
  auto cfg = parse_config(std::string("{") + kNodes + R"(, "rrl": {"responses_per_second": "lots"}})", "c.json");
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message.rfind("c.json: rrl.responses_per_second: must be a whole number", 0), 0u)
      << cfg.error().message;
}

}  // namespace
}  // namespace node
