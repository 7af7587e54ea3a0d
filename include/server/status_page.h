// The status page served at GET / on http_loc, and the JSON document it
// refreshes itself from (GET /api/v1/status): the cluster, the zones, the
// recent changes and the dynamic hosts, as this node sees them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "server/recent_changes.h"
#include "zone/zone_set.h"

namespace server {

/// The page: one self-contained HTML document (inline style and script, no
/// outside resource) that fetches /api/v1/status every two seconds.
const std::string& status_page_html();

/// The Content-Security-Policy sent with the page: its own inline style and
/// script (by hash) and fetches to this origin, nothing else.
const std::string& status_page_csp();

/// What the status document is made from.
struct StatusInputs {
  nlohmann::json status;   ///< node::Cluster::status()
  nlohmann::json members;  ///< node::Cluster::members(); may be empty
  const zone::ZoneSet* zones = nullptr;
  const RecentChanges* recent = nullptr;  ///< may be null: no changes, hosts or zone times
  std::map<std::string, std::string> node_urls;  ///< node id -> its status page ("https://192.0.2.1:8053/")
  int64_t now_ms = 0;                            ///< Unix time in milliseconds
};

/// The JSON document of GET /api/v1/status:
///   {"node", "now_ms", "role", "leader", "term", "healthy", "figures",
///    "nodes": [{"id", "self", "member", "role", "term", "commit_index", "applied_index", "match_index",
///               "lag", "connected", "peers_connected", "peers_total", "query_loc", "url"}],
///    "zones": [{"name", "serial", "records", "last_change_ms"}] (the first 500, in canonical order),
///    "zones_total",
///    "changes": [{"time_ms", "source", "summary", "ops", "ok", "outcome"}],
///    "hosts": [{"name", "addresses", "time_ms", "source", "ok"}]}
/// A figure this node does not know is null: only a leader knows its
/// followers' figures ("figures" says which view this is). For this node,
/// match_index is its last log index and lag is commit minus applied; for
/// another, match_index is how far the leader has replicated to it,
/// applied_index what it last reported (it reports at its checkpoints) and
/// lag is the leader's commit index minus match_index.
nlohmann::json status_document(const StatusInputs& in);

}  // namespace server
