// Config -> UPDATE handler options: TSIG keys with their grants, and the
// networks allowed to send unsigned updates.
#include "node/update_options.h"

namespace node {

util::Result<server::UpdateOptions> make_update_options(const Config& config, std::vector<std::string>* warnings) {
  server::UpdateOptions out;
  for (const TsigKey& k : config.tsig_keys) {
    auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret);
    if (!key) {
      if (warnings) warnings->push_back("tsig_keys: " + key.error().message + "; the key cannot sign updates");
      continue;
    }
    server::UpdateKey uk;
    uk.key = std::move(key.value());
    if (k.policy) {
      uk.restricted = true;
      for (const UpdatePolicyRule& rule : *k.policy) {
        server::UpdateGrant g;
        if (rule.grant == "subdomain") g.match = server::UpdateGrant::Match::Subdomain;
        else if (rule.grant == "name") g.match = server::UpdateGrant::Match::Name;
        else g.match = server::UpdateGrant::Match::Self;
        if (g.match != server::UpdateGrant::Match::Self) {
          auto name = dns::Name::from_text(rule.name);
          if (!name) return util::make_error("tsig_keys: key " + k.name + ": policy name: " + name.error().message);
          g.name = std::move(name.value());
        }
        for (const std::string& t : rule.types) {
          auto type = dns::type_from_text(t);
          if (!type) return util::make_error("tsig_keys: key " + k.name + ": unknown type " + t);
          g.types.push_back(*type);
        }
        uk.grants.push_back(std::move(g));
      }
    }
    out.keys.push_back(std::move(uk));
  }
  for (const std::string& net : config.update.allow_unsigned_from) {
    auto n = server::Network::parse(net);
    if (!n) return util::make_error("update.allow_unsigned_from: " + n.error().message);
    out.allow_unsigned_from.push_back(n.value());
  }
  return out;
}

std::vector<dns::tsig::Key> make_query_keys(const Config& config) {
  std::vector<dns::tsig::Key> keys;
  for (const TsigKey& k : config.tsig_keys) {
    if (auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret)) keys.push_back(std::move(key.value()));
  }
  return keys;
}

}  // namespace node
