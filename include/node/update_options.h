// Turns the config's TSIG keys, their policies and the "update" settings into
// the options of the RFC 2136 UPDATE handler, and the keys into the keyring
// of signed queries.
#pragma once

#include <string>
#include <vector>

#include "dns/tsig.h"
#include "node/config.h"
#include "server/update.h"
#include "util/result.h"

namespace node {

/// The UPDATE handler's options from a parsed config. Keys that cannot be
/// built are left out with a warning.
util::Result<server::UpdateOptions> make_update_options(const Config& config, std::vector<std::string>* warnings);

/// Every configured TSIG key, for signed queries on the DNS port (RFC 8945):
/// any key may sign a query, whatever its update policy. A key that cannot
/// be built is left out (make_update_options warns about it).
std::vector<dns::tsig::Key> make_query_keys(const Config& config);

}  // namespace node
