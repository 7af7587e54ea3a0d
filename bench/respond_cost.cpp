// respond_cost: answers a fixed list of queries from zone files many times
// over with server::respond(), for instruction counts under callgrind (a
// measure of the query path that the machine's load does not disturb).
//   valgrind --tool=callgrind --toggle-collect='server::respond*' \
//     build/bench/respond_cost ZONEFILE... -- QNAME/QTYPE[/do]... [-n ROUNDS]
// Ir of respond() divided by (rounds x queries) is the cost per query.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dns/message.h"
#include "server/responder.h"
#include "zone/zone_file.h"
#include "zone/zone_set.h"

int main(int argc, char** argv) {
  std::vector<std::string> files, queries;
  long rounds = 1000;
  bool after_files = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      after_files = true;
    } else if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      rounds = std::atol(argv[++i]);
    } else {
      (after_files ? queries : files).push_back(argv[i]);
    }
  }
  if (files.empty() || queries.empty()) {
    std::fprintf(stderr, "usage: respond_cost ZONEFILE... -- QNAME/QTYPE[/do]... [-n ROUNDS]\n");
    return 2;
  }
  std::vector<dns::RR> records;
  for (const std::string& f : files) {
    auto r = zone::read_zone_file(f);
    records.insert(records.end(), r.records.begin(), r.records.end());
  }
  zone::ZoneSet zones;
  for (const dns::RR& rr : records) {
    if (rr.type == dns::rrtype::SOA) (void)zones.add(rr);
  }
  for (const dns::RR& rr : records) {
    if (rr.type != dns::rrtype::SOA) (void)zones.add(rr);
  }
  // Each query as a packet: header, question, and an OPT (DO set for "/do").
  std::vector<std::vector<uint8_t>> packets;
  for (const std::string& q : queries) {
    const size_t slash = q.find('/');
    const std::string name = q.substr(0, slash);
    std::string rest = slash == std::string::npos ? "A" : q.substr(slash + 1);
    const bool do_bit = rest.size() > 3 && rest.substr(rest.size() - 3) == "/do";
    if (do_bit) rest.resize(rest.size() - 3);
    auto qname = dns::Name::from_text(name);
    auto qtype = dns::type_from_text(rest);
    if (!qname || !qtype) {
      std::fprintf(stderr, "respond_cost: bad query '%s'\n", q.c_str());
      return 2;
    }
    std::vector<uint8_t> buf(512);
    dns::MessageWriter w(buf.data(), buf.size());
    dns::Header h;
    h.id = 1;
    w.set_header(h);
    w.reserve(11);
    (void)w.add_question(*qname, *qtype, dns::rrclass::IN);
    (void)w.add_opt(1232, 0, 0, do_bit ? dns::kEdnsDo : 0);
    buf.resize(w.finish());
    packets.push_back(std::move(buf));
  }
  std::vector<uint8_t> out(65535);
  size_t total = 0;
  for (long r = 0; r < rounds; ++r) {
    for (const auto& p : packets) total += server::respond(zones, p.data(), p.size(), out.data(), out.size(), false);
  }
  std::printf("%ld rounds of %zu queries, %zu response octets\n", rounds, packets.size(), total);
  return 0;
}
