// The transfer settings of dns-config.json ("transfer", "zones", "catalog",
// "journal"): what they turn into, and one clear error per mistake.
#include <gtest/gtest.h>

#include <string>

#include "node/config.h"
#include "node/transfer_options.h"
#include "node/zone_settings.h"

namespace node {
namespace {

std::string with(const std::string& extra) {
  return R"({"nodes": {"0": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4321"}},
             "tsig_keys": [{"name": "xfr-key.", "secret": "MDEyMzQ1Njc4OWFiY2RlZg=="}])" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

std::string error_of(const std::string& extra) {
  auto r = parse_config(with(extra), "cfg.json");
  EXPECT_FALSE(r.ok()) << "accepted: " << extra;
  return r.ok() ? "" : r.error().message;
}

TEST(TransferConfig, TopLevelAndPerZoneSettingsMergeFieldByField) {
  auto r = parse_config(with(R"("transfer": {"allow": ["127.0.0.0/8"], "notify": ["127.0.0.1:5301"], "notify_key": "xfr-key"},
                               "zones": {"Example.COM": {"keys": ["xfr-key."], "also_notify": ["127.0.0.1:5302"],
                                                         "serial_policy": "unixtime"},
                                         "other.test.": {"notify": []}},
                               "catalog": "catalog.test", "journal": {"max_entries": 10, "max_bytes": 4096})"),
                        "cfg.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(r->catalog, "catalog.test.");
  EXPECT_EQ(r->journal.max_entries, 10u);
  auto xfr = make_xfr_options(*r);
  ASSERT_TRUE(xfr.ok());
  const server::TransferAcl& example = xfr->zone_acls.at(dns::Name::from_text("example.com.").value());
  ASSERT_TRUE(example.allow.has_value());  // from the top level
  ASSERT_TRUE(example.keys.has_value());   // its own
  EXPECT_EQ(example.keys->size(), 1u);
  EXPECT_FALSE(xfr->acl.keys.has_value());
  auto notify = make_notify_options(*r);
  ASSERT_TRUE(notify.ok()) << notify.error().message;
  const server::NotifyPolicy& p = notify->zone_policies.at(dns::Name::from_text("example.com.").value());
  ASSERT_EQ(p.targets.size(), 2u);  // the top-level list plus also_notify
  EXPECT_EQ(p.targets[1].port, 5302);
  ASSERT_TRUE(p.key.has_value());
  EXPECT_TRUE(notify->zone_policies.at(dns::Name::from_text("other.test.").value()).targets.empty());
  store::Settings s = settings_from_config(*r);
  EXPECT_EQ(s.serial_policies.at(dns::Name::from_text("example.com.").value()), store::SerialPolicy::UnixTime);
  EXPECT_EQ(s.catalog, dns::Name::from_text("catalog.test.").value());
}

TEST(TransferConfig, MistakesNameTheField) {
  EXPECT_NE(error_of(R"("transfer": {"allow": ["nonsense"]})").find("transfer.allow[0]: 'nonsense' is not an IP"),
            std::string::npos);
  EXPECT_NE(error_of(R"("transfer": {"keys": ["missing."]})").find("transfer.keys[0]: no key 'missing.' in tsig_keys"),
            std::string::npos);
  EXPECT_NE(error_of(R"("transfer": {"notify": ["127.0.0.1"]})").find("transfer.notify[0]: address '127.0.0.1' has no port"),
            std::string::npos);
  EXPECT_NE(error_of(R"("transfer": {"also_notify": []})").find("transfer.also_notify: only in a zone's entry"),
            std::string::npos);
  EXPECT_NE(error_of(R"("zones": {"example.com.": {"serial_policy": "random"}})")
                .find("zones.\"example.com.\".serial_policy: unknown policy 'random'"),
            std::string::npos);
  EXPECT_NE(error_of(R"("zones": {"a.test.": {}, "A.TEST": {}})").find("is listed twice"), std::string::npos);
  EXPECT_NE(error_of(R"("journal": {"max_entries": 0})").find("journal.max_entries: value 0 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of(R"("catalog": ".")").find("catalog: the root cannot be a catalog zone"), std::string::npos);
}

}  // namespace
}  // namespace node
