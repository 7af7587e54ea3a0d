// Config -> transfer ACLs and NOTIFY targets, merged per zone.
#include "node/transfer_options.h"

#include <algorithm>

namespace node {
namespace {

util::Result<server::TransferAcl> make_acl(const TransferConfig& zone, const TransferConfig& top) {
  server::TransferAcl acl;
  const auto& allow = zone.allow ? zone.allow : top.allow;
  const auto& keys = zone.keys ? zone.keys : top.keys;
  if (allow) {
    acl.allow.emplace();
    for (const std::string& text : *allow) {
      auto net = server::Network::parse(text);
      if (!net) return util::make_error("transfer.allow: " + net.error().message);
      acl.allow->push_back(net.value());
    }
  }
  if (keys) {
    acl.keys.emplace();
    for (const std::string& k : *keys) {
      auto name = dns::Name::from_text(k);
      if (!name) return util::make_error("transfer.keys: '" + k + "': " + name.error().message);
      acl.keys->push_back(name.value());
    }
  }
  return acl;
}

std::optional<dns::tsig::Key> find_key(const Config& config, const std::string& name) {
  auto wanted = dns::Name::from_text(name);
  if (!wanted) return std::nullopt;
  for (const TsigKey& k : config.tsig_keys) {
    auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret);
    if (key && key->name == *wanted) return key.value();
  }
  return std::nullopt;
}

util::Result<server::NotifyPolicy> make_policy(const Config& config, const TransferConfig& zone, const TransferConfig& top) {
  server::NotifyPolicy p;
  const auto& notify = zone.notify ? zone.notify : top.notify;
  auto add = [&p](const Endpoint& ep) {
    server::NotifyTarget t{ep.host, ep.port};
    if (std::find(p.targets.begin(), p.targets.end(), t) == p.targets.end()) p.targets.push_back(t);
  };
  if (notify) {
    for (const Endpoint& ep : *notify) add(ep);
  }
  for (const Endpoint& ep : zone.also_notify) add(ep);
  const auto& key = zone.notify_key ? zone.notify_key : top.notify_key;
  if (key) {
    p.key = find_key(config, *key);
    if (!p.key) return util::make_error("notify_key: key " + *key + " is not in tsig_keys or cannot sign");
  }
  return p;
}

}  // namespace

util::Result<server::XfrOptions> make_xfr_options(const Config& config) {
  server::XfrOptions out;
  auto top = make_acl(TransferConfig{}, config.transfer);
  if (!top) return top.error();
  out.acl = top.value();
  for (const auto& [key, z] : config.zones) {
    auto apex = dns::Name::from_text(z.name);
    if (!apex) return util::make_error("zones: " + apex.error().message);
    auto acl = make_acl(z.transfer, config.transfer);
    if (!acl) return util::make_error("zones.\"" + z.name + "\": " + acl.error().message);
    out.zone_acls[apex.value()] = acl.value();
  }
  for (const TsigKey& k : config.tsig_keys) {
    if (auto key = dns::tsig::make_key(k.name, k.algorithm, k.secret)) out.keys.push_back(key.value());
  }
  return out;
}

util::Result<server::NotifyOptions> make_notify_options(const Config& config) {
  server::NotifyOptions out;
  // The nodes of the config: a new serial is announced once each serves it.
  for (const auto& [id, n] : config.nodes) out.members.push_back(server::NotifyTarget{n.query.host, n.query.port});
  auto top = make_policy(config, TransferConfig{}, config.transfer);
  if (!top) return util::make_error("transfer." + top.error().message);
  out.policy = top.value();
  for (const auto& [key, z] : config.zones) {
    auto apex = dns::Name::from_text(z.name);
    if (!apex) return util::make_error("zones: " + apex.error().message);
    auto p = make_policy(config, z.transfer, config.transfer);
    if (!p) return util::make_error("zones.\"" + z.name + "\"." + p.error().message);
    out.zone_policies[apex.value()] = p.value();
  }
  return out;
}

}  // namespace node
