// TSIG (RFC 8945): HMAC keys, signing and verifying messages, for UPDATE
// servers and clients alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "util/result.h"

namespace dns::tsig {

/// The HMAC algorithms of RFC 8945 §6 that we support (HMAC-MD5 is not).
enum class Algorithm : uint8_t { HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512 };

/// "hmac-sha256", "HMAC-SHA256." or the wire name: the algorithm, or nullopt.
std::optional<Algorithm> algorithm_from_text(std::string_view text);
/// The algorithm's name as it appears in the TSIG RDATA ("hmac-sha256.").
const Name& algorithm_name(Algorithm algorithm);
/// Output size of the HMAC in octets.
size_t mac_size(Algorithm algorithm);

/// A shared secret key.
struct Key {
  Name name;  // the key name, the TSIG record's owner
  Algorithm algorithm = Algorithm::HmacSha256;
  std::string secret;  // raw octets
};

/// Builds a key from config-style text; the error says which part is wrong.
util::Result<Key> make_key(std::string_view name, std::string_view algorithm, std::string_view secret_base64);

/// TSIG RDATA (RFC 8945 §4.2).
struct Rdata {
  Name algorithm;
  uint64_t time_signed = 0;  // 48 bits, seconds since the epoch
  uint16_t fudge = 300;
  std::string mac;
  uint16_t original_id = 0;
  uint16_t error = 0;  // 0, BADSIG, BADKEY, BADTIME, BADTRUNC
  std::string other;
};
util::Result<Rdata> parse_rdata(std::string_view rdata);
std::string encode_rdata(const Rdata& rdata);

inline constexpr uint16_t kDefaultFudge = 300;  // RFC 8945 §10 recommends 300 s
inline constexpr uint16_t BADTRUNC = 22;         // RFC 8945 §5.2.2.1

/// Signs `msg` (a whole message with no TSIG yet, its ARCOUNT not counting
/// one): appends the TSIG record and increments ARCOUNT. For a response,
/// `request_mac` is the MAC of the signed request (RFC 8945 §5.3); empty for
/// a request. `time_signed` is "now" except for a BADTIME error, where it is
/// the request's (and `other` holds the server's time, §5.2.3). Returns the
/// MAC, which a client keeps to verify the response.
std::string sign(std::string& msg, const Key& key, uint64_t time_signed, std::string_view request_mac = {},
                 uint16_t error = 0, std::string_view other = {}, uint16_t fudge = kDefaultFudge);

/// Appends an unsigned TSIG record (empty MAC) carrying `error`: the answer
/// to a request whose key is unknown (BADKEY) or whose MAC is wrong (BADSIG),
/// which must not be signed (RFC 8945 §5.3.2).
void append_unsigned(std::string& msg, const Name& key_name, const Name& algorithm, uint64_t time_signed,
                     uint16_t error, uint16_t fudge = kDefaultFudge);

/// The outcome of checking a message's TSIG (RFC 8945 §5.2, §5.4).
struct Verification {
  /// 0 when the signature is good; else BADKEY, BADSIG, BADTIME, BADTRUNC
  /// (answer NOTAUTH) or rcode::FORMERR for a malformed TSIG record.
  uint16_t error = 0;
  std::string reason;          // for the log
  const Key* key = nullptr;    // the key that matched (set for BADTIME too)
  Rdata rdata;                 // the message's TSIG RDATA (when it parsed)
  Name key_name;               // the TSIG record's owner
};

/// Verifies the TSIG record of `parsed` (which must have one), parsed from
/// `msg[0..len)`, against `keys`, at time `now` (seconds since the epoch).
/// For a response, pass the request's MAC.
Verification verify(const uint8_t* msg, size_t len, const Message& parsed, const std::vector<Key>& keys,
                    uint64_t now, std::string_view request_mac = {});

}  // namespace dns::tsig
