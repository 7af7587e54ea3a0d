// MEMBER ADD / MEMBER REMOVE for callers other than stdin (the HTTP API):
// the same command line, the same checks, the answer as an HTTP status.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "node/cluster.h"

namespace node {

/// Parses `line` as the stdin command would ("MEMBER ADD 3 q r",
/// "MEMBER REMOVE 3") and submits it to the cluster with the caller's
/// identity (for exactly-once). `done` runs once, maybe on the Raft thread,
/// with 200 and what happened, or 400 (malformed), 409 (refused: a change in
/// progress, an unknown member), 503 (no quorum) or 504 (timeout, outcome
/// unknown) and the reason.
void run_member_command(Cluster& cluster, std::string_view line, uint64_t client_id, uint64_t sequence,
                        std::function<void(unsigned status, std::string message)> done);

}  // namespace node
