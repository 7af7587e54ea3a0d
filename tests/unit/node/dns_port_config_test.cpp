// The DNS port's settings in the config: "max_udp_payload" and the "tsig"
// algorithm policy, with errors that name the file and the field.
#include <gtest/gtest.h>

#include "node/config.h"
#include "node/update_options.h"

namespace node {
namespace {

const char* kNodes = R"("nodes": {"0": {"query_loc": "127.0.0.1:20053", "raft_loc": "127.0.0.1:20054"}})";
const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

util::Result<Config> parse(const std::string& rest) {
  return parse_config(std::string("{") + kNodes + rest + "}", "c.json");
}

TEST(DnsPortConfig, MaxUdpPayloadDefaultsTo1232) {
  auto cfg = parse("");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->max_udp_payload, 1232);
  auto set = parse(R"(, "max_udp_payload": 4096)");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->max_udp_payload, 4096);
  EXPECT_TRUE(set->warnings.empty());
}

TEST(DnsPortConfig, MaxUdpPayloadOutOfRangeNamesTheField) {
  for (const char* bad : {"511", "4097", "65535", "-1", "\"1232\"", "12.5"}) {
    auto cfg = parse(std::string(R"(, "max_udp_payload": )") + bad);
    ASSERT_FALSE(cfg.ok()) << bad;
    EXPECT_EQ(cfg.error().message.rfind("c.json: max_udp_payload: ", 0), 0u) << cfg.error().message;
  }
  auto low = parse(R"(, "max_udp_payload": 100)");
  EXPECT_NE(low.error().message.find("512-4096"), std::string::npos) << low.error().message;
}

TEST(DnsPortConfig, HmacMd5KeysServeQueriesAndUpdates) {
  auto cfg = parse(std::string(R"(, "tsig_keys": [{"name": "certbot.", "algorithm": "hmac-md5", "secret": ")") +
                   kSecret + R"("}])");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  auto keys = make_query_keys(*cfg);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].algorithm, dns::tsig::Algorithm::HmacMd5);
  std::vector<std::string> warnings;
  auto update = make_update_options(*cfg, &warnings);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->keys.size(), 1u);
  EXPECT_TRUE(warnings.empty());
}

TEST(DnsPortConfig, APolicyMayRefuseAnAlgorithmAndThenAKeyUsingItStopsTheNode) {
  const std::string md5_key =
      std::string(R"("tsig_keys": [{"name": "a.", "secret": ")") + kSecret +
      R"("}, {"name": "certbot.", "algorithm": "HMAC-MD5", "secret": ")" + kSecret + R"("}])";
  auto refused = parse(", " + md5_key + R"(, "tsig": {"refuse_algorithms": ["hmac-md5"]})");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message.rfind("c.json: tsig_keys[1].algorithm: key 'certbot.' uses hmac-md5", 0), 0u)
      << refused.error().message;
  auto fine = parse(std::string(R"(, "tsig_keys": [{"name": "a.", "secret": ")") + kSecret +
                    R"("}], "tsig": {"refuse_algorithms": ["hmac-md5.sig-alg.reg.int."]})");
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine->tsig_refuse_algorithms, std::vector<std::string>{"hmac-md5"});
  auto unknown = parse(R"(, "tsig": {"refuse_algorithms": ["hmac-sha3"]})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message.rfind("c.json: tsig.refuse_algorithms[0]: unknown algorithm", 0), 0u)
      << unknown.error().message;
  EXPECT_FALSE(parse(R"(, "tsig": {"refuse_algorithms": "hmac-md5"})").ok());
  EXPECT_FALSE(parse(R"(, "tsig": 1)").ok());
}

}  // namespace
}  // namespace node
