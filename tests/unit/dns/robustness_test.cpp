// Seeded random inputs for the parsers: whatever the bytes, they return an
// error or a value and never read outside the buffer (checked under ASan).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "dns/message.h"

namespace dns {
namespace {

// A valid response to mutate, so that mutations reach the deeper code.
std::vector<uint8_t> seed_message() {
  std::vector<uint8_t> buf(1024);
  MessageWriter w(buf.data(), buf.size());
  Name origin = Name::from_text("example.com.").value();
  auto rd = [&](uint16_t t, const char* s) { return rdata_from_text(t, s, origin).value(); };
  w.reserve(11);
  EXPECT_TRUE(w.add_question(origin, rrtype::ANY, rrclass::IN));
  EXPECT_TRUE(w.add_rr(Section::Answer, origin, rrtype::SOA, 1, 60, rd(rrtype::SOA, "ns hm 1 2 3 4 5")));
  EXPECT_TRUE(w.add_rr(Section::Answer, origin, rrtype::MX, 1, 60, rd(rrtype::MX, "1 mx")));
  EXPECT_TRUE(w.add_rr(Section::Answer, origin, rrtype::SRV, 1, 60, rd(rrtype::SRV, "1 2 3 srv")));
  EXPECT_TRUE(w.add_rr(Section::Answer, origin, rrtype::TXT, 1, 60, rd(rrtype::TXT, "a bc def")));
  EXPECT_TRUE(w.add_rr(Section::Answer, origin, rrtype::CAA, 1, 60, rd(rrtype::CAA, "0 issue x")));
  EXPECT_TRUE(w.add_rr(Section::Authority, origin, rrtype::NS, 1, 60, rd(rrtype::NS, "ns")));
  EXPECT_TRUE(w.add_rr(Section::Additional, Name::from_text("ns.example.com.").value(), rrtype::A, 1, 60,
                       rd(rrtype::A, "192.0.2.1")));
  EXPECT_TRUE(w.add_opt(1232, 0, 0, 0));
  buf.resize(w.finish());
  return buf;
}

TEST(Robustness, MutatedMessagesNeverCrashTheParsers) {
  const std::vector<uint8_t> seed = seed_message();
  ASSERT_TRUE(parse_message(seed.data(), seed.size()).ok());
  std::mt19937 rng(12345);
  size_t parsed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> m = seed;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0: m[at] = static_cast<uint8_t>(rng()); break;
        case 1: m[at] = static_cast<uint8_t>(0xC0 | (rng() & 0x3F)); break;
        case 2: m.resize(at + 1); break;
        default: m.insert(m.begin() + static_cast<long>(at), static_cast<uint8_t>(rng())); break;
      }
    }
    // Exact-size heap copy so ASan catches any read past the end.
    auto* copy = new uint8_t[m.size()];
    std::copy(m.begin(), m.end(), copy);
    auto r = parse_message(copy, m.size());
    if (r.ok()) {
      ++parsed;
      // Whatever parsed must print without trouble.
      for (const auto& rr : r->answers) (void)rdata_to_text(rr.type, rr.rdata);
    }
    bool ok;
    (void)parse_query(copy, m.size(), &ok);
    delete[] copy;
  }
  EXPECT_GT(parsed, 0u);  // the mutations did not all fail early
}

TEST(Robustness, RandomRdataTextNeverCrashes) {
  std::mt19937 rng(777);
  const char alphabet[] = "0123456789abcdefABCDEF .\\\"#()-:;@*x\t";
  const uint16_t types[] = {rrtype::A, rrtype::AAAA, rrtype::NS, rrtype::MX, rrtype::SOA, rrtype::TXT,
                            rrtype::SRV, rrtype::CAA, rrtype::HINFO, 65280};
  Name origin = Name::from_text("example.com.").value();
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    size_t n = rng() % 40;
    if (rng() % 5 == 0) s = "\\# ";
    for (size_t i = 0; i < n; ++i) s.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
    uint16_t t = types[rng() % (sizeof types / sizeof types[0])];
    auto r = rdata_from_text(t, s, origin);
    if (r.ok()) {
      EXPECT_TRUE(rdata_validate(t, *r).ok()) << s;
      // Printing and parsing again gives the same rdata.
      auto again = rdata_from_text(t, rdata_to_text(t, *r), origin);
      ASSERT_TRUE(again.ok()) << s << " -> " << rdata_to_text(t, *r);
      EXPECT_EQ(*again, *r) << s;
    }
    (void)Name::from_text(s, &origin);
  }
}

}  // namespace
}  // namespace dns
