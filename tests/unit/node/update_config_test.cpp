// dns-config.json: TSIG key policies and the "update" section, and their
// translation into the UPDATE handler's options.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <string>

#include "node/config.h"
#include "node/update_options.h"

namespace node {
namespace {

const char* kSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

std::string with(const std::string& extra) {
  return std::string(R"({"nodes": {"0": {"query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"}}, )") + extra + "}";
}

std::string key_with_policy(const std::string& policy) {
  return with(R"("tsig_keys": [{"name": "k.", "secret": ")" + std::string(kSecret) + R"(", "policy": )" + policy + "}]");
}

std::string error_of(const std::string& text) {
  auto r = parse_config(text, "cfg.json");
  EXPECT_FALSE(r.ok()) << "accepted: " << text;
  return r.ok() ? "" : r.error().message;
}

TEST(UpdateConfig, PolicyRulesAreRead) {
  auto r = parse_config(key_with_policy(R"([{"grant": "subdomain", "name": "dyn.example.com", "types": ["a", "AAAA"]},
                                             {"grant": "name", "name": "host.example.com."},
                                             {"grant": "self", "types": ["ANY"]}])"),
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->tsig_keys[0].policy.has_value());
  const auto& rules = *r->tsig_keys[0].policy;
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].grant, "subdomain");
  EXPECT_EQ(rules[0].name, "dyn.example.com.");
  EXPECT_EQ(rules[0].types, (std::vector<std::string>{"A", "AAAA"}));
  EXPECT_EQ(rules[1].grant, "name");
  EXPECT_TRUE(rules[1].types.empty());
  EXPECT_EQ(rules[2].grant, "self");
  EXPECT_TRUE(rules[2].types.empty());  // ANY = every type
  EXPECT_TRUE(r->warnings.empty());
}

TEST(UpdateConfig, KeyWithoutPolicyIsUnrestricted) {
  auto r = parse_config(with(R"("tsig_keys": [{"name": "k.", "secret": ")" + std::string(kSecret) + R"("}])"), "c");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->tsig_keys[0].policy.has_value());
  auto options = make_update_options(*r, nullptr);
  ASSERT_TRUE(options) << options.error().message;
  ASSERT_EQ(options->keys.size(), 1u);
  EXPECT_FALSE(options->keys[0].restricted);
}

TEST(UpdateConfig, BadPoliciesNameTheField) {
  EXPECT_NE(error_of(key_with_policy(R"({"grant": "self"})")).find("tsig_keys[0].policy: must be a list"), std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"name": "a."}])")).find("tsig_keys[0].policy[0].grant: missing"), std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "zone", "name": "a."}])")).find("unknown grant 'zone'"), std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "subdomain"}])")).find("policy[0].name: missing"), std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "self", "name": "a."}])")).find("policy[0].name: not allowed"),
            std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "name", "name": "a..b"}])")).find("policy[0].name: 'a..b' is not a domain name"),
            std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "self", "types": ["A", "BOGUS"]}])")).find("policy[0].types[1]: unknown record type 'BOGUS'"),
            std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "self", "types": ["AXFR"]}])")).find("cannot be stored"), std::string::npos);
  EXPECT_NE(error_of(key_with_policy(R"([{"grant": "self", "types": "A"}])")).find("policy[0].types: must be a list"),
            std::string::npos);
}

TEST(UpdateConfig, AllowUnsignedFromIsValidated) {
  auto r = parse_config(with(R"("update": {"allow_unsigned_from": ["127.0.0.0/8", "::1", "10.1.2.3"]})"), "c");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->update.allow_unsigned_from.size(), 3u);
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_NE(error_of(with(R"("update": {"allow_unsigned_from": ["127.0.0.0/33"]})")).find("update.allow_unsigned_from[0]: '127.0.0.0/33'"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"("update": {"allow_unsigned_from": ["example.com"]})")).find("is not an IP address"),
            std::string::npos);
  EXPECT_NE(error_of(with(R"("update": {"allow_unsigned_from": "127.0.0.1"})")).find("must be a list"), std::string::npos);
  EXPECT_NE(error_of(with(R"("update": [])")).find("update: must be an object"), std::string::npos);
  auto w = parse_config(with(R"("update": {"allow_unsigned": true})"), "c");
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->warnings.size(), 1u);
  EXPECT_NE(w->warnings[0].find("update.allow_unsigned"), std::string::npos);
}

TEST(UpdateConfig, OptionsCarryGrantsAndNetworks) {
  auto r = parse_config(
      with(R"("tsig_keys": [{"name": "k.", "secret": ")" + std::string(kSecret) +
           R"(", "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A"]}]},
                           {"name": "old.", "algorithm": "hmac-md5", "secret": ")" + std::string(kSecret) + R"("}],
             "update": {"allow_unsigned_from": ["192.0.2.0/24"]})"),
      "c");
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::vector<std::string> warnings;
  auto options = make_update_options(*r, &warnings);
  ASSERT_TRUE(options) << options.error().message;
  ASSERT_EQ(options->keys.size(), 2u);  // hmac-md5 signs updates too (certbot's default)
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(options->keys[1].key.algorithm, dns::tsig::Algorithm::HmacMd5);
  EXPECT_FALSE(options->keys[1].restricted);
  const server::UpdateKey& k = options->keys[0];
  EXPECT_TRUE(k.restricted);
  ASSERT_EQ(k.grants.size(), 1u);
  EXPECT_EQ(k.grants[0].match, server::UpdateGrant::Match::Subdomain);
  EXPECT_EQ(k.grants[0].name.to_text(), "dyn.example.com.");
  EXPECT_EQ(k.grants[0].types, (std::vector<uint16_t>{dns::rrtype::A}));
  ASSERT_EQ(options->allow_unsigned_from.size(), 1u);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0xC0000207);  // 192.0.2.7
  EXPECT_TRUE(options->allow_unsigned_from[0].contains(reinterpret_cast<sockaddr*>(&in)));
  in.sin_addr.s_addr = htonl(0xC0000307);  // 192.0.3.7
  EXPECT_FALSE(options->allow_unsigned_from[0].contains(reinterpret_cast<sockaddr*>(&in)));
}

}  // namespace
}  // namespace node
