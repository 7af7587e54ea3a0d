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
class DnssecKeeper {
 public:
  using Submit = std::function<void(store::Change, std::function<void(SubmitResult)>)>;

  DnssecKeeper(std::map<std::string, ZoneSettings> zones, const store::Store& store, Submit submit,
               std::function<bool()> is_leader, uint32_t origin);

  /// One pass over the zones; the node calls it about once a second.
  /// `now` (seconds since the epoch) is written into the keys made.
  void tick(uint64_t now);

  /// Zones with an online policy (for logs).
  size_t zone_count() const { return zones_.size(); }

 private:
  std::map<std::string, ZoneSettings> zones_;
  const store::Store& store_;
  Submit submit_;
  std::function<bool()> is_leader_;
  uint32_t origin_;
  store::ClientSession session_;
  std::mutex mu_;
  bool in_flight_ = false;
};

}  // namespace node
