// The HTTP API's credentials from the UPDATE keys (server/update.h): the
// same keys and the same update policy for DynDNS2 and REST as for RFC 2136.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dns/name.h"
#include "server/http_api.h"
#include "server/update.h"

namespace server {

/// Whether `key` may change records of `type` at `name`: an unrestricted key
/// may change everything; a restricted one needs a grant that matches the
/// name (subdomain, exact name, or the key's own name) and the type. The
/// rules of the UPDATE handler, for one (name, type).
bool update_key_allows(const UpdateKey& key, const dns::Name& name, uint16_t type);

/// One credential per key: user = the key name, password = its secret in
/// base64, may_update = its policy, role = `roles` at the key's name
/// (lower case, with the final dot; absent = HttpRole::None).
std::vector<HttpCredential> http_credentials(const std::vector<UpdateKey>& keys,
                                             const std::map<std::string, HttpRole>& roles);

}  // namespace server
