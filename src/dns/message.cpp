// DNS message parsing (RFC 1035 §4) with safe decompression, EDNS(0) and
// TSIG placement checks, and the allocation-free message writer.
#include "dns/message.h"

#include <cstring>

#include "rdata_internal.h"

namespace dns {

util::Result<Name> read_name(const uint8_t* msg, size_t len, size_t* offset) {
  // RFC 1035 §4.1.4. Pointers must point strictly backwards, to before the
  // start of the label sequence that holds them: that alone rules out loops.
  // The hop bound is a second guard. The name is assembled on the stack so
  // the only allocation is the Name itself.
  char wire[kMaxNameLength];
  size_t wlen = 0;
  size_t pos = *offset;
  size_t end_after = 0;  // where the caller continues: after the first pointer
  bool jumped = false;
  size_t floor = pos;  // a pointer must target below this
  int hops = 0;
  while (true) {
    if (pos >= len) return util::make_error("name runs past the end of the message");
    uint8_t b = msg[pos];
    if ((b & 0xC0) == 0xC0) {
      if (pos + 1 >= len) return util::make_error("truncated compression pointer");
      size_t target = (static_cast<size_t>(b & 0x3F) << 8) | msg[pos + 1];
      if (!jumped) end_after = pos + 2;
      if (target >= floor) return util::make_error("compression pointer does not point backwards");
      if (++hops > 127) return util::make_error("too many compression pointers");
      jumped = true;
      floor = target;
      pos = target;
      continue;
    }
    if ((b & 0xC0) != 0) return util::make_error("unknown label type");
    if (b == 0) {
      wire[wlen++] = '\0';
      if (!jumped) end_after = pos + 1;
      break;
    }
    if (pos + 1 + b > len) return util::make_error("label runs past the end of the message");
    // Room for this label and the final zero octet within 255.
    if (wlen + 1 + b + 1 > kMaxNameLength) return util::make_error("name longer than 255 octets");
    std::memcpy(wire + wlen, msg + pos, 1 + b);
    wlen += 1 + b;
    pos += 1 + b;
  }
  auto n = Name::from_wire(std::string_view(wire, wlen));
  if (!n) return n.error();
  *offset = end_after;
  return n;
}

namespace {

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t rd32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
void wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void wr32(uint8_t* p, uint32_t v) {
  wr16(p, static_cast<uint16_t>(v >> 16));
  wr16(p + 2, static_cast<uint16_t>(v));
}

Header read_header(const uint8_t* d) {
  Header h;
  h.id = rd16(d);
  h.flags = rd16(d + 2);
  h.qdcount = rd16(d + 4);
  h.ancount = rd16(d + 6);
  h.nscount = rd16(d + 8);
  h.arcount = rd16(d + 10);
  return h;
}

/// Steps over a possibly compressed name without decoding it.
bool skip_name(const uint8_t* msg, size_t len, size_t* offset) {
  size_t pos = *offset;
  size_t total = 0;
  while (true) {
    if (pos >= len) return false;
    uint8_t b = msg[pos];
    if ((b & 0xC0) == 0xC0) {
      if (pos + 2 > len) return false;
      *offset = pos + 2;
      return true;
    }
    if ((b & 0xC0) != 0) return false;
    if (b == 0) {
      *offset = pos + 1;
      return true;
    }
    total += 1 + b;
    if (total >= kMaxNameLength || pos + 1 + b > len) return false;
    pos += 1 + b;
  }
}

/// RFC 6891 §6.1.2: the OPT fields live in CLASS and TTL; the rdata is a
/// sequence of {code, length, data} options that must exactly fill it.
util::Result<Edns> make_edns(uint16_t rclass, uint32_t ttl, const uint8_t* rdata, uint16_t rdlength) {
  Edns e;
  // RFC 6891 §6.2.5: values below 512 are treated as 512.
  e.udp_size = rclass < kClassicUdpSize ? kClassicUdpSize : rclass;
  e.ext_rcode = static_cast<uint8_t>(ttl >> 24);
  e.version = static_cast<uint8_t>(ttl >> 16);
  e.flags = static_cast<uint16_t>(ttl);
  size_t p = 0;
  while (p < rdlength) {
    if (rdlength - p < 4) return util::make_error("EDNS option header truncated");
    size_t olen = rd16(rdata + p + 2);
    if (rdlength - p - 4 < olen) return util::make_error("EDNS option runs past the OPT record");
    p += 4 + olen;
  }
  e.options.assign(reinterpret_cast<const char*>(rdata), rdlength);
  return e;
}

}  // namespace

util::Result<Message> parse_message(const uint8_t* data, size_t len) {
  if (data == nullptr || len < kHeaderSize) return util::make_error("message shorter than the 12-octet header");
  Message m;
  m.header = read_header(data);
  size_t pos = kHeaderSize;
  // Each question takes at least 5 octets and each RR at least 11: reject
  // counts that cannot fit before reserving memory for them.
  if (size_t{m.header.qdcount} * 5 > len - pos) return util::make_error("question count exceeds the message");
  size_t rr_total = size_t{m.header.ancount} + m.header.nscount + m.header.arcount;
  if (rr_total * 11 > len - pos) return util::make_error("record counts exceed the message");
  m.questions.reserve(m.header.qdcount);
  for (uint16_t i = 0; i < m.header.qdcount; ++i) {
    auto n = read_name(data, len, &pos);
    if (!n) return util::make_error("question " + std::to_string(i + 1) + ": " + n.error().message);
    if (len - pos < 4) return util::make_error("question " + std::to_string(i + 1) + " truncated");
    m.questions.push_back(Question{std::move(n).value(), rd16(data + pos), rd16(data + pos + 2)});
    pos += 4;
  }
  const uint16_t counts[3] = {m.header.ancount, m.header.nscount, m.header.arcount};
  std::vector<RR>* sections[3] = {&m.answers, &m.authorities, &m.additionals};
  static const char* kSectionNames[3] = {"answer", "authority", "additional"};
  for (int s = 0; s < 3; ++s) {
    sections[s]->reserve(counts[s]);
    for (uint16_t i = 0; i < counts[s]; ++i) {
      std::string where = std::string(kSectionNames[s]) + " record " + std::to_string(i + 1);
      size_t rr_start = pos;
      auto owner = read_name(data, len, &pos);
      if (!owner) return util::make_error(where + ": " + owner.error().message);
      if (len - pos < 10) return util::make_error(where + ": truncated fixed fields");
      uint16_t type = rd16(data + pos);
      uint16_t rclass = rd16(data + pos + 2);
      uint32_t ttl = rd32(data + pos + 4);
      uint16_t rdlength = rd16(data + pos + 8);
      pos += 10;
      if (len - pos < rdlength) return util::make_error(where + ": rdata runs past the end of the message");
      if (m.tsig) return util::make_error("TSIG record is not the last record (RFC 8945 §5.1)");
      if (type == rrtype::OPT) {
        if (s != 2) return util::make_error("OPT record outside the additional section");
        if (m.edns) return util::make_error("more than one OPT record (RFC 6891 §6.1.1)");
        if (!owner->is_root()) return util::make_error("OPT record owner is not the root (RFC 6891 §6.1.2)");
        auto e = make_edns(rclass, ttl, data + pos, rdlength);
        if (!e) return util::make_error(where + ": " + e.error().message);
        m.edns = std::move(e).value();
        pos += rdlength;
        continue;
      }
      // RFC 2136 §2.4 and §2.5: prerequisites and deletions of class ANY or
      // NONE carry empty rdata whatever the type.
      util::Result<std::string> rdata = std::string();
      if (rdlength != 0 || (rclass != rrclass::ANY && rclass != rrclass::NONE)) {
        rdata = rdata_from_wire(type, data, len, pos, rdlength);
        if (!rdata) return util::make_error(where + ": " + rdata.error().message);
      }
      pos += rdlength;
      RR rr{std::move(owner).value(), type, rclass, ttl, std::move(rdata).value()};
      if (type == rrtype::TSIG) {
        // RFC 8945 §5.1: only in additional, and only as the last record.
        if (s != 2 || i + 1 != counts[s]) return util::make_error("TSIG record is not the last record (RFC 8945 §5.1)");
        m.tsig = std::move(rr);
        m.tsig_offset = rr_start;
        continue;
      }
      sections[s]->push_back(std::move(rr));
    }
  }
  return m;
}

util::Result<QueryView> parse_query(const uint8_t* data, size_t len, bool* header_ok) {
  if (header_ok != nullptr) *header_ok = false;
  if (data == nullptr || len < kHeaderSize) return util::make_error("message shorter than the 12-octet header");
  if (header_ok != nullptr) *header_ok = true;
  QueryView q;
  q.header = read_header(data);
  if (q.header.qdcount != 1) return util::make_error("a query must carry exactly one question");
  size_t pos = kHeaderSize;
  auto n = read_name(data, len, &pos);
  if (!n) return util::make_error("question: " + n.error().message);
  if (len - pos < 4) return util::make_error("question truncated");
  q.question.name = std::move(n).value();
  q.question.qtype = rd16(data + pos);
  q.question.qclass = rd16(data + pos + 2);
  pos += 4;
  q.has_question = true;
  q.question_end = pos;
  // Answer and authority are skipped; the additional section is scanned for
  // OPT (RFC 6891 §6.1.1) and TSIG (RFC 8945 §5.1), both checked for placement.
  size_t rr_total = size_t{q.header.ancount} + q.header.nscount + q.header.arcount;
  size_t first_additional = size_t{q.header.ancount} + q.header.nscount;
  for (size_t i = 0; i < rr_total; ++i) {
    size_t owner_at = pos;
    if (!skip_name(data, len, &pos)) return util::make_error("bad owner name in record " + std::to_string(i + 1));
    if (len - pos < 10) return util::make_error("record " + std::to_string(i + 1) + " truncated");
    uint16_t type = rd16(data + pos);
    uint16_t rclass = rd16(data + pos + 2);
    uint32_t ttl = rd32(data + pos + 4);
    uint16_t rdlength = rd16(data + pos + 8);
    pos += 10;
    if (len - pos < rdlength) return util::make_error("rdata runs past the end of the message");
    if (q.has_tsig) return util::make_error("TSIG record is not the last record (RFC 8945 §5.1)");
    if (type == rrtype::OPT) {
      if (i < first_additional) return util::make_error("OPT record outside the additional section");
      if (q.edns) return util::make_error("more than one OPT record (RFC 6891 §6.1.1)");
      if (data[owner_at] != 0) return util::make_error("OPT record owner is not the root (RFC 6891 §6.1.2)");
      auto e = make_edns(rclass, ttl, data + pos, rdlength);
      if (!e) return e.error();
      q.edns = std::move(e).value();
    } else if (type == rrtype::TSIG) {
      if (i + 1 != rr_total || i < first_additional) {
        return util::make_error("TSIG record is not the last record (RFC 8945 §5.1)");
      }
      q.has_tsig = true;
    }
    pos += rdlength;
  }
  return q;
}

MessageWriter::MessageWriter(uint8_t* buf, size_t limit)
    : buf_(buf), limit_(limit > kMaxUdpPayload ? kMaxUdpPayload : limit) {
  if (limit_ < kHeaderSize) limit_ = kHeaderSize;  // callers always pass a buffer of at least a header
}

void MessageWriter::set_header(const Header& h) {
  uint16_t qd = header_.qdcount, an = header_.ancount, ns = header_.nscount, ar = header_.arcount;
  header_ = h;
  header_.qdcount = qd;
  header_.ancount = an;
  header_.nscount = ns;
  header_.arcount = ar;
}

void MessageWriter::reserve(size_t n) { reserved_ += n; }
void MessageWriter::unreserve(size_t n) { reserved_ = n > reserved_ ? 0 : reserved_ - n; }

bool MessageWriter::name_matches_at(size_t at, const char* wire) const {
  // Walks a name already in the buffer (following our own pointers, which
  // always point backwards) and compares it with uncompressed `wire`.
  size_t w = 0;
  size_t pos = at;
  for (int guard = 0; guard < 256; ++guard) {
    uint8_t b = buf_[pos];
    if ((b & 0xC0) == 0xC0) {
      pos = (static_cast<size_t>(b & 0x3F) << 8) | buf_[pos + 1];
      continue;
    }
    if (b != static_cast<uint8_t>(wire[w])) return false;
    if (b == 0) return true;
    // Exact octets, not case-insensitive: a pointer must not change the case
    // of the name it stands for (RFC 4343 §4.1 asks to preserve case).
    if (std::memcmp(buf_ + pos + 1, wire + w + 1, b) != 0) return false;
    pos += 1 + b;
    w += 1 + b;
  }
  return false;
}

bool MessageWriter::write_name(const Name& name, bool compress) { return write_wire_name(name.wire(), compress); }

bool MessageWriter::write_wire_name(std::string_view wire, bool compress) {
  const size_t room = limit_ - reserved_;
  // Find the longest suffix of `name` already in the message (RFC 1035 §4.1.4).
  size_t prefix_len = wire.size();  // octets written literally
  int pointer = -1;
  if (compress) {
    for (size_t off = 0; off + 1 < wire.size() && pointer < 0; off += 1 + static_cast<uint8_t>(wire[off])) {
      for (size_t t = 0; t < target_count_; ++t) {
        if (name_matches_at(targets_[t], wire.data() + off)) {
          pointer = targets_[t];
          prefix_len = off;
          break;
        }
      }
    }
  }
  size_t need = pointer >= 0 ? prefix_len + 2 : wire.size();
  if (reserved_ > limit_ || pos_ + need > room) return false;
  // Remember where each newly written suffix starts, while pointers can reach it.
  for (size_t off = 0; off < prefix_len && off + 1 < wire.size(); off += 1 + static_cast<uint8_t>(wire[off])) {
    if (pos_ + off < 0x4000 && target_count_ < kMaxCompressionTargets) {
      targets_[target_count_++] = static_cast<uint16_t>(pos_ + off);
    }
  }
  std::memcpy(buf_ + pos_, wire.data(), prefix_len);
  pos_ += prefix_len;
  if (pointer >= 0) {
    wr16(buf_ + pos_, static_cast<uint16_t>(0xC000 | pointer));
    pos_ += 2;
  }
  return true;
}

bool MessageWriter::write_bytes(const void* data, size_t n) {
  if (reserved_ > limit_ || pos_ + n > limit_ - reserved_) return false;
  if (n != 0) std::memcpy(buf_ + pos_, data, n);
  pos_ += n;
  return true;
}

bool MessageWriter::add_question(const Name& name, uint16_t qtype, uint16_t qclass) {
  size_t saved_pos = pos_, saved_targets = target_count_;
  uint8_t fixed[4];
  wr16(fixed, qtype);
  wr16(fixed + 2, qclass);
  if (!write_name(name, true) || !write_bytes(fixed, 4)) {
    pos_ = saved_pos;
    target_count_ = saved_targets;
    return false;
  }
  ++header_.qdcount;
  return true;
}

bool MessageWriter::write_rdata(uint16_t type, std::string_view rdata) {
  if (!rdata_names_compressible(type) || !rdata_validate(type, rdata).ok()) {
    return write_bytes(rdata.data(), rdata.size());
  }
  // Layout of the RFC 1035 types: optional fixed prefix, names, fixed tail.
  size_t prefix = type == rrtype::MX ? 2 : 0;
  if (!write_bytes(rdata.data(), prefix)) return false;
  size_t p = prefix;
  int names = (type == rrtype::SOA || type == 14) ? 2 : 1;
  for (int i = 0; i < names; ++i) {
    size_t end = detail::wire_name_end(rdata, p);
    if (!write_wire_name(rdata.substr(p, end - p), true)) return false;
    p = end;
  }
  return write_bytes(rdata.data() + p, rdata.size() - p);
}

bool MessageWriter::add_rr(Section section, const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl,
                           std::string_view rdata) {
  size_t saved_pos = pos_, saved_targets = target_count_;
  auto rollback = [&] {
    pos_ = saved_pos;
    target_count_ = saved_targets;
    return false;
  };
  if (rdata.size() > 65535) return rollback();
  uint8_t fixed[10];
  wr16(fixed, type);
  wr16(fixed + 2, rclass);
  wr32(fixed + 4, ttl);
  wr16(fixed + 8, 0);
  if (!write_name(owner, true)) return rollback();
  size_t rdlength_at = pos_ + 8;
  if (!write_bytes(fixed, 10)) return rollback();
  size_t rdata_start = pos_;
  if (!write_rdata(type, rdata)) return rollback();
  wr16(buf_ + rdlength_at, static_cast<uint16_t>(pos_ - rdata_start));
  switch (section) {
    case Section::Answer: ++header_.ancount; break;
    case Section::Authority: ++header_.nscount; break;
    case Section::Additional: ++header_.arcount; break;
  }
  return true;
}

bool MessageWriter::add_opt(uint16_t udp_size, uint8_t ext_rcode, uint8_t version, uint16_t flags) {
  // RFC 6891 §6.1.2: root owner, CLASS = payload size, TTL = ext-rcode,
  // version and flags, no options. Uses up to 11 octets of the reservation.
  size_t from_reserve = reserved_ < 11 ? reserved_ : 11;
  reserved_ -= from_reserve;
  uint8_t rr[11] = {0};
  wr16(rr + 1, rrtype::OPT);
  wr16(rr + 3, udp_size);
  wr32(rr + 5, (uint32_t{ext_rcode} << 24) | (uint32_t{version} << 16) | flags);
  wr16(rr + 9, 0);
  if (!write_bytes(rr, sizeof rr)) {
    reserved_ += from_reserve;
    return false;
  }
  ++header_.arcount;
  return true;
}

size_t MessageWriter::finish() {
  wr16(buf_, header_.id);
  wr16(buf_ + 2, header_.flags);
  wr16(buf_ + 4, header_.qdcount);
  wr16(buf_ + 6, header_.ancount);
  wr16(buf_ + 8, header_.nscount);
  wr16(buf_ + 10, header_.arcount);
  return pos_;
}

}  // namespace dns
