// Zones the cluster copies from an outside primary ("primary" in "zones"):
// the follower's options from the config, and the guard that refuses every
// other change to those zones (their content is the primary's).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "dns/name.h"
#include "node/change_submitter.h"
#include "node/config.h"
#include "server/zone_follower.h"
#include "store/store.h"
#include "util/result.h"

namespace node {

/// The zone follower's options: each zone with a "primary", its key
/// ("primary_key"), and every TSIG key (a signed NOTIFY is checked with them).
util::Result<server::FollowerOptions> make_follower_options(const Config& config);

/// The secondary zones of `config`: apex -> its primary ("192.0.2.1:53").
std::map<dns::Name, std::string> secondary_zones(const Config& config);

/// Stands in front of the cluster's submitter for stdin, HTTP, UPDATE and
/// the zone files: an operation on a record of a secondary zone (the deepest
/// zone holding the owner, or a secondary apex above it while the zone is not
/// there yet) is refused with the reason, the rest of the change goes on;
/// an UPDATE of a secondary zone is REFUSED (RFC 2136 §3.1.1 lets a
/// secondary forward it; this one does not). Changes carrying
/// store::TransferIn (the follower's) pass untouched.
class SecondaryZoneGuard final : public ChangeSubmitter {
 public:
  SecondaryZoneGuard(ChangeSubmitter& inner, const store::Store& store, std::map<dns::Name, std::string> zones);
  void submit(store::Change change, std::function<void(SubmitResult)> done) override;

  /// Why an op on `owner` (of `type`) must be refused, or "" when it may go on.
  std::string refusal(const dns::Name& owner, uint16_t type) const;

 private:
  ChangeSubmitter& inner_;
  const store::Store& store_;
  std::map<dns::Name, std::string> zones_;
};

}  // namespace node
