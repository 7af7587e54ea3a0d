// The HTTP API's credentials and policy checks, from the UPDATE keys.
#include "server/http_policy.h"

#include <algorithm>
#include <cctype>

#include "dns/encoding.h"

namespace server {

bool update_key_allows(const UpdateKey& key, const dns::Name& name, uint16_t type) {
  if (!key.restricted) return true;
  for (const UpdateGrant& g : key.grants) {
    bool name_ok = false;
    switch (g.match) {
      case UpdateGrant::Match::Subdomain:
        name_ok = name.is_subdomain_of(g.name);
        break;
      case UpdateGrant::Match::Name:
        name_ok = name == g.name;
        break;
      case UpdateGrant::Match::Self:
        name_ok = name == key.key.name;
        break;
    }
    if (name_ok && (g.types.empty() || std::find(g.types.begin(), g.types.end(), type) != g.types.end())) return true;
  }
  return false;
}

std::vector<HttpCredential> http_credentials(const std::vector<UpdateKey>& keys,
                                             const std::map<std::string, HttpRole>& roles) {
  std::vector<HttpCredential> out;
  for (const UpdateKey& k : keys) {
    HttpCredential c;
    c.user = k.key.name.to_text();
    c.password = dns::base64_encode(k.key.secret);
    c.may_update = [k](const dns::Name&, const dns::Name& name, uint16_t type) {
      return update_key_allows(k, name, type);
    };
    std::string lower = c.user;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (auto it = roles.find(lower); it != roles.end()) c.role = it->second;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace server
