// AXFR and IXFR out: checks a transfer request (TSIG, zone, ACL), then
// streams the zone or its journal's diffs message by message.
#include "server/xfr.h"

#include <arpa/inet.h>

#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "dns/message.h"

namespace server {

namespace {

/// The longest message a transfer sends (RFC 5936 §2.2: up to 65535 octets).
constexpr size_t kMessageLimit = 65535;

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

std::string peer_text(const sockaddr* peer) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (peer && peer->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr, buf, sizeof buf);
  } else if (peer && peer->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

/// How the messages of a response are signed (RFC 8945 §5.3): not at all
/// (an unsigned request), as a single answer (a refusal: signed, or the
/// unsigned BADKEY/BADSIG error, or the signed BADTIME one), or message by
/// message as a stream (a transfer, §5.3.1).
struct Signing {
  std::optional<dns::tsig::ServerSigning> answer;
  std::unique_ptr<dns::tsig::StreamSigner> stream;
};

/// A response of a single message made up front (a refusal, the SOA alone).
class OneMessage final : public XfrStream {
 public:
  explicit OneMessage(std::string msg) : msg_(std::move(msg)) {}
  size_t next(uint8_t* out, size_t cap) override {
    if (sent_ || msg_.size() > cap) return 0;
    sent_ = true;
    std::memcpy(out, msg_.data(), msg_.size());
    return msg_.size();
  }

 private:
  std::string msg_;
  bool sent_ = false;
};

/// A transfer: `head` records, then (if `body`) every record of the zone
/// but its SOA, then `tail` records, split into messages.
class TransferStream final : public XfrStream {
 public:
  TransferStream(std::shared_ptr<const store::Version> version, const zone::Zone* zone, MessageSplitter splitter,
                 std::unique_ptr<dns::tsig::StreamSigner> signer, std::function<uint64_t()> now)
      : version_(std::move(version)), zone_(zone), splitter_(std::move(splitter)), signer_(std::move(signer)),
        now_(std::move(now)) {}

  std::vector<const dns::RR*> head, tail;
  std::vector<dns::RR> own;  // records the stream made itself (the current SOA)
  std::vector<std::shared_ptr<const store::Diff>> own_diffs;  // diffs it made (a condensed chain)
  bool body = false;

  /// Collects the zone's names once, so the body can resume where a message ended.
  void prepare_body() {
    body = true;
    nodes_.reserve(zone_->nodes().size());
    zone_->nodes().for_each([&](const zone::Node& n) {
      if (!n.rrsets.empty()) nodes_.push_back(&n);
    });
  }

  size_t next(uint8_t* out, size_t cap) override {
    if (done_ || cap < kMessageLimit) return 0;
    splitter_.begin(out);
    bool full = false;
    while (!full && !done_) {
      Item item;
      if (!peek(item)) {
        done_ = true;
        break;
      }
      if (splitter_.add(*item.owner, item.type, item.ttl, item.rdata)) {
        advance();
      } else {
        full = true;
      }
    }
    if (splitter_.count() == 0) {
      // Not even one record fits a message: cannot happen with records of
      // at most 65535 octets of rdata plus a name, unless the TSIG is huge.
      if (!done_) spdlog::error("transfer of {}: a record does not fit in a message", zone_->apex().to_text());
      done_ = true;
      return 0;
    }
    size_t len = splitter_.finish();
    // RFC 8945 §5.3.1: every message is signed (the RFC asks at least every
    // 100th; signing all costs one HMAC per 64 KiB).
    if (signer_) len = signer_->add(out, len, cap, now_(), /*sign=*/true);
    return len;
  }

 private:
  struct Item {
    const dns::Name* owner = nullptr;
    uint16_t type = 0;
    uint32_t ttl = 0;
    std::string_view rdata;
  };

  enum class Phase { Head, Body, Tail, Done };

  /// The record at the cursor, without moving it.
  bool peek(Item& item) {
    for (;;) {
      switch (phase_) {
        case Phase::Head:
          if (index_ < head.size()) return from_rr(*head[index_], item);
          phase_ = body ? Phase::Body : Phase::Tail;
          index_ = 0;
          continue;
        case Phase::Body:
          if (body_item(item)) return true;
          phase_ = Phase::Tail;
          index_ = 0;
          continue;
        case Phase::Tail:
          if (index_ < tail.size()) return from_rr(*tail[index_], item);
          phase_ = Phase::Done;
          continue;
        case Phase::Done:
          return false;
      }
    }
  }

  void advance() {
    if (phase_ == Phase::Body) {
      ++rdata_index_;
    } else {
      ++index_;
    }
  }

  static bool from_rr(const dns::RR& rr, Item& item) {
    item.owner = &rr.owner;
    item.type = rr.type;
    item.ttl = rr.ttl;
    item.rdata = rr.rdata;
    return true;
  }

  /// The body's cursor: node, RRset within it, rdata within that.
  bool body_item(Item& item) {
    while (node_index_ < nodes_.size()) {
      const zone::Node& n = *nodes_[node_index_];
      if (!owner_ready_) {
        owner_ = n.owner();
        rrset_it_ = n.rrsets.begin();
        rdata_index_ = 0;
        owner_ready_ = true;
      }
      while (rrset_it_ != n.rrsets.end()) {
        const zone::RRset& s = *rrset_it_;
        // The cluster's private signing keys never leave it (store/store.h).
        const bool sent = s.type != dns::rrtype::SOA && s.type != dns::rrtype::SIGNING_KEY;
        if (sent && rdata_index_ < s.rdatas.size()) {
          if (rdata_it_index_ != rdata_index_ || rdata_it_set_ != &s) {
            // Walk to the rdata (forward only: usually one step).
            if (rdata_it_set_ != &s || rdata_it_index_ > rdata_index_) {
              rdata_it_ = s.rdatas.begin();
              rdata_it_index_ = 0;
              rdata_it_set_ = &s;
            }
            while (rdata_it_index_ < rdata_index_) {
              ++rdata_it_;
              ++rdata_it_index_;
            }
          }
          item.owner = &owner_;
          item.type = s.type;
          item.ttl = s.ttl;
          item.rdata = *rdata_it_;
          return true;
        }
        ++rrset_it_;
        rdata_index_ = 0;
      }
      ++node_index_;
      owner_ready_ = false;
    }
    return false;
  }

  std::shared_ptr<const store::Version> version_;  // keeps every record below alive
  const zone::Zone* zone_;
  MessageSplitter splitter_;
  std::unique_ptr<dns::tsig::StreamSigner> signer_;  // null: unsigned
  std::function<uint64_t()> now_;
  Phase phase_ = Phase::Head;
  size_t index_ = 0;
  std::vector<const zone::Node*> nodes_;
  size_t node_index_ = 0;
  bool owner_ready_ = false;
  dns::Name owner_;
  zone::RRsetRange::iterator rrset_it_;
  size_t rdata_index_ = 0;
  zone::RdataList::iterator rdata_it_;
  size_t rdata_it_index_ = 0;
  const zone::RRset* rdata_it_set_ = nullptr;
  bool done_ = false;
};

bool acl_allows(const TransferAcl& acl, const sockaddr* peer, const dns::Name* key) {
  if (!acl.allow && !acl.keys) return false;
  if (acl.allow) {
    bool in = false;
    for (const Network& n : *acl.allow) in = in || n.contains(peer);
    if (!in) return false;
  }
  if (acl.keys) {
    if (!key) return false;
    bool known = false;
    for (const dns::Name& k : *acl.keys) known = known || k == *key;
    if (!known) return false;
  }
  return true;
}

}  // namespace

MessageSplitter::MessageSplitter(uint16_t id, uint16_t flags, const dns::Name& qname, uint16_t qtype, size_t limit,
                                 size_t reserve)
    : id_(id), flags_(flags), qname_(qname), qtype_(qtype), limit_(limit), reserve_(reserve) {}

void MessageSplitter::begin(uint8_t* buf) {
  writer_.emplace(buf, limit_);
  dns::Header h;
  h.id = id_;
  h.flags = flags_;
  writer_->set_header(h);
  writer_->reserve(reserve_);
  // RFC 5936 §2.2.1: the question in the first message; later ones may omit it.
  if (first_) writer_->add_question(qname_, qtype_, dns::rrclass::IN);
  first_ = false;
  count_ = 0;
}

bool MessageSplitter::add(const dns::Name& owner, uint16_t type, uint32_t ttl, std::string_view rdata) {
  if (!writer_->add_rr(dns::Section::Answer, owner, type, dns::rrclass::IN, ttl, rdata)) return false;
  ++count_;
  return true;
}

size_t MessageSplitter::finish() {
  writer_->unreserve(reserve_);
  return writer_->finish();
}

XfrHandler::XfrHandler(const store::Store& store, XfrOptions options) : store_(store), options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return static_cast<uint64_t>(::time(nullptr)); };
}

bool XfrHandler::is_transfer(const uint8_t* packet, size_t len) {
  if (len < dns::kHeaderSize + 5 || (packet[2] & 0x80) || ((packet[2] >> 3) & 0xF) != dns::opcode::QUERY) return false;
  if (rd16(packet + 4) != 1) return false;
  // Skip the question's name (uncompressed in a query) to read its type.
  size_t pos = dns::kHeaderSize;
  while (pos < len && packet[pos] != 0) {
    if (packet[pos] > 63) return false;
    pos += 1 + packet[pos];
  }
  if (pos + 5 > len) return false;
  const uint16_t qtype = rd16(packet + pos + 1);
  return qtype == dns::rrtype::AXFR || qtype == dns::rrtype::IXFR;
}

std::unique_ptr<XfrStream> XfrHandler::start(const uint8_t* query, size_t len, const sockaddr* peer) {
  const uint64_t now = options_.now();
  const std::string who = peer_text(peer);
  const uint16_t id = rd16(query);
  const uint16_t qflags = rd16(query + 2);
  auto parsed = dns::parse_message(query, len);

  // A response of the header, the question and the rcode, signed as `signing` says.
  auto answer = [&](uint16_t rcode, Signing& signing, const dns::Question* q) {
    uint8_t buf[1024];
    dns::MessageWriter w(buf, sizeof buf);
    dns::Header h;
    h.id = id;
    h.flags = static_cast<uint16_t>(dns::flag::QR | (qflags & 0x7800) | (rcode & 0xF));
    w.set_header(h);
    if (q) w.add_question(q->name, q->qtype, q->qclass);
    std::string msg(reinterpret_cast<const char*>(buf), w.finish());
    if (signing.answer) signing.answer->append(msg);
    return std::make_unique<OneMessage>(std::move(msg));
  };
  Signing none;
  if (!parsed || parsed->questions.size() != 1) {
    spdlog::info("transfer from {}: FORMERR: {}", who, parsed ? "not exactly one question" : parsed.error().message);
    return answer(dns::rcode::FORMERR, none, nullptr);
  }
  const dns::Message& m = parsed.value();
  const dns::Question& q = m.questions.front();
  const char* kind = q.qtype == dns::rrtype::AXFR ? "AXFR" : "IXFR";

  // RFC 8945 §5.2: the signature first.
  Signing signing;
  const dns::Name* key_name = nullptr;
  const dns::tsig::Key* key = nullptr;
  std::string request_mac;
  if (m.tsig) {
    dns::tsig::Verification v = dns::tsig::verify(query, len, m, options_.keys, now);
    if (v.error == dns::rcode::FORMERR) {
      spdlog::info("transfer from {}: FORMERR: {}", who, v.reason);
      return answer(dns::rcode::FORMERR, none, &q);
    }
    // §5.3.2: BADKEY and BADSIG answered unsigned, BADTIME signed (§5.2.3).
    signing.answer.emplace(v, now, options_.fudge);
    if (signing.answer->failed()) {
      ++counters_.notauth;
      spdlog::info("{} of {} from {}: NOTAUTH: {}", kind, q.name.to_text(), who, v.reason);
      return answer(dns::rcode::NOTAUTH, signing, &q);
    }
    key = v.key;
    key_name = &v.key->name;
    request_mac = v.rdata.mac;
  }

  auto version = store_.version();
  const zone::Zone* zone = version->zones.find_zone(q.name);
  if (q.qclass != dns::rrclass::IN || !zone || zone->apex() != q.name || !zone->soa() || zone->soa()->rdatas.empty()) {
    // RFC 5936 §2.2.1: not authoritative for that zone.
    ++counters_.notauth;
    spdlog::info("{} of {} from {}: NOTAUTH: not a zone served here", kind, q.name.to_text(), who);
    return answer(dns::rcode::NOTAUTH, signing, &q);
  }
  auto acl_it = options_.zone_acls.find(zone->apex());
  const TransferAcl& acl = acl_it == options_.zone_acls.end() ? options_.acl : acl_it->second;
  if (!acl_allows(acl, peer, key_name)) {
    ++counters_.refused;
    spdlog::info("{} of {} from {}: REFUSED by the transfer ACL{}", kind, q.name.to_text(), who,
                 key_name ? " (key " + key_name->to_text() + ")" : std::string(" (unsigned)"));
    return answer(dns::rcode::REFUSED, signing, &q);
  }

  const zone::RRset& soa_set = *zone->soa();
  dns::RR soa{zone->apex(), dns::rrtype::SOA, dns::rrclass::IN, soa_set.ttl, std::string(soa_set.rdatas.front())};
  const uint32_t serial = dns::soa_decode(soa.rdata).value().serial;
  const uint16_t flags = static_cast<uint16_t>(dns::flag::QR | dns::flag::AA | (qflags & 0x7800));
  std::unique_ptr<dns::tsig::StreamSigner> signer;
  if (key) signer = std::make_unique<dns::tsig::StreamSigner>(*key, request_mac, options_.fudge);
  MessageSplitter splitter(id, flags, q.name, q.qtype, kMessageLimit, signer ? signer->record_size() : 0);
  auto stream = std::make_unique<TransferStream>(version, zone, std::move(splitter), std::move(signer), options_.now);
  stream->own.reserve(1);
  stream->own.push_back(soa);
  const dns::RR* current = &stream->own.front();

  bool whole = q.qtype == dns::rrtype::AXFR;
  if (q.qtype == dns::rrtype::IXFR) {
    // RFC 1995 §3: the client's SOA is in the authority section.
    const dns::RR* theirs = nullptr;
    for (const dns::RR& rr : m.authorities) {
      if (rr.type == dns::rrtype::SOA) theirs = &rr;
    }
    auto their_fields = theirs ? dns::soa_decode(theirs->rdata) : util::Result<dns::SoaFields>(util::make_error("none"));
    if (!their_fields) {
      spdlog::info("IXFR of {} from {}: FORMERR: no SOA in the authority section", q.name.to_text(), who);
      return answer(dns::rcode::FORMERR, signing, &q);
    }
    const uint32_t theirs_serial = their_fields->serial;
    if (!store::serial_newer(serial, theirs_serial)) {
      // §4: the client is up to date (or ahead): the SOA alone.
      ++counters_.ixfr_uptodate;
      spdlog::info("IXFR of {} from {}: serial {} is current ({}), SOA only", q.name.to_text(), who, theirs_serial,
                   serial);
      stream->head.push_back(current);
      return stream;
    }
    const store::ZoneJournal* journal = version->journal(zone->apex());
    auto diffs = journal ? journal->since(theirs_serial) : std::nullopt;
    if (diffs && !diffs->empty() && diffs->back()->to_serial() == serial) {
      // RFC 1995 §5: a chain whose serials wrap past 2^32 goes out condensed
      // into one difference. Some secondaries (NSD 4.6) compare the serials
      // inside an IXFR as plain integers and refuse such a chain, and never
      // fall back to AXFR; a single difference has no serials in between.
      bool increasing = true;
      uint32_t previous = theirs_serial;
      for (const auto& d : *diffs) {
        increasing = increasing && d->to_serial() > previous;
        previous = d->to_serial();
      }
      if (!increasing && diffs->size() > 1) {
        store::Diff merged = *diffs->front();
        for (size_t i = 1; i < diffs->size(); ++i) merged = store::condense(merged, *(*diffs)[i]);
        auto one = std::make_shared<const store::Diff>(std::move(merged));
        stream->own_diffs.push_back(one);
        diffs = std::vector<std::shared_ptr<const store::Diff>>{one};
      }
      ++counters_.ixfr;
      spdlog::info("IXFR of {} from {}: {} diffs from serial {} to {}", q.name.to_text(), who, diffs->size(),
                   theirs_serial, serial);
      // §4: the new SOA, then each diff as old SOA, removals, new SOA, additions, then the new SOA.
      stream->head.push_back(current);
      for (const auto& d : *diffs) {
        stream->head.push_back(&d->old_soa);
        for (const dns::RR& rr : d->removed) stream->head.push_back(&rr);
        stream->head.push_back(&d->new_soa);
        for (const dns::RR& rr : d->added) stream->head.push_back(&rr);
      }
      stream->tail.push_back(current);
      // The diffs live in `version`, which the stream holds.
      return stream;
    }
    // §4: the journal does not reach back that far: the whole zone, as AXFR would send it.
    ++counters_.ixfr_full;
    spdlog::info("IXFR of {} from {}: serial {} is older than the journal, sending the whole zone at {}",
                 q.name.to_text(), who, theirs_serial, serial);
    whole = true;
  } else {
    ++counters_.axfr;
    spdlog::info("AXFR of {} from {}: serial {}, {} records", q.name.to_text(), who, serial, zone->record_count());
  }
  if (whole) {
    stream->head.push_back(current);
    stream->prepare_body();
    stream->tail.push_back(current);
  }
  return stream;
}

void render_transfer_metrics(PrometheusWriter& w, const XfrHandler& xfr, const Notifier& notifier,
                             const store::Store& store) {
  using L = PrometheusWriter::Labels;
  const TransferCounters& c = xfr.counters();
  w.family("dnsnode_transfers_total", "counter",
           "Zone transfer requests answered by this node, by kind: axfr, ixfr (journal diffs), ixfr_full (the whole "
           "zone for a serial older than the journal), ixfr_uptodate (the SOA alone), refused, notauth.");
  w.sample("dnsnode_transfers_total", L{{"kind", "axfr"}}, c.axfr.load());
  w.sample("dnsnode_transfers_total", L{{"kind", "ixfr"}}, c.ixfr.load());
  w.sample("dnsnode_transfers_total", L{{"kind", "ixfr_full"}}, c.ixfr_full.load());
  w.sample("dnsnode_transfers_total", L{{"kind", "ixfr_uptodate"}}, c.ixfr_uptodate.load());
  w.sample("dnsnode_transfers_total", L{{"kind", "refused"}}, c.refused.load());
  w.sample("dnsnode_transfers_total", L{{"kind", "notauth"}}, c.notauth.load());
  const NotifyCounters& n = notifier.counters();
  w.family("dnsnode_notify_total", "counter",
           "NOTIFY messages sent by this node (as leader), answered with NOERROR, and failed (unanswered in time or "
           "answered with an error).");
  w.sample("dnsnode_notify_total", L{{"result", "sent"}}, n.sent.load());
  w.sample("dnsnode_notify_total", L{{"result", "answered"}}, n.answered.load());
  w.sample("dnsnode_notify_total", L{{"result", "failed"}}, n.failed.load());
  auto version = store.version();
  w.family("dnsnode_journal_depth", "gauge", "Diffs in each zone's IXFR journal on this node.");
  for (const dns::Name& apex : version->zones.zone_names()) {
    const store::ZoneJournal* j = version->journal(apex);
    w.sample("dnsnode_journal_depth", L{{"zone", apex.to_text()}}, uint64_t{j ? j->size() : 0u});
  }
  w.family("dnsnode_journal_bytes", "gauge", "Size of each zone's IXFR journal on this node (estimated wire octets).");
  for (const dns::Name& apex : version->zones.zone_names()) {
    const store::ZoneJournal* j = version->journal(apex);
    w.sample("dnsnode_journal_bytes", L{{"zone", apex.to_text()}}, uint64_t{j ? j->bytes() : 0u});
  }
}

util::Result<void> TransferReader::add(const std::vector<dns::RR>& answers) {
  auto serial_of = [](const dns::RR& rr) -> std::optional<uint32_t> {
    auto f = dns::soa_decode(rr.rdata);
    return f ? std::optional<uint32_t>(f->serial) : std::nullopt;
  };
  for (const dns::RR& rr : answers) {
    if (done_) return util::make_error("records after the transfer's final SOA");
    const bool is_soa = rr.type == dns::rrtype::SOA;
    const std::optional<uint32_t> serial = is_soa ? serial_of(rr) : std::nullopt;
    if (is_soa && !serial) return util::make_error("malformed SOA in the transfer");
    ++seen_;
    if (seen_ == 1) {
      // RFC 5936 §2.2, RFC 1995 §4: the new version's SOA comes first.
      if (!is_soa) return util::make_error("the transfer does not begin with an SOA");
      soa_ = rr;
      serial_ = *serial;
      continue;
    }
    if (seen_ == 2) {
      if (is_soa && *serial == serial_) {
        kind_ = Kind::Full;  // an empty zone: the SOA twice
        done_ = true;
        continue;
      }
      if (is_soa && ixfr_serial_) {
        // RFC 1995 §4: an incremental response: the first diff's old SOA.
        kind_ = Kind::Incremental;
        diffs_.emplace_back();
        diffs_.back().old_soa = rr;
        adding_ = false;
        continue;
      }
      if (is_soa) return util::make_error("an AXFR with a second SOA of another serial");
      kind_ = Kind::Full;
    }
    if (kind_ == Kind::Full) {
      if (is_soa) {
        if (*serial != serial_) return util::make_error("the transfer ends with an SOA of another serial");
        done_ = true;
      } else {
        records_.push_back(rr);
      }
      continue;
    }
    // Incremental: old SOA, removals, new SOA, additions, ..., final SOA.
    store::Diff& d = diffs_.back();
    if (!is_soa) {
      (adding_ ? d.added : d.removed).push_back(rr);
      continue;
    }
    if (!adding_) {
      d.new_soa = rr;
      adding_ = true;
      continue;
    }
    if (*serial != d.to_serial()) return util::make_error("a diff does not start at the previous one's serial");
    if (*serial == serial_) {
      done_ = true;
      continue;
    }
    diffs_.emplace_back();
    diffs_.back().old_soa = rr;
    adding_ = false;
  }
  // RFC 1995 §4: an IXFR answered with a single SOA means up to date.
  if (!done_ && seen_ == 1 && ixfr_serial_) {
    kind_ = Kind::UpToDate;
    done_ = true;
  }
  return {};
}

}  // namespace server
