// TSIG (RFC 8945): HMAC keys, signing and verifying messages and message
// streams (zone transfers), for servers and clients alike.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"
#include "util/result.h"

namespace dns::tsig {

/// The HMAC algorithms of RFC 8945 §6. HMAC-MD5 is still the default of
/// certbot and cert-manager; a site may refuse it by configuration.
enum class Algorithm : uint8_t { HmacSha1, HmacSha224, HmacSha256, HmacSha384, HmacSha512, HmacMd5 };

/// "hmac-sha256", "HMAC-SHA256." or the wire name ("hmac-md5" or
/// "hmac-md5.sig-alg.reg.int."): the algorithm, or nullopt.
std::optional<Algorithm> algorithm_from_text(std::string_view text);
/// The algorithm's name as it appears in the TSIG RDATA ("hmac-sha256.",
/// "hmac-md5.sig-alg.reg.int.").
const Name& algorithm_name(Algorithm algorithm);
/// Output size of the HMAC in octets.
size_t mac_size(Algorithm algorithm);
/// The short name used in configuration ("hmac-sha256", "hmac-md5").
std::string_view algorithm_text(Algorithm algorithm);

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

/// The same on a caller's buffer: the message is `buf[0..len)`, `cap` octets
/// are available. Returns the new length, or 0 (buffer untouched) when the
/// record does not fit; the MAC goes to `*mac_out` when given.
size_t sign(uint8_t* buf, size_t len, size_t cap, const Key& key, uint64_t time_signed,
            std::string_view request_mac = {}, uint16_t error = 0, std::string_view other = {},
            uint16_t fudge = kDefaultFudge, std::string* mac_out = nullptr);

/// Octets of the TSIG record sign() appends with this key and `other_len`
/// octets of other data: what a writer must keep free for it.
size_t record_size(const Key& key, size_t other_len = 0);

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
/// For a response, pass the request's MAC: a response with an unsigned TSIG
/// error (the server's BADKEY, BADSIG) reports that error; a signed one
/// (BADTIME) verifies as usual, and `rdata.error` holds the server's verdict.
Verification verify(const uint8_t* msg, size_t len, const Message& parsed, const std::vector<Key>& keys,
                    uint64_t now, std::string_view request_mac = {});

class StreamSigner;

/// The TSIG record a server puts on its answer to a signed request, decided
/// from verify()'s outcome (RFC 8945 §5.3): a signature over the answer when
/// the request verified; the unsigned BADKEY, BADSIG or BADTRUNC error
/// (§5.3.2); or the signed BADTIME error carrying the server's time
/// (§5.2.3). The answer to a failed request is NOTAUTH with no records.
/// Used by every signed exchange on the DNS port: queries, UPDATE, and
/// (through start_stream()) zone transfers.
class ServerSigning {
 public:
  /// `v` is the request's verification, whose error is not FORMERR (a
  /// malformed TSIG gets a plain FORMERR). `v.key` must stay valid.
  ServerSigning(const Verification& v, uint64_t now, uint16_t fudge = kDefaultFudge);

  /// The request failed its TSIG check: answer NOTAUTH with nothing else.
  bool failed() const { return error_ != 0; }
  uint16_t error() const { return error_; }
  /// Octets append() adds at most: keep them free while writing the answer.
  size_t size() const;
  /// Appends the record to the answer `buf[0..len)` (`cap` octets
  /// available); returns the new length, or 0 when it does not fit.
  size_t append(uint8_t* buf, size_t len, size_t cap);
  void append(std::string& msg);
  /// The answer's MAC once append() signed it: the start of a stream's
  /// running digest (RFC 8945 §5.3.1).
  const std::string& mac() const { return mac_; }
  const Key* key() const { return key_; }
  const std::string& request_mac() const { return request_mac_; }
  /// For a multi-message answer (AXFR, IXFR) to a request that verified:
  /// the signer of its messages, chained to the request's MAC. Null when
  /// the request failed (its single error answer goes through append()).
  std::unique_ptr<StreamSigner> start_stream() const;

 private:
  const Key* key_ = nullptr;  // null for the unsigned errors
  Name key_name_, algorithm_;
  uint16_t error_ = 0;
  uint64_t now_ = 0, request_time_ = 0;
  uint16_t fudge_ = kDefaultFudge;
  std::string request_mac_, mac_;
};

/// RFC 8945 §5.3.1: a server signing the messages of one multi-message
/// answer (AXFR, IXFR). The first message's MAC covers the request MAC, the
/// message and all TSIG variables; each later signed message covers the
/// previous MAC, every message since it and the timers only. A message may
/// go out unsigned, but never 100 in a row, and the last must be signed.
class StreamSigner {
 public:
  /// `request_mac`: the MAC of the verified request.
  StreamSigner(const Key& key, std::string request_mac, uint16_t fudge = kDefaultFudge);
  StreamSigner(const StreamSigner&) = delete;
  StreamSigner& operator=(const StreamSigner&) = delete;
  ~StreamSigner();

  /// Most unsigned messages allowed in a row (RFC 8945 §5.3.1: "at least
  /// every 100th" message is signed).
  static constexpr unsigned kMaxUnsigned = 99;

  /// Adds the next message `buf[0..len)`. With `sign` set, or when it is
  /// the first message, or when kMaxUnsigned precede it, it is signed (the
  /// record appended, `cap` octets available); else it only enters the
  /// running digest and goes out as it is. Returns the new length, or 0 if
  /// the record did not fit (nothing changed then).
  size_t add(uint8_t* buf, size_t len, size_t cap, uint64_t now, bool sign);
  /// Whether the next add() must sign whatever its `sign` says.
  bool must_sign_next() const { return first_ || unsigned_run_ >= kMaxUnsigned; }
  /// The record an add() that signs appends: keep this much free.
  size_t record_size() const;

 private:
  struct Digest;
  const Key& key_;
  uint16_t fudge_;
  std::string prior_mac_;
  bool first_ = true;
  unsigned unsigned_run_ = 0;
  std::unique_ptr<Digest> pending_;  // the running digest of unsigned messages since the last MAC
};

/// RFC 8945 §5.3.1 from the client's side: verifies the messages of a
/// signed multi-message answer (a zone transfer from an outside primary)
/// one by one.
class StreamVerifier {
 public:
  /// `key` signed the request, whose MAC is `request_mac`.
  StreamVerifier(const Key& key, std::string request_mac);
  StreamVerifier(const StreamVerifier&) = delete;
  StreamVerifier& operator=(const StreamVerifier&) = delete;
  ~StreamVerifier();

  /// Checks the next message (`parsed` from `msg[0..len)`) at time `now`.
  /// A signed message must verify (BADSIG, BADTIME, BADKEY otherwise, or
  /// the error the server put in its TSIG); an unsigned one is accepted
  /// except as the first message or after 99 unsigned in a row (BADSIG).
  /// After an error the stream is dead: every later call fails too.
  Verification add(const uint8_t* msg, size_t len, const Message& parsed, uint64_t now);
  /// Whether the stream may end here: the last message added was signed
  /// and verified (an unsigned tail proves nothing).
  bool complete() const { return !failed_ && !first_ && unsigned_run_ == 0; }

 private:
  struct Digest;
  const Key& key_;
  std::string prior_mac_;
  bool first_ = true, failed_ = false;
  unsigned unsigned_run_ = 0;
  std::unique_ptr<Digest> pending_;
};

}  // namespace dns::tsig
