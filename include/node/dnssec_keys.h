// Making the signing keys of online-signed zones: the leader generates them
// once per zone and commits them, so every node signs with the same keys.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "node/change_submitter.h"
#include "node/config.h"
#include "store/session.h"
#include "store/store.h"

namespace node {

/// For each zone whose config has "dnssec": {"policy": "online"}: when this
/// node leads and the store serves the zone without signing keys, makes a
/// key-signing key and a zone-signing key and submits them as one change of
/// two AddSigningKey operations. The store keeps the first key set committed
/// for a zone and refuses later ones, so two nodes that both believe they
/// lead cannot give a zone two key sets. One change is outstanding at a time
/// (the client-session rule of store/session.h).
///
/// Once a zone has keys, the zone-signing key rolls by pre-publication
/// (RFC 6781 §4.1.1.1) every `zsk_lifetime`: a new ZSK is published, signs
/// after `roll_wait`, and the old one is removed `roll_wait` later. Each step
/// is a SetSigningKeys change that applies only to the key set it was made
/// from. The KSK does not roll by itself.
class DnssecKeeper {
 public:
  using Submit = std::function<void(store::Change, std::function<void(SubmitResult)>)>;

  DnssecKeeper(std::map<std::string, ZoneConfig> zones, const store::Store& store, Submit submit,
               std::function<bool()> is_leader, uint32_t origin);

  /// One pass over the zones; the node calls it about once a second.
  /// `now` (seconds since the epoch) is written into the keys made.
  void tick(uint64_t now);

  /// Zones with an online policy (for logs).
  size_t zone_count() const { return zones_.size(); }

 private:
  /// A zone that has keys: takes the next step of a ZSK roll when one is
  /// due. Returns whether a change was submitted.
  bool maybe_roll(const std::string& apex_text, const dns::Name& apex, const DnssecPolicy& policy,
                  const zone::RRset& keys, uint32_t dnskey_ttl, uint64_t now);

  std::map<std::string, ZoneConfig> zones_;
  const store::Store& store_;
  Submit submit_;
  std::function<bool()> is_leader_;
  uint32_t origin_;
  store::ClientSession session_;
  std::mutex mu_;
  bool in_flight_ = false;
};

}  // namespace node
