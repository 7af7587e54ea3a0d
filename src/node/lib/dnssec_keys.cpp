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
    if (node && node->find(dns::rrtype::SIGNING_KEY)) continue;  // the cluster has its keys

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
    session_.stamp(change);
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

}  // namespace node
