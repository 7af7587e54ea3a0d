// Turns the config's TSIG keys, their policies and the "update" settings into
// the options of the RFC 2136 UPDATE handler.
#pragma once

#include <string>
#include <vector>

#include "node/config.h"
#include "server/update.h"
#include "util/result.h"

namespace node {

/// The UPDATE handler's options from a parsed config. Keys whose algorithm
/// UPDATE does not support (hmac-md5) are left out with a warning.
util::Result<server::UpdateOptions> make_update_options(const Config& config, std::vector<std::string>* warnings);

}  // namespace node
