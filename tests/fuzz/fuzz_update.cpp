// Fuzz target: RFC 2136 UPDATE with TSIG (RFC 8945) through the real
// UpdateHandler, applied to a real store. The first input byte chooses how
// the rest reaches the handler, so that mutations get past the MAC check:
//   0: as is (TSIG parsing and refusals, from an address that may not send
//      unsigned updates); 1: as is, from an address that may;
//   2: signed with the configured key (prerequisites and updates applied);
//   3: signed with a key of the same name but another secret (BADSIG).
// Checked besides "no crash": exactly one reply; a reply parses, keeps the
// request's ID and opcode and has QR set; a refused update leaves the store
// as it was. (Serialization after apply is fuzz_change_decode's.)
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "dns/message.h"
#include "dns/tsig.h"
#include "server/update.h"
#include "store/store.h"
#include "zone/zone_file.h"

namespace {

constexpr uint64_t kNow = 1700000000;

const char* kZone = R"($ORIGIN example.
$TTL 300
@ SOA ns1 admin 1 7200 3600 1209600 60
@ NS ns1
ns1 A 192.0.2.53
www A 192.0.2.80
www AAAA 2001:db8::80
alias CNAME www
dyn A 198.51.100.1
*.wild TXT "w"
sub NS ns.sub
ns.sub A 192.0.2.200
)";

dns::tsig::Key make_key(const char* secret) {
  auto k = dns::tsig::make_key("update-key.", "hmac-sha256", secret);
  if (!k) std::abort();
  return *k;
}
const dns::tsig::Key& good_key() {
  static const dns::tsig::Key k = make_key("c2lnbmluZy1rZXktZm9yLWZ1enppbmctdXBkYXRlcw==");
  return k;
}
const dns::tsig::Key& wrong_key() {
  static const dns::tsig::Key k = make_key("YW5vdGhlci1zZWNyZXQtd2l0aC10aGUtc2FtZS1uYW1l");
  return k;
}

// The zone as checkpoint bytes, restored into a fresh store per input.
const std::string& base_state() {
  static const std::string state = [] {
    store::Store s;
    store::Change c;
    zone::ZoneFileResult r = zone::parse_master(kZone, "fuzz-zone", *dns::Name::from_text("example."), "/nonexistent");
    if (!r.errors.empty()) std::abort();
    for (const dns::RR& rr : r.records) c.ops.push_back(store::Op{store::OpKind::Add, rr});
    if (!s.apply(c, 1).all_ok()) std::abort();
    return s.serialize();
  }();
  return state;
}
const std::string& base_digest() {
  static const std::string digest = [] {
    store::Store s;
    if (!s.restore(base_state()).ok()) std::abort();
    return s.digest();
  }();
  return digest;
}

sockaddr_in address(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(5300);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // the handler logs every refusal
    return true;
  }();
  (void)quiet;
  const uint8_t mode = data[0] % 4;
  std::string msg(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode >= 2) {
    if (msg.size() < 12) return 0;
    dns::tsig::sign(msg, mode == 2 ? good_key() : wrong_key(), kNow);
  }

  // One store and handler for the whole run (building a handler seeds a
  // random client id, which costs more than the update); the store is reset
  // to the zone before every input.
  struct Harness {
    store::Store store;
    uint64_t index = 1;
    bool refused = false;
    std::unique_ptr<server::UpdateHandler> handler;
  };
  static Harness* h = [] {
    auto* made = new Harness;
    server::UpdateOptions options;
    options.keys.push_back(server::UpdateKey{good_key(), false, {}});
    options.allow_unsigned_from.push_back(*server::Network::parse("127.0.0.1/32"));
    made->handler = std::make_unique<server::UpdateHandler>(
        made->store,
        [made](store::Change change, std::function<void(util::Result<store::ApplyResult>)> done) {
          store::ApplyResult result = made->store.apply(change, ++made->index);
          made->refused = result.rcode != 0;
          done(std::move(result));
        },
        options, [] { return kNow; });
    return made;
  }();
  if (!h->store.restore(base_state()).ok()) std::abort();
  h->index = 1;
  h->refused = false;
  store::Store& store = h->store;
  const bool& refused = h->refused;

  const sockaddr_in peer = address(mode == 1 ? "127.0.0.1" : "192.0.2.9");
  int replies = 0;
  std::string reply;
  h->handler->handle(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), reinterpret_cast<const sockaddr*>(&peer),
                 [&](std::string r) {
                   ++replies;
                   reply = std::move(r);
                 });
  if (replies != 1) std::abort();
  if (!reply.empty()) {
    auto parsed = dns::parse_message(reinterpret_cast<const uint8_t*>(reply.data()), reply.size());
    if (!parsed.ok()) std::abort();
    if (msg.size() >= 2 && parsed->header.id != ((uint8_t(msg[0]) << 8) | uint8_t(msg[1]))) std::abort();
    if (!(parsed->header.flags & 0x8000)) std::abort();
    if (server::UpdateHandler::is_update(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()) &&
        parsed->header.opcode() != 5) {
      std::abort();
    }
  }
  // RFC 2136 §3: an update that fails changes nothing.
  if (refused && store.digest() != base_digest()) std::abort();
  return 0;
}
