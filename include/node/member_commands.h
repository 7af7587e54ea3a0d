// MEMBER ADD / MEMBER REMOVE for callers other than stdin (the HTTP API):
// a typed request, checked as the stdin command is, handed to the cluster.
#pragma once

#include <functional>

#include "node/cluster.h"
#include "server/http_api.h"

namespace node {

/// Checks the addresses of an Add as the stdin command does (parse_endpoint)
/// and submits the change to the cluster with the caller's session stamp.
/// `done` runs once, maybe on the Raft thread, with the outcome (an op error
/// is the member list's refusal) or the error: Invalid for a bad address,
/// else the cluster's (no quorum, outcome unknown, a change in progress...).
void submit_member_change(Cluster& cluster, const server::MemberChange& change,
                          std::function<void(SubmitResult)> done);

}  // namespace node
