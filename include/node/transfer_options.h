// Config -> the options of the transfer handler (ACLs, keys) and of the
// NOTIFY sender (secondaries per zone, signing key).
#pragma once

#include "node/config.h"
#include "server/notify.h"
#include "server/xfr.h"
#include "util/result.h"

namespace node {

/// The AXFR/IXFR handler's options: the top-level "transfer" ACL, each
/// zone's ACL (its own fields over the top-level ones) and every TSIG key.
util::Result<server::XfrOptions> make_xfr_options(const Config& config);

/// The NOTIFY sender's options: per zone, "notify" (the zone's own list, or
/// the top-level one) plus the zone's "also_notify", and "notify_key".
util::Result<server::NotifyOptions> make_notify_options(const Config& config);

}  // namespace node
