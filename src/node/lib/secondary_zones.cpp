// Secondary zones: the follower's options, and refusing changes to those
// zones from anywhere but their primary.
#include "node/secondary_zones.h"

#include <memory>

namespace node {

namespace {

std::optional<dns::tsig::Key> key_named(const Config& config, const std::string& name) {
  auto wanted = dns::Name::from_text(name);
  if (!wanted) return std::nullopt;
  for (const TsigKey& k : config.tsig_keys) {
    auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret);
    if (key && key->name == *wanted) return key.value();
  }
  return std::nullopt;
}

}  // namespace

util::Result<server::FollowerOptions> make_follower_options(const Config& config) {
  server::FollowerOptions options;
  for (const TsigKey& k : config.tsig_keys) {
    if (auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret)) options.keys.push_back(std::move(key.value()));
  }
  for (const auto& [lower, z] : config.zones) {
    if (!z.primary) continue;
    server::FollowedZone f;
    auto apex = dns::Name::from_text(z.name);
    if (!apex) return util::make_error("zones.\"" + z.name + "\": " + apex.error().message);
    f.zone = apex.value();
    f.host = z.primary->host;
    f.port = z.primary->port;
    if (z.primary_key) {
      f.key = key_named(config, *z.primary_key);
      if (!f.key) return util::make_error("zones.\"" + z.name + "\".primary_key: no usable key '" + *z.primary_key + "' in tsig_keys");
    }
    options.zones.push_back(std::move(f));
  }
  return options;
}

std::map<dns::Name, std::string> secondary_zones(const Config& config) {
  std::map<dns::Name, std::string> out;
  for (const auto& [lower, z] : config.zones) {
    if (!z.primary) continue;
    if (auto apex = dns::Name::from_text(z.name)) out[apex.value()] = z.primary->to_string();
  }
  return out;
}

SecondaryZoneGuard::SecondaryZoneGuard(ChangeSubmitter& inner, const store::Store& store,
                                       std::map<dns::Name, std::string> zones)
    : inner_(inner), store_(store), zones_(std::move(zones)) {}

std::string SecondaryZoneGuard::refusal(const dns::Name& owner, uint16_t type) const {
  if (zones_.empty()) return "";
  // The zone the record would land in: the deepest of the zones served and
  // the secondary apexes above the owner (a secondary zone may not be there
  // yet, before its first transfer).
  auto served = store_.snapshot();
  const zone::Zone* z = served->find_zone(owner);
  if (z && type == 43 && z->apex() == owner) z = served->find_parent_zone(*z);  // DS: the parent's side (RFC 4035 §2.4)
  std::optional<dns::Name> deepest;
  if (z) deepest = z->apex();
  for (const auto& [apex, primary] : zones_) {
    const bool below = owner.is_subdomain_of(apex) && !(type == 43 && owner == apex);
    if (below && (!deepest || (apex.is_subdomain_of(*deepest) && apex != *deepest))) deepest = apex;
  }
  if (!deepest) return "";
  auto it = zones_.find(*deepest);
  if (it == zones_.end()) return "";
  return "zone " + it->first.to_text() + " is a copy of the primary " + it->second +
         " (\"primary\" in the config): change it on that primary";
}

void SecondaryZoneGuard::submit(store::Change change, std::function<void(SubmitResult)> done) {
  if (zones_.empty() || change.transfer) return inner_.submit(std::move(change), std::move(done));
  if (change.update) {
    std::string why = refusal(change.update->zone, 0);
    if (why.empty()) return inner_.submit(std::move(change), std::move(done));
    store::ApplyResult refused;
    refused.rcode = dns::rcode::REFUSED;
    refused.op_errors.push_back(std::move(why));
    return done(std::move(refused));
  }
  // Per op: the refused ones are answered here, the others go on as one change.
  std::vector<std::string> reasons(change.ops.size());
  std::vector<size_t> kept;  // indexes of the ops that go on
  for (size_t i = 0; i < change.ops.size(); ++i) {
    reasons[i] = refusal(change.ops[i].rr.owner, change.ops[i].rr.type);
    if (reasons[i].empty()) kept.push_back(i);
  }
  if (kept.size() == change.ops.size()) return inner_.submit(std::move(change), std::move(done));
  if (kept.empty() && !change.settings) {
    store::ApplyResult refused;
    refused.op_errors = std::move(reasons);
    return done(std::move(refused));
  }
  std::vector<store::Op> ops;
  ops.reserve(kept.size());
  for (size_t i : kept) ops.push_back(std::move(change.ops[i]));
  change.ops = std::move(ops);
  inner_.submit(std::move(change), [reasons = std::move(reasons), kept = std::move(kept),
                                    done = std::move(done)](SubmitResult r) mutable {
    if (!r) return done(std::move(r));
    store::ApplyResult merged = *r;
    merged.op_errors = std::move(reasons);
    for (size_t j = 0; j < kept.size() && j < r->op_errors.size(); ++j) merged.op_errors[kept[j]] = r->op_errors[j];
    done(std::move(merged));
  });
}

}  // namespace node
