// The HTTP API's view of a key's update policy: the grants of RFC 2136
// UPDATE keys, checked per (name, type), and credentials built from keys.
#include "server/http_policy.h"

#include <gtest/gtest.h>

namespace server {
namespace {

dns::Name name(const char* t) { return *dns::Name::from_text(t); }

UpdateKey key(bool restricted, std::vector<UpdateGrant> grants) {
  UpdateKey k;
  k.key = *dns::tsig::make_key("host.example.com.", "hmac-sha256", "c2VjcmV0LWtleS1ieXRlcw==");
  k.restricted = restricted;
  k.grants = std::move(grants);
  return k;
}

TEST(HttpPolicy, UnrestrictedKeyMayChangeAnything) {
  EXPECT_TRUE(update_key_allows(key(false, {}), name("www.example.com."), dns::rrtype::TXT));
}

TEST(HttpPolicy, SubdomainGrantCoversTheNameAndBelowForItsTypesOnly) {
  UpdateKey k = key(true, {{UpdateGrant::Match::Subdomain, name("dyn.example.com."), {dns::rrtype::A}}});
  EXPECT_TRUE(update_key_allows(k, name("dyn.example.com."), dns::rrtype::A));
  EXPECT_TRUE(update_key_allows(k, name("pc.DYN.example.com."), dns::rrtype::A));
  EXPECT_FALSE(update_key_allows(k, name("pc.dyn.example.com."), dns::rrtype::AAAA));
  EXPECT_FALSE(update_key_allows(k, name("www.example.com."), dns::rrtype::A));
}

TEST(HttpPolicy, NameAndSelfGrantsMatchExactly) {
  UpdateKey k = key(true, {{UpdateGrant::Match::Name, name("a.example.com."), {}},
                           {UpdateGrant::Match::Self, dns::Name(), {dns::rrtype::A, dns::rrtype::AAAA}}});
  EXPECT_TRUE(update_key_allows(k, name("a.example.com."), dns::rrtype::MX));
  EXPECT_FALSE(update_key_allows(k, name("b.a.example.com."), dns::rrtype::A));
  EXPECT_TRUE(update_key_allows(k, name("host.example.com."), dns::rrtype::AAAA));
  EXPECT_FALSE(update_key_allows(k, name("host.example.com."), dns::rrtype::TXT));
}

TEST(HttpPolicy, CredentialsUseTheKeyNameAndBase64SecretAndThePolicy) {
  std::vector<HttpCredential> creds =
      http_credentials({key(true, {{UpdateGrant::Match::Self, dns::Name(), {dns::rrtype::A}}})},
                       {{"host.example.com.", HttpRole::Update}});
  ASSERT_EQ(creds.size(), 1u);
  const HttpCredential* c = authenticate(creds, "host.example.com", "c2VjcmV0LWtleS1ieXRlcw==");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(authenticate(creds, "host.example.com", "c2VjcmV0LWtleS1ieXRlcx=="), nullptr);
  EXPECT_TRUE(c->may_update(name("example.com."), name("host.example.com."), dns::rrtype::A));
  EXPECT_FALSE(c->may_update(name("example.com."), name("other.example.com."), dns::rrtype::A));
  EXPECT_EQ(c->role, HttpRole::Update);
}

TEST(HttpPolicy, AKeyWithoutARoleGetsNone) {
  std::vector<HttpCredential> creds = http_credentials({key(false, {})}, {{"other-key.", HttpRole::Admin}});
  ASSERT_EQ(creds.size(), 1u);
  EXPECT_EQ(creds[0].role, HttpRole::None);
}

}  // namespace
}  // namespace server
