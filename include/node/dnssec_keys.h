// Making the signing keys of online-signed zones: the leader generates them
// once per zone and commits them, so every node signs with the same keys.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns/dnssec_sign.h"
#include "node/change_submitter.h"
#include "node/config.h"
#include "server/metrics.h"
#include "store/session.h"
#include "store/store.h"
#include "util/result.h"
#include "zone/zone_set.h"

namespace node {

/// Where a zone's KSK roll stands, read from its key records.
enum class KskRollPhase {
  None,          // one KSK, active
  Published,     // the new KSK is in DNSKEY; it becomes ready roll_wait later
  WaitingForDs,  // the new KSK is ready and the CDS names it: waiting for KSK SUBMITTED
  Retiring,      // the parent's DS was confirmed: the old KSK is removed after the DS wait
};
KskRollPhase ksk_roll_phase(const std::vector<dns::SigningKeyRecord>& keys);
/// "none", "published", "waiting for DS", "retiring".
std::string ksk_roll_phase_text(KskRollPhase phase);

/// The key records of a zone's SIGNING_KEY RRset.
util::Result<std::vector<dns::SigningKeyRecord>> decode_key_set(const zone::RRset& records);

/// A KSK roll's first step: a new KSK of the active one's algorithm, made
/// now, Published beside it. Refused while a roll is under way.
util::Result<std::vector<dns::SigningKeyRecord>> start_ksk_roll(std::vector<dns::SigningKeyRecord> keys,
                                                                uint64_t now);
/// The operator's confirmation that the parent publishes the new DS: the
/// ready KSK becomes active, the old one retired (it still signs the key
/// RRsets until the DS wait is over). Refused unless the roll waits for it.
util::Result<std::vector<dns::SigningKeyRecord>> confirm_ksk_submitted(std::vector<dns::SigningKeyRecord> keys,
                                                                       uint64_t now);
/// The SetSigningKeys change that replaces the key records `current` (the
/// RRset as stored) by `next`; the store applies it only to that key set.
store::Change key_set_change(const dns::Name& apex, const std::vector<std::string>& current,
                             const std::vector<dns::SigningKeyRecord>& next, uint32_t origin);

/// The operator's KSK commands.
enum class KskAction { Roll, Submitted, Status };
/// KSK ROLL or KSK SUBMITTED for the zone at `apex` as served in `zones`:
/// the change to submit, or why there is none (no such zone, no online
/// signing keys, a roll in the wrong phase).
util::Result<store::Change> ksk_command_change(const zone::ZoneSet& zones, const dns::Name& apex, KskAction action,
                                               uint64_t now, uint32_t origin);
/// KSK STATUS: the roll's phase and each key's tag, flags, state and since.
util::Result<nlohmann::json> ksk_status(const zone::ZoneSet& zones, const dns::Name& apex);

/// The /metrics families of the online-signed zones (those of `zones` with
/// keys in `store`): their keys by kind and state, the KSK roll's phase, and
/// when the next ZSK roll and (with ksk_lifetime) KSK roll start.
void render_dnssec_key_metrics(server::PrometheusWriter& w, const store::Store& store,
                               const std::map<std::string, ZoneConfig>& zones);

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
/// from.
///
/// A KSK roll (double signature, RFC 6781 §4.1.2) starts on the operator's
/// KSK ROLL command or, with `ksk_lifetime`, by itself: the new KSK is
/// published, becomes ready `roll_wait` later (it signs the key RRsets beside
/// the old one and the CDS/CDNSKEY name it), and waits for KSK SUBMITTED;
/// after that the old KSK is removed once the parent's old DS has left
/// caches. The keeper takes the timed steps; each step's state is in the key
/// records, so a new leader carries on where the last one stopped.
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
