// The leader's key making for online-signed zones (see include/node/dnssec_keys.h).
#include "node/dnssec_keys.h"

#include <spdlog/spdlog.h>

#include "dns/dnssec_sign.h"

namespace node {

DnssecKeeper::DnssecKeeper(std::map<std::string, ZoneSettings> zones, const store::Store& store, Submit submit,
                           std::function<bool()> is_leader, uint32_t origin)
    : store_(store),
      submit_(std::move(submit)),
      is_leader_(std::move(is_leader)),
      origin_(origin),
      session_(store::ClientSession::open()) {
  for (auto& [apex, settings] : zones) {
    if (settings.dnssec) zones_.emplace(apex, settings);
  }
}

void DnssecKeeper::tick(uint64_t now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ || zones_.empty()) return;
  }
  if (!is_leader_()) return;
  auto snapshot = store_.snapshot();
  for (const auto& [apex_text, settings] : zones_) {
    auto apex = dns::Name::from_text(apex_text);
    if (!apex) continue;
    const zone::Zone* z = snapshot->find_zone(*apex);
    if (!z || z->apex() != *apex) continue;  // not served (yet): its zone file or first change makes it
    const zone::Node* node = z->apex_node();
    if (const zone::RRset* keys = node ? node->find(dns::rrtype::SIGNING_KEY) : nullptr) {
      const uint32_t ttl = z->soa() ? z->soa()->ttl : 3600;
      if (maybe_roll(apex_text, *apex, *settings.dnssec, *keys, ttl, now)) return;
      continue;
    }

    // A key-signing key (its DS goes to the parent) and a zone-signing key.
    store::Change change;
    change.origin = origin_;
    for (uint16_t flags : {uint16_t(dns::kDnskeyZone | dns::kDnskeySep), dns::kDnskeyZone}) {
      auto key = dns::SigningKey::generate(settings.dnssec->algorithm);
      if (!key) {
        spdlog::error("zone {}: {}", apex_text, key.error().message);
        return;
      }
      dns::SigningKeyRecord record;
      record.flags = flags;
      record.algorithm = settings.dnssec->algorithm;
      record.created = static_cast<uint32_t>(now);
      record.private_der = key->private_der();
      change.ops.push_back({store::OpKind::AddSigningKey,
                            dns::RR{*apex, dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, record.encode()}});
    }
    session_.stamp(change, store_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = true;
    }
    spdlog::info("zone {}: making its DNSSEC keys (a KSK and a ZSK, algorithm {})", apex_text,
                 unsigned{settings.dnssec->algorithm});
    submit_(std::move(change), [this, apex_text = apex_text](SubmitResult r) {
      if (!r) {
        spdlog::warn("zone {}: the DNSSEC keys were not committed: {}", apex_text, r.error().message);
      } else if (!r->all_ok()) {
        // Another leader's keys came first: they are the zone's keys.
        spdlog::info("zone {}: keys not added: {}", apex_text, r->first_error());
      } else {
        spdlog::info("zone {}: DNSSEC keys committed", apex_text);
      }
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = false;
    });
    return;  // one change outstanding at a time
  }
}

bool DnssecKeeper::maybe_roll(const std::string& apex_text, const dns::Name& apex, const DnssecPolicy& policy,
                              const zone::RRset& keys, uint32_t dnskey_ttl, uint64_t now) {
  using State = dns::SigningKeyRecord::State;
  std::vector<std::string> current(keys.rdatas);
  std::vector<dns::SigningKeyRecord> records;
  for (const std::string& r : current) {
    auto rec = dns::SigningKeyRecord::decode(r);
    if (!rec) return false;
    records.push_back(std::move(rec).value());
  }
  const uint64_t wait = policy.roll_wait ? policy.roll_wait : uint64_t{dnskey_ttl} + 600;
  auto zsk_in = [&](State s) -> dns::SigningKeyRecord* {
    for (auto& r : records) {
      if (!r.ksk() && r.state == s) return &r;
    }
    return nullptr;
  };
  dns::SigningKeyRecord* active = zsk_in(State::Active);
  dns::SigningKeyRecord* published = zsk_in(State::Published);
  dns::SigningKeyRecord* retired = zsk_in(State::Retired);
  std::string step;
  // RFC 6781 §4.1.1.1, pre-publication, one step per change.
  if (retired && retired->since + wait <= now) {
    // 3. Signatures made with the old key have expired from caches: remove it.
    records.erase(records.begin() + (retired - records.data()));
    step = "removed the retired zone-signing key";
  } else if (published && !retired && published->since + wait <= now) {
    // 2. The new key's DNSKEY has reached the caches: it signs, the old rests.
    published->state = State::Active;
    published->since = static_cast<uint32_t>(now);
    if (active) {
      active->state = State::Retired;
      active->since = static_cast<uint32_t>(now);
    }
    step = "the new zone-signing key signs; the old one is retired";
  } else if (active && !published && !retired && active->created + uint64_t{policy.zsk_lifetime} <= now) {
    // 1. Publish the next key before it signs.
    auto key = dns::SigningKey::generate(active->algorithm);
    if (!key) return false;
    dns::SigningKeyRecord next;
    next.flags = dns::kDnskeyZone;
    next.algorithm = active->algorithm;
    next.state = State::Published;
    next.created = next.since = static_cast<uint32_t>(now);
    next.private_der = key->private_der();
    records.push_back(std::move(next));
    step = "published the next zone-signing key";
  } else {
    return false;
  }
  dns::KeySetChange change;
  change.expected_digest = dns::key_set_digest(current);
  for (const auto& r : records) change.records.push_back(r.encode());
  store::Change c;
  c.origin = origin_;
  c.ops.push_back({store::OpKind::SetSigningKeys,
                   dns::RR{apex, dns::rrtype::SIGNING_KEY, dns::rrclass::IN, 0, change.encode()}});
  session_.stamp(c, store_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = true;
  }
  spdlog::info("zone {}: ZSK roll: {}", apex_text, step);
  submit_(std::move(c), [this, apex_text](SubmitResult r) {
    if (!r) {
      spdlog::warn("zone {}: the key roll step was not committed: {}", apex_text, r.error().message);
    } else if (!r->all_ok()) {
      spdlog::info("zone {}: key roll step not applied: {}", apex_text, r->first_error());
    }
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = false;
  });
  return true;
}

}  // namespace node
