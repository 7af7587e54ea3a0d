// DNS messages (RFC 1035 §4): header, bounds-checked parsing with safe
// decompression, and a writer with name compression and truncation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "util/result.h"

namespace dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr uint16_t kMaxUdpPayload = 65535;
inline constexpr uint16_t kAdvertisedUdpSize = 1232;  // RFC 6891 §6.2.5 guidance, DNS flag day 2020
inline constexpr uint16_t kClassicUdpSize = 512;       // RFC 1035 §4.2.1
inline constexpr uint16_t kEdnsDo = 0x8000;            // DNSSEC OK, in the OPT flags (RFC 3225 §3)

namespace opcode {
inline constexpr uint8_t QUERY = 0;
inline constexpr uint8_t NOTIFY = 4;
inline constexpr uint8_t UPDATE = 5;
}  // namespace opcode

namespace rcode {
inline constexpr uint16_t NOERROR = 0;
inline constexpr uint16_t FORMERR = 1;
inline constexpr uint16_t SERVFAIL = 2;
inline constexpr uint16_t NXDOMAIN = 3;
inline constexpr uint16_t NOTIMP = 4;
inline constexpr uint16_t REFUSED = 5;
inline constexpr uint16_t YXDOMAIN = 6;
inline constexpr uint16_t YXRRSET = 7;
inline constexpr uint16_t NXRRSET = 8;
inline constexpr uint16_t NOTAUTH = 9;
inline constexpr uint16_t NOTZONE = 10;
inline constexpr uint16_t BADVERS = 16;  // RFC 6891 §6.1.3, needs EDNS
inline constexpr uint16_t BADSIG = 16;   // RFC 8945, in the TSIG error field
inline constexpr uint16_t BADKEY = 17;
inline constexpr uint16_t BADTIME = 18;
}  // namespace rcode

/// Header flag bits (RFC 1035 §4.1.1) within the 16-bit flags word.
namespace flag {
inline constexpr uint16_t QR = 0x8000;
inline constexpr uint16_t AA = 0x0400;
inline constexpr uint16_t TC = 0x0200;
inline constexpr uint16_t RD = 0x0100;
inline constexpr uint16_t RA = 0x0080;
inline constexpr uint16_t AD = 0x0020;
inline constexpr uint16_t CD = 0x0010;
}  // namespace flag

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;  // QR, opcode, AA, TC, RD, RA, Z, AD, CD, low 4 bits of rcode
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;

  uint8_t opcode() const { return (flags >> 11) & 0xF; }
  uint8_t rcode() const { return flags & 0xF; }
};

struct Question {
  Name name;
  uint16_t qtype = 0;
  uint16_t qclass = rrclass::IN;
};

/// The OPT pseudo-record (RFC 6891 §6.1.2).
struct Edns {
  uint16_t udp_size = kClassicUdpSize;
  uint8_t ext_rcode = 0;  // upper 8 bits of the 12-bit rcode
  uint8_t version = 0;
  uint16_t flags = 0;  // DO is 0x8000
  std::string options;  // raw option bytes; unknown options are ignored
};

/// A fully parsed message. Used for UPDATE and tests; the query fast path
/// uses parse_query() instead.
struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<RR> answers, authorities, additionals;  // OPT and TSIG not included
  std::optional<Edns> edns;
  std::optional<RR> tsig;    // the TSIG record, if last in additional (RFC 8945 §5.1)
  size_t tsig_offset = 0;    // offset of the TSIG record in the packet
  uint16_t rcode() const { return header.rcode() | (edns ? uint16_t(edns->ext_rcode) << 4 : 0); }
};

/// Reads a possibly compressed name at `*offset` of a message; advances
/// `*offset` past it. Rejects pointer loops and forward pointers, labels over
/// 63 and names over 255 octets, and reads never past `len`.
util::Result<Name> read_name(const uint8_t* msg, size_t len, size_t* offset);

util::Result<Message> parse_message(const uint8_t* data, size_t len);

/// What the responder needs from a query, parsed without heap allocation
/// beyond the name: the header, the single question, and the OPT record.
struct QueryView {
  Header header;
  Question question;
  bool has_question = false;
  std::optional<Edns> edns;
  size_t question_end = 0;  // offset just past the question section
  bool has_tsig = false;    // a TSIG record ends the message: use parse_message to verify it
};

/// Parses a query. An error means "answer FORMERR if header.id is usable":
/// `*header_ok` tells whether the 12-byte header could be read at all.
util::Result<QueryView> parse_query(const uint8_t* data, size_t len, bool* header_ok);

enum class Section : uint8_t { Answer, Authority, Additional };

/// Writes a message into a caller-owned buffer: no allocation. Names (owners
/// and the rdata names of RFC 1035 types) are compressed. A record that would
/// take the message past `limit` is not written and add_rr returns false; the
/// caller then decides to set TC (RFC 2181 §9) or simply omit (additional).
class MessageWriter {
 public:
  MessageWriter(uint8_t* buf, size_t limit);

  void set_header(const Header& h);  // counts are maintained by the writer
  Header& header() { return header_; }

  bool add_question(const Name& name, uint16_t qtype, uint16_t qclass);
  bool add_rr(Section section, const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl,
              std::string_view rdata);
  /// Adds the OPT record (11 octets). Reserve them first with reserve(11);
  /// add_opt may use up to 11 octets of whatever is still reserved, so it
  /// succeeds without an unreserve(11); add it after the last other record.
  bool add_opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, uint16_t flags);
  /// Keeps `n` octets free at the end of the limit (for OPT, TSIG).
  void reserve(size_t n);
  void unreserve(size_t n);
  void set_tc() { header_.flags |= flag::TC; }

  /// Writes the header and returns the total length.
  size_t finish();
  size_t size() const { return pos_; }

 private:
  bool write_name(const Name& name, bool compress);
  bool write_wire_name(std::string_view wire, bool compress);
  bool write_bytes(const void* data, size_t n);
  bool write_rdata(uint16_t type, std::string_view rdata);
  bool name_matches_at(size_t at, const char* wire) const;
  uint8_t* buf_;
  size_t limit_;
  size_t reserved_ = 0;
  size_t pos_ = kHeaderSize;
  Header header_;
  // Offsets of names already written, for compression (RFC 1035 §4.1.4).
  static constexpr size_t kMaxCompressionTargets = 64;
  uint16_t targets_[kMaxCompressionTargets];
  size_t target_count_ = 0;
};

}  // namespace dns
