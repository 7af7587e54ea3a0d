// Zone listing, export and import planning for ZONES / ZONE SHOW / ZONE
// EXPORT / ZONE IMPORT.
#include "node/zone_commands.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <utility>

#include "node/zone_seed.h"
#include "zone/node.h"
#include "zone/node_table.h"
#include "zone/zone_file.h"

namespace node {
namespace {

uint32_t serial_of(const zone::Zone& z) {
  const zone::RRset* soa = z.soa();
  if (!soa || soa->rdatas.empty()) return 0;
  auto fields = dns::soa_decode(soa->rdatas.front());
  return fields ? fields->serial : 0;
}

/// The zone whose apex is exactly `apex`, or null.
const zone::Zone* exact_zone(const zone::ZoneSet& zones, const dns::Name& apex) {
  const zone::Zone* z = zones.find_zone(apex);
  return z && z->apex() == apex ? z : nullptr;
}

util::Error no_such_zone(const dns::Name& apex) {
  return util::make_error("no zone " + apex.to_text() + " is served (ZONES lists them)");
}

/// Whether a line of the text is an $INCLUDE directive (a directive starts
/// in the first column, RFC 1035 §5.1).
bool has_include(std::string_view text) {
  constexpr std::string_view kInclude = "$INCLUDE";
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() >= kInclude.size()) {
      bool match = true;
      for (size_t i = 0; i < kInclude.size() && match; ++i) {
        match = std::toupper(static_cast<unsigned char>(line[i])) == kInclude[i];
      }
      if (match) return true;
    }
    pos = end + 1;
  }
  return false;
}

/// The SOA fields other than the serial, to tell an edited SOA from one
/// whose serial only moved.
bool same_soa_but_serial(std::string_view a, std::string_view b) {
  auto fa = dns::soa_decode(a);
  auto fb = dns::soa_decode(b);
  if (!fa || !fb) return false;
  fa->serial = fb->serial = 0;
  return dns::soa_encode(*fa) == dns::soa_encode(*fb);
}

/// A key whose byte order is RFC 4034 §6.1 canonical order: the labels from
/// the rightmost, lower-cased, each ended by 00 00 (an octet 00 inside a
/// label is written 00 01), so a label sorts before any longer label it
/// begins. Sorting a million names by key is a plain string sort.
std::string canonical_key(std::string_view wire) {
  std::vector<std::string_view> labels;
  for (size_t i = 0; i < wire.size() && wire[i] != 0;) {
    size_t len = static_cast<uint8_t>(wire[i]);
    labels.push_back(wire.substr(i + 1, len));
    i += 1 + len;
  }
  std::string key;
  key.reserve(wire.size() + 2 * labels.size());
  for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
    for (char c : *it) {
      key.push_back(static_cast<char>(dns::ascii_lower(static_cast<uint8_t>(c))));
      if (c == 0) key.push_back('\x01');
    }
    key.append(2, '\0');
  }
  return key;
}

}  // namespace

std::vector<dns::RR> zone_records(const zone::ZoneSet& zones, const dns::Name& apex, bool canonical_order) {
  std::vector<dns::RR> out;
  const zone::Zone* z = exact_zone(zones, apex);
  if (!z) return out;
  std::vector<std::pair<std::string, const zone::Node*>> nodes;
  nodes.reserve(z->nodes().size());
  z->nodes().for_each([&](const zone::Node& n) {
    if (!n.rrsets.empty()) nodes.emplace_back(canonical_order ? canonical_key(n.wire()) : std::string(), &n);
  });
  if (canonical_order) {
    std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  out.reserve(z->record_count());
  for (const auto& [key, n] : nodes) {
    const dns::Name owner = n->owner();
    // The SOA leads its node's records, as a master file starts with it.
    for (bool soa_pass : {true, false}) {
      for (const zone::RRset& s : n->rrsets) {
        if ((s.type == dns::rrtype::SOA) != soa_pass) continue;
        for (std::string_view rd : s.rdatas) {
          dns::RR rr;
          rr.owner = owner;
          rr.type = s.type;
          rr.rclass = dns::rrclass::IN;
          rr.ttl = s.ttl;
          rr.rdata.assign(rd);
          out.push_back(std::move(rr));
        }
      }
    }
  }
  return out;
}

nlohmann::json zone_list(const zone::ZoneSet& zones) {
  nlohmann::json list = nlohmann::json::array();
  for (const dns::Name& apex : zones.zone_names()) {
    const zone::Zone* z = exact_zone(zones, apex);
    if (!z) continue;
    list.push_back({{"zone", apex.to_text()}, {"serial", serial_of(*z)}, {"records", z->record_count()}});
  }
  return list;
}

util::Result<nlohmann::json> zone_show(const zone::ZoneSet& zones, const dns::Name& apex) {
  const zone::Zone* z = exact_zone(zones, apex);
  if (!z) return no_such_zone(apex);
  nlohmann::json out{{"zone", z->apex().to_text()}, {"serial", serial_of(*z)}, {"records", z->record_count()}};
  if (const zone::RRset* soa = z->soa(); soa && !soa->rdatas.empty()) {
    if (auto f = dns::soa_decode(soa->rdatas.front())) {
      out["soa"] = {{"mname", f->mname.to_text()}, {"rname", f->rname.to_text()}, {"serial", f->serial},
                    {"refresh", f->refresh},       {"retry", f->retry},         {"expire", f->expire},
                    {"minimum", f->minimum},       {"ttl", soa->ttl}};
    }
  }
  nlohmann::json rrsets = nlohmann::json::array();
  std::vector<dns::RR> records = zone_records(zones, apex);
  for (size_t i = 0; i < records.size();) {
    const dns::RR& first = records[i];
    nlohmann::json data = nlohmann::json::array();
    size_t j = i;
    for (; j < records.size() && records[j].owner == first.owner && records[j].type == first.type; ++j) {
      data.push_back(dns::rdata_to_text(records[j].type, records[j].rdata));
    }
    rrsets.push_back(
        {{"name", first.owner.to_text()}, {"ttl", first.ttl}, {"type", dns::type_to_text(first.type)}, {"data", data}});
    i = j;
  }
  out["rrsets"] = std::move(rrsets);
  return out;
}

util::Result<std::string> zone_export(const zone::ZoneSet& zones, const dns::Name& apex) {
  const zone::Zone* z = exact_zone(zones, apex);
  if (!z) return no_such_zone(apex);
  std::vector<dns::RR> records = zone_records(zones, apex);
  std::string out = "; zone " + z->apex().to_text() + " serial " + std::to_string(serial_of(*z)) + ", " +
                    std::to_string(records.size()) + " records, exported by dns-node\n";
  // RFC 1035 §5.1: names below are absolute, so $ORIGIN only documents the zone.
  out += "$ORIGIN " + z->apex().to_text() + "\n";
  for (const dns::RR& rr : records) {
    out += rr.owner.to_text();
    out += ' ';
    out += std::to_string(rr.ttl);
    out += " IN ";
    out += dns::type_to_text(rr.type);
    out += ' ';
    out += dns::rdata_to_text(rr.type, rr.rdata);
    out += '\n';
  }
  return out;
}

util::Result<ZoneImportPlan> plan_zone_import(const zone::ZoneSet& zones, std::string_view text,
                                              const dns::Name& origin) {
  // The node must not read files on behalf of a client of its control socket.
  if (has_include(text)) {
    return util::make_error("$INCLUDE is not accepted in an imported zone: send the included text inline");
  }
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  std::string owned(text);
  zone::ZoneFileResult parsed = zone::detect_format(owned) == zone::ZoneFileFormat::Legacy
                                    ? zone::parse_legacy(owned, "import")
                                    : zone::parse_master(owned, "import", origin, "");
  owned = std::string();
  if (!parsed.errors.empty()) {
    std::string msg = parsed.errors.front();
    if (parsed.errors.size() > 1) msg += " (and " + std::to_string(parsed.errors.size() - 1) + " more bad lines)";
    return util::make_error("nothing imported: " + msg);
  }
  const dns::RR* soa = nullptr;
  for (const dns::RR& rr : parsed.records) {
    if (rr.type != dns::rrtype::SOA) continue;
    if (soa && soa->owner != rr.owner) {
      return util::make_error("nothing imported: the text holds SOA records of two zones (" + soa->owner.to_text() +
                              " and " + rr.owner.to_text() + "); import one zone at a time");
    }
    soa = &rr;
  }
  if (!soa) return util::make_error("nothing imported: the text has no SOA record (a zone's text starts with its SOA)");

  ZoneImportPlan plan;
  const auto parsed_at = Clock::now();
  plan.parse_seconds = std::chrono::duration<double>(parsed_at - started).count();
  plan.apex = soa->owner;
  plan.records_in_file = parsed.records.size();
  for (const dns::RR& rr : parsed.records) {
    if (!rr.owner.is_subdomain_of(plan.apex)) {
      return util::make_error("nothing imported: " + rr.owner.to_text() + " " + dns::type_to_text(rr.type) +
                              " is outside the zone " + plan.apex.to_text());
    }
  }
  const zone::Zone* current = exact_zone(zones, plan.apex);
  plan.new_zone = current == nullptr;
  std::vector<dns::RR> existing = zone_records(zones, plan.apex, /*canonical_order=*/false);
  std::vector<store::Op> diff = zone_seed_diff(existing, parsed.records);

  // The zone keeps exactly one SOA: the file's replaces the current one (an
  // add), which is never removed. A serial that only moved backwards is left
  // alone: the store keeps serials increasing anyway (RFC 1982).
  const dns::RR* current_soa = nullptr;
  for (const dns::RR& rr : existing) {
    if (rr.type == dns::rrtype::SOA) current_soa = &rr;
  }
  std::vector<store::Op> soa_ops, others;
  for (store::Op& op : diff) {
    if (op.rr.type != dns::rrtype::SOA) {
      others.push_back(std::move(op));
      continue;
    }
    if (op.kind != store::OpKind::Add) continue;
    if (current_soa && op.rr.ttl == current_soa->ttl && same_soa_but_serial(op.rr.rdata, current_soa->rdata)) {
      auto now = dns::soa_decode(current_soa->rdata);
      auto next = dns::soa_decode(op.rr.rdata);
      if (!now || !next || !store::serial_newer(next->serial, now->serial)) continue;
    }
    soa_ops.push_back(std::move(op));
  }
  plan.ops = std::move(soa_ops);
  for (store::Op& op : others) {
    (op.kind == store::OpKind::Add ? plan.adds : plan.removes) += 1;
    plan.ops.push_back(std::move(op));
  }
  plan.adds += plan.ops.size() - plan.adds - plan.removes;  // the SOA, when it changes
  plan.diff_seconds = std::chrono::duration<double>(Clock::now() - parsed_at).count();
  return plan;
}

}  // namespace node
