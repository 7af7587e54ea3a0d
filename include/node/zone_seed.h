// Zone files seed the cluster (DESIGN.md): on start a node proposes the
// difference between its zone files and what it last loaded from them, so
// edits propagate and runtime changes survive a restart.
#pragma once

#include <string>
#include <vector>

#include "dns/rr.h"
#include "store/change.h"
#include "util/result.h"

namespace node {

/// The ops that turn `last_loaded` into `in_files`: removes for records no
/// longer in the files, adds for new records and for records whose TTL
/// changed. Records compare by owner (ignoring case), type and rdata.
std::vector<store::Op> zone_seed_diff(const std::vector<dns::RR>& last_loaded,
                                      const std::vector<dns::RR>& in_files);

/// The records this node last loaded from its zone files, kept in its data
/// directory. A missing file means nothing was loaded yet.
util::Result<std::vector<dns::RR>> load_seed_state(const std::string& path);
util::Result<void> save_seed_state(const std::string& path, const std::vector<dns::RR>& records);

}  // namespace node
