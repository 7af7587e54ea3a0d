// TSIG (RFC 8945): MAC computation over the digest components of §4.3.3,
// signing, the verification steps of §5.2, the server's answers of §5.3 and
// the message streams of §5.3.1, with OpenSSL's HMAC (EVP_MAC).
#include "dns/tsig.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "dns/encoding.h"

namespace dns::tsig {
namespace {

struct AlgorithmInfo {
  Algorithm algorithm;
  const char* name;       // the wire name (RFC 8945 §6)
  const char* text;       // the name in configuration
  const char* digest;     // OpenSSL's digest name
  size_t size;
};

// Indexed by Algorithm.
constexpr std::array<AlgorithmInfo, 6> kAlgorithms = {{
    {Algorithm::HmacSha1, "hmac-sha1.", "hmac-sha1", "SHA1", 20},
    {Algorithm::HmacSha224, "hmac-sha224.", "hmac-sha224", "SHA224", 28},
    {Algorithm::HmacSha256, "hmac-sha256.", "hmac-sha256", "SHA256", 32},
    {Algorithm::HmacSha384, "hmac-sha384.", "hmac-sha384", "SHA384", 48},
    {Algorithm::HmacSha512, "hmac-sha512.", "hmac-sha512", "SHA512", 64},
    {Algorithm::HmacMd5, "hmac-md5.sig-alg.reg.int.", "hmac-md5", "MD5", 16},
}};

const AlgorithmInfo& info(Algorithm a) { return kAlgorithms[static_cast<size_t>(a)]; }

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v & 0xFF);
}

void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& s, uint32_t v) {
  put16(s, static_cast<uint16_t>(v >> 16));
  put16(s, static_cast<uint16_t>(v & 0xFFFF));
}
void put48(std::string& s, uint64_t v) {
  put16(s, static_cast<uint16_t>((v >> 32) & 0xFFFF));
  put32(s, static_cast<uint32_t>(v & 0xFFFFFFFF));
}

/// One HMAC computation, fed piece by piece. A context that OpenSSL could
/// not set up (a digest disabled by the system's crypto policy) yields an
/// empty MAC, which never verifies.
class Hmac {
 public:
  explicit Hmac(const Key& key) {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
    ctx_ = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    if (!ctx_) return;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(info(key.algorithm).digest), 0),
        OSSL_PARAM_construct_end()};
    ok_ = EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.secret.data()), key.secret.size(),
                       params) == 1;
  }
  ~Hmac() { EVP_MAC_CTX_free(ctx_); }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  void update(const void* data, size_t n) {
    if (ok_ && n > 0) ok_ = EVP_MAC_update(ctx_, static_cast<const unsigned char*>(data), n) == 1;
  }
  void update(std::string_view s) { update(s.data(), s.size()); }
  void update16(uint16_t v) {
    uint8_t b[2];
    wr16(b, v);
    update(b, 2);
  }
  /// A MAC as the digests of §4.3.1 and §5.3.1 prefix it: length, then octets.
  void update_mac(std::string_view mac) {
    update16(static_cast<uint16_t>(mac.size()));
    update(mac);
  }
  std::string final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t n = 0;
    if (!ok_ || EVP_MAC_final(ctx_, out, &n, sizeof out) != 1) return {};
    return std::string(reinterpret_cast<char*>(out), n);
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
  bool ok_ = false;
};

/// RFC 8945 §4.3.2: the message as it was before the TSIG was added, with
/// its original ID and an ARCOUNT not counting the TSIG record.
void digest_message(Hmac& h, std::string_view message, uint16_t original_id, uint16_t arcount) {
  uint8_t head[kHeaderSize];
  std::memcpy(head, message.data(), kHeaderSize);
  wr16(head, original_id);
  wr16(head + 10, arcount);
  h.update(head, kHeaderSize);
  h.update(message.substr(kHeaderSize));
}

/// RFC 8945 §4.3.3: the TSIG variables that follow the message in the digest.
void digest_variables(Hmac& h, const Name& key_name, const Rdata& rd) {
  std::string buf = key_name.lowercased().wire();  // canonical form: lower case, uncompressed
  put16(buf, rrclass::ANY);
  put32(buf, 0);  // TTL
  buf += rd.algorithm.lowercased().wire();
  put48(buf, rd.time_signed);
  put16(buf, rd.fudge);
  put16(buf, rd.error);
  put16(buf, static_cast<uint16_t>(rd.other.size()));
  buf += rd.other;
  h.update(buf);
}

/// RFC 8945 §4.3.3 (TSIG timers): the only variables of a stream's later messages (§5.3.1).
void digest_timers(Hmac& h, uint64_t time_signed, uint16_t fudge) {
  std::string buf;
  put48(buf, time_signed);
  put16(buf, fudge);
  h.update(buf);
}

size_t rdata_size(const Name& algorithm, size_t mac_len, size_t other_len) {
  return algorithm.wire_length() + 16 + mac_len + other_len;
}

/// Appends the TSIG record to `buf[0..len)` and counts it in ARCOUNT;
/// returns the new length, or 0 when it does not fit in `cap`.
size_t write_record(uint8_t* buf, size_t len, size_t cap, const Name& key_name, const Rdata& rd) {
  const std::string rdata = encode_rdata(rd);
  const size_t need = key_name.wire_length() + 10 + rdata.size();
  if (len < kHeaderSize || cap < len || cap - len < need || rdata.size() > 0xFFFF) return 0;
  uint8_t* p = buf + len;
  std::memcpy(p, key_name.wire().data(), key_name.wire_length());  // not compressed (RFC 8945 §4.2)
  p += key_name.wire_length();
  wr16(p, rrtype::TSIG);
  wr16(p + 2, rrclass::ANY);
  std::memset(p + 4, 0, 4);  // TTL
  wr16(p + 8, static_cast<uint16_t>(rdata.size()));
  std::memcpy(p + 10, rdata.data(), rdata.size());
  wr16(buf + 10, static_cast<uint16_t>(rd16(buf + 10) + 1));
  return len + need;
}

/// Runs `fn(buf, len, cap)` on a string grown by `room` octets, then trims it.
template <typename Fn>
size_t on_string(std::string& msg, size_t room, Fn fn) {
  const size_t len = msg.size();
  msg.resize(len + room);
  size_t n = fn(reinterpret_cast<uint8_t*>(msg.data()), len, msg.size());
  msg.resize(n == 0 ? len : n);
  return n;
}

}  // namespace

std::optional<Algorithm> algorithm_from_text(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  for (const AlgorithmInfo& a : kAlgorithms) {
    if (lower == a.text || lower + "." == a.name) return a.algorithm;
  }
  return std::nullopt;
}

const Name& algorithm_name(Algorithm algorithm) {
  static const std::array<Name, kAlgorithms.size()> names = [] {
    std::array<Name, kAlgorithms.size()> n;
    for (size_t i = 0; i < kAlgorithms.size(); ++i) n[i] = Name::from_text(kAlgorithms[i].name).value();
    return n;
  }();
  return names[static_cast<size_t>(algorithm)];
}

size_t mac_size(Algorithm algorithm) { return info(algorithm).size; }

std::string_view algorithm_text(Algorithm algorithm) { return info(algorithm).text; }

util::Result<Key> make_key(std::string_view name, std::string_view algorithm, std::string_view secret_base64) {
  Key key;
  auto n = Name::from_text(name);
  if (!n) return util::make_error("key name '" + std::string(name) + "': " + n.error().message);
  key.name = std::move(n.value());
  auto a = algorithm_from_text(algorithm);
  if (!a) {
    return util::make_error("key " + key.name.to_text() + ": unsupported algorithm '" + std::string(algorithm) +
                            "' (use hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1 or hmac-md5)");
  }
  key.algorithm = *a;
  auto secret = base64_decode(secret_base64);
  if (!secret) return util::make_error("key " + key.name.to_text() + ": secret is " + secret.error().message);
  if (secret->empty()) return util::make_error("key " + key.name.to_text() + ": secret is empty");
  key.secret = std::move(secret.value());
  return key;
}

util::Result<Rdata> parse_rdata(std::string_view rdata) {
  const auto* p = reinterpret_cast<const uint8_t*>(rdata.data());
  size_t len = rdata.size(), pos = 0;
  // The algorithm name is never compressed (RFC 8945 §4.2).
  while (pos < len && p[pos] != 0) {
    if (p[pos] > 63) return util::make_error("TSIG algorithm name is malformed");
    pos += 1 + p[pos];
  }
  if (pos >= len) return util::make_error("TSIG RDATA truncated in the algorithm name");
  ++pos;
  Rdata rd;
  auto alg = Name::from_wire(rdata.substr(0, pos));
  if (!alg) return util::make_error("TSIG algorithm name: " + alg.error().message);
  rd.algorithm = std::move(alg.value());
  auto need = [&](size_t n) { return len - pos >= n; };
  if (!need(10)) return util::make_error("TSIG RDATA truncated");
  rd.time_signed = (uint64_t(rd16(p + pos)) << 32) | (uint64_t(rd16(p + pos + 2)) << 16) | rd16(p + pos + 4);
  rd.fudge = rd16(p + pos + 6);
  uint16_t mac_len = rd16(p + pos + 8);
  pos += 10;
  if (!need(mac_len)) return util::make_error("TSIG MAC runs past the RDATA");
  rd.mac.assign(rdata.substr(pos, mac_len));
  pos += mac_len;
  if (!need(6)) return util::make_error("TSIG RDATA truncated after the MAC");
  rd.original_id = rd16(p + pos);
  rd.error = rd16(p + pos + 2);
  uint16_t other_len = rd16(p + pos + 4);
  pos += 6;
  if (len - pos != other_len) return util::make_error("TSIG other data length does not match the RDATA");
  rd.other.assign(rdata.substr(pos, other_len));
  return rd;
}

std::string encode_rdata(const Rdata& rd) {
  std::string out = rd.algorithm.lowercased().wire();
  put48(out, rd.time_signed);
  put16(out, rd.fudge);
  put16(out, static_cast<uint16_t>(rd.mac.size()));
  out += rd.mac;
  put16(out, rd.original_id);
  put16(out, rd.error);
  put16(out, static_cast<uint16_t>(rd.other.size()));
  out += rd.other;
  return out;
}

size_t record_size(const Key& key, size_t other_len) {
  return key.name.wire_length() + 10 + rdata_size(algorithm_name(key.algorithm), mac_size(key.algorithm), other_len);
}

size_t sign(uint8_t* buf, size_t len, size_t cap, const Key& key, uint64_t time_signed, std::string_view request_mac,
            uint16_t error, std::string_view other, uint16_t fudge, std::string* mac_out) {
  if (len < kHeaderSize || cap < len || cap - len < record_size(key, other.size())) return 0;
  Rdata rd;
  rd.algorithm = algorithm_name(key.algorithm);
  rd.time_signed = time_signed;
  rd.fudge = fudge;
  rd.original_id = rd16(buf);
  rd.error = error;
  rd.other = std::string(other);
  // RFC 8945 §4.3.1-§4.3.3: [request MAC] + message + TSIG variables.
  Hmac h(key);
  if (!request_mac.empty()) h.update_mac(request_mac);
  digest_message(h, std::string_view(reinterpret_cast<const char*>(buf), len), rd.original_id, rd16(buf + 10));
  digest_variables(h, key.name, rd);
  rd.mac = h.final();
  if (rd.mac.size() != mac_size(key.algorithm)) rd.mac.assign(mac_size(key.algorithm), '\0');  // keeps the size promised
  size_t n = write_record(buf, len, cap, key.name, rd);
  if (n != 0 && mac_out) *mac_out = rd.mac;
  return n;
}

std::string sign(std::string& msg, const Key& key, uint64_t time_signed, std::string_view request_mac,
                 uint16_t error, std::string_view other, uint16_t fudge) {
  std::string mac;
  on_string(msg, record_size(key, other.size()), [&](uint8_t* buf, size_t len, size_t cap) {
    return sign(buf, len, cap, key, time_signed, request_mac, error, other, fudge, &mac);
  });
  return mac;
}

void append_unsigned(std::string& msg, const Name& key_name, const Name& algorithm, uint64_t time_signed,
                     uint16_t error, uint16_t fudge) {
  Rdata rd;
  rd.algorithm = algorithm;
  rd.time_signed = time_signed;
  rd.fudge = fudge;
  rd.error = error;
  on_string(msg, key_name.wire_length() + 10 + rdata_size(algorithm, 0, 0), [&](uint8_t* buf, size_t len, size_t cap) {
    rd.original_id = rd16(buf);
    return write_record(buf, len, cap, key_name, rd);
  });
}

Verification verify(const uint8_t* msg, size_t len, const Message& parsed, const std::vector<Key>& keys,
                    uint64_t now, std::string_view request_mac) {
  Verification v;
  if (!parsed.tsig || parsed.tsig_offset < kHeaderSize || parsed.tsig_offset > len || parsed.header.arcount == 0) {
    v.error = rcode::FORMERR;
    v.reason = "no TSIG record";
    return v;
  }
  const RR& rr = *parsed.tsig;
  v.key_name = rr.owner;
  auto rd = parse_rdata(rr.rdata);
  if (!rd || rr.rclass != rrclass::ANY || rr.ttl != 0) {
    v.error = rcode::FORMERR;
    v.reason = rd ? "TSIG record must have class ANY and TTL 0" : rd.error().message;
    return v;
  }
  v.rdata = std::move(rd.value());
  // §5.2.1: the key must be known, with the algorithm the message names.
  for (const Key& k : keys) {
    if (k.name == rr.owner) {
      v.key = &k;
      break;
    }
  }
  if (!v.key || algorithm_name(v.key->algorithm) != v.rdata.algorithm) {
    v.error = rcode::BADKEY;
    v.reason = v.key ? "key " + rr.owner.to_text() + " is not a " + v.rdata.algorithm.to_text() + " key"
                     : "unknown key " + rr.owner.to_text();
    v.key = nullptr;
    return v;
  }
  // A response carrying an unsigned TSIG error: the server refused our
  // signature (§5.3.2). A signed error (BADTIME, §5.2.3) verifies as usual
  // and the caller reads rdata.error.
  if (!request_mac.empty() && v.rdata.error != 0 && v.rdata.mac.empty()) {
    v.error = v.rdata.error;
    v.reason = "the server answered TSIG error " + std::to_string(v.rdata.error);
    return v;
  }
  // §5.2.2.1: a MAC longer than the hash, or truncated below 10 octets or
  // half the hash, is malformed; we ask for the full MAC (local policy).
  const size_t full = mac_size(v.key->algorithm);
  const size_t got = v.rdata.mac.size();
  if (got > full || got < 10 || got < full / 2) {
    v.error = rcode::FORMERR;
    v.reason = "TSIG MAC of " + std::to_string(got) + " octets is not valid for " + v.rdata.algorithm.to_text();
    return v;
  }
  // §5.2.2: the MAC over the message as it was before the TSIG was added.
  Hmac h(*v.key);
  if (!request_mac.empty()) h.update_mac(request_mac);
  digest_message(h, std::string_view(reinterpret_cast<const char*>(msg), parsed.tsig_offset), v.rdata.original_id,
                 static_cast<uint16_t>(parsed.header.arcount - 1));
  digest_variables(h, rr.owner, v.rdata);
  const std::string mac = h.final();
  if (mac.size() != full || CRYPTO_memcmp(mac.data(), v.rdata.mac.data(), got) != 0) {
    v.error = rcode::BADSIG;
    v.reason = "TSIG signature does not verify with key " + rr.owner.to_text();
    return v;
  }
  if (got < full) {
    v.error = BADTRUNC;
    v.reason = "truncated TSIG MAC (" + std::to_string(got) + " of " + std::to_string(full) + " octets) not accepted";
    return v;
  }
  // §5.2.3: the time check, after the MAC, so a forged message cannot learn
  // the server's clock.
  uint64_t signed_at = v.rdata.time_signed;
  uint64_t skew = now > signed_at ? now - signed_at : signed_at - now;
  if (skew > v.rdata.fudge) {
    v.error = rcode::BADTIME;
    v.reason = "TSIG time " + std::to_string(signed_at) + " is " + std::to_string(skew) + " s from ours (fudge " +
               std::to_string(v.rdata.fudge) + " s)";
    return v;
  }
  return v;
}

// ---- the server's answer to a signed request (RFC 8945 §5.3)

ServerSigning::ServerSigning(const Verification& v, uint64_t now, uint16_t fudge)
    : key_name_(v.key_name), algorithm_(v.rdata.algorithm), error_(v.error), now_(now),
      request_time_(v.rdata.time_signed), fudge_(fudge), request_mac_(v.rdata.mac) {
  // BADKEY, BADSIG and BADTRUNC are answered unsigned (§5.3.2); a good
  // request and BADTIME (§5.2.3) are answered signed with the request's key.
  if (v.error == 0 || v.error == rcode::BADTIME) key_ = v.key;
  if (v.error == rcode::BADTIME) fudge_ = v.rdata.fudge;
}

size_t ServerSigning::size() const {
  if (!key_) return key_name_.wire_length() + 10 + rdata_size(algorithm_, 0, 0);
  return record_size(*key_, error_ == rcode::BADTIME ? 6 : 0);
}

size_t ServerSigning::append(uint8_t* buf, size_t len, size_t cap) {
  if (!key_) {
    Rdata rd;
    rd.algorithm = algorithm_;
    rd.time_signed = now_;
    rd.fudge = fudge_;
    rd.original_id = len >= 2 ? rd16(buf) : 0;
    rd.error = error_;
    return write_record(buf, len, cap, key_name_, rd);
  }
  if (error_ == rcode::BADTIME) {
    // §5.2.3: the request's time, and ours in Other Data for the client to see.
    std::string other;
    put48(other, now_);
    return sign(buf, len, cap, *key_, request_time_, request_mac_, rcode::BADTIME, other, fudge_, &mac_);
  }
  return sign(buf, len, cap, *key_, now_, request_mac_, 0, {}, fudge_, &mac_);
}

void ServerSigning::append(std::string& msg) {
  on_string(msg, size(), [&](uint8_t* buf, size_t len, size_t cap) { return append(buf, len, cap); });
}

std::unique_ptr<StreamSigner> ServerSigning::start_stream() const {
  if (!key_ || error_ != 0) return nullptr;
  return std::make_unique<StreamSigner>(*key_, request_mac_, fudge_);
}

// ---- message streams (RFC 8945 §5.3.1)

struct StreamSigner::Digest {
  explicit Digest(const Key& key) : hmac(key) {}
  Hmac hmac;
};

StreamSigner::StreamSigner(const Key& key, std::string request_mac, uint16_t fudge)
    : key_(key), fudge_(fudge), prior_mac_(std::move(request_mac)), pending_(std::make_unique<Digest>(key)) {
  if (!prior_mac_.empty()) pending_->hmac.update_mac(prior_mac_);
}

StreamSigner::~StreamSigner() = default;

size_t StreamSigner::record_size() const { return tsig::record_size(key_); }

size_t StreamSigner::add(uint8_t* buf, size_t len, size_t cap, uint64_t now, bool sign) {
  if (len < kHeaderSize || cap < len) return 0;
  if (!sign && !must_sign_next()) {
    // An unsigned message enters the next MAC as it is sent.
    pending_->hmac.update(buf, len);
    ++unsigned_run_;
    return len;
  }
  if (cap - len < record_size()) return 0;
  Rdata rd;
  rd.algorithm = algorithm_name(key_.algorithm);
  rd.time_signed = now;
  rd.fudge = fudge_;
  rd.original_id = rd16(buf);
  Hmac& h = pending_->hmac;
  digest_message(h, std::string_view(reinterpret_cast<const char*>(buf), len), rd.original_id, rd16(buf + 10));
  // The first message is digested like any response; later ones cover the
  // timers only.
  if (first_) {
    digest_variables(h, key_.name, rd);
  } else {
    digest_timers(h, rd.time_signed, rd.fudge);
  }
  rd.mac = h.final();
  if (rd.mac.size() != mac_size(key_.algorithm)) rd.mac.assign(mac_size(key_.algorithm), '\0');
  const size_t n = write_record(buf, len, cap, key_.name, rd);
  prior_mac_ = rd.mac;
  pending_ = std::make_unique<Digest>(key_);
  pending_->hmac.update_mac(prior_mac_);
  first_ = false;
  unsigned_run_ = 0;
  return n;
}

struct StreamVerifier::Digest {
  explicit Digest(const Key& key) : hmac(key) {}
  Hmac hmac;
};

StreamVerifier::StreamVerifier(const Key& key, std::string request_mac)
    : key_(key), prior_mac_(std::move(request_mac)), pending_(std::make_unique<Digest>(key)) {
  if (!prior_mac_.empty()) pending_->hmac.update_mac(prior_mac_);
}

StreamVerifier::~StreamVerifier() = default;

Verification StreamVerifier::add(const uint8_t* msg, size_t len, const Message& parsed, uint64_t now) {
  Verification v;
  auto fail = [&](uint16_t error, std::string reason) {
    failed_ = true;
    v.error = error;
    v.reason = std::move(reason);
    v.key = nullptr;
    return v;
  };
  if (failed_) return fail(rcode::BADSIG, "the stream already failed its TSIG check");
  if (len < kHeaderSize) return fail(rcode::FORMERR, "message shorter than a header");
  if (!parsed.tsig) {
    if (first_) return fail(rcode::BADSIG, "the first message of the stream is not signed");
    if (unsigned_run_ >= StreamSigner::kMaxUnsigned) {
      return fail(rcode::BADSIG, "100 messages in a row without a TSIG (RFC 8945 §5.3.1)");
    }
    pending_->hmac.update(msg, len);
    ++unsigned_run_;
    v.key = &key_;
    return v;
  }
  const RR& rr = *parsed.tsig;
  v.key_name = rr.owner;
  auto rd = parse_rdata(rr.rdata);
  if (!rd || rr.rclass != rrclass::ANY || rr.ttl != 0 || parsed.tsig_offset < kHeaderSize ||
      parsed.tsig_offset > len || parsed.header.arcount == 0) {
    return fail(rcode::FORMERR, rd ? "TSIG record must have class ANY and TTL 0" : rd.error().message);
  }
  v.rdata = std::move(rd.value());
  if (rr.owner != key_.name || v.rdata.algorithm != algorithm_name(key_.algorithm)) {
    return fail(rcode::BADKEY, "signed with " + rr.owner.to_text() + " (" + v.rdata.algorithm.to_text() +
                                   "), not with the request's key");
  }
  if (v.rdata.error != 0) return fail(v.rdata.error, "the server answered TSIG error " + std::to_string(v.rdata.error));
  Hmac& h = pending_->hmac;
  digest_message(h, std::string_view(reinterpret_cast<const char*>(msg), parsed.tsig_offset), v.rdata.original_id,
                 static_cast<uint16_t>(parsed.header.arcount - 1));
  if (first_) {
    digest_variables(h, rr.owner, v.rdata);
  } else {
    digest_timers(h, v.rdata.time_signed, v.rdata.fudge);
  }
  const std::string mac = h.final();
  if (mac.size() != v.rdata.mac.size() || mac.size() != mac_size(key_.algorithm) ||
      CRYPTO_memcmp(mac.data(), v.rdata.mac.data(), mac.size()) != 0) {
    return fail(rcode::BADSIG, "TSIG signature of a stream message does not verify with key " + key_.name.to_text());
  }
  const uint64_t signed_at = v.rdata.time_signed;
  const uint64_t skew = now > signed_at ? now - signed_at : signed_at - now;
  if (skew > v.rdata.fudge) {
    return fail(rcode::BADTIME, "TSIG time " + std::to_string(signed_at) + " is " + std::to_string(skew) +
                                    " s from ours (fudge " + std::to_string(v.rdata.fudge) + " s)");
  }
  prior_mac_ = v.rdata.mac;
  pending_ = std::make_unique<Digest>(key_);
  pending_->hmac.update_mac(prior_mac_);
  first_ = false;
  unsigned_run_ = 0;
  v.key = &key_;
  return v;
}

}  // namespace dns::tsig
