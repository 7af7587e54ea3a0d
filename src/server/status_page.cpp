// The status page (GET /) and its JSON document (GET /api/v1/status).
// The page is self-contained: style and script are inline and allowed by
// hash in its Content-Security-Policy, and it loads nothing from elsewhere.
#include "server/status_page.h"

#include <openssl/evp.h>

#include <algorithm>
#include <set>
#include <vector>

#include "dns/encoding.h"
#include "dns/rr.h"
#include "dns/tsig.h"

namespace server {
namespace {

using nlohmann::json;

/// Zones listed in the document: a browser redrawing every two seconds
/// should not be handed a hosting provider's whole catalogue.
constexpr size_t kMaxZonesShown = 500;

constexpr const char* kStyle = R"css(
:root{--bg:#f4f5f7;--card:#fff;--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--head:#18202f;
--ok:#0f7b4b;--okbg:#e3f6ec;--warn:#9a5b00;--warnbg:#fff3db;--bad:#b42318;--badbg:#fdeceb;--info:#1d4ed8;--infobg:#e6eeff}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{background:var(--head);color:#fff;padding:14px 20px;display:flex;flex-wrap:wrap;align-items:center;gap:8px 18px}
header h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.2px}
header .facts{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;color:#cfd6e4;font-size:14px}
header .facts b{color:#fff;font-weight:600}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;background:#98a2b3;margin-right:6px;vertical-align:middle}
.dot.ok{background:#32d583}.dot.bad{background:#f97066}
main{max-width:1180px;margin:0 auto;padding:16px;display:grid;grid-template-columns:1fr;gap:16px}
@media(min-width:1000px){main{grid-template-columns:1fr 1fr}.wide{grid-column:1/-1}}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
h2{font-size:15px;margin:0 0 10px;font-weight:600}
h2 small{color:var(--muted);font-weight:400;margin-left:6px}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th{text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:var(--muted);font-weight:600;padding:6px 8px;border-bottom:1px solid var(--line)}
td{padding:7px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
tr:last-child td{border-bottom:0}
td.num{text-align:right}th.num{text-align:right}
td.time{white-space:nowrap}
td.empty{color:var(--muted);text-align:center;font-style:italic}
td.mono,span.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:13px}
tr.self td{background:#f8fafc}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:#eef0f3;color:#344054;white-space:nowrap}
.badge.leader,.badge.applied,.badge.yes{background:var(--okbg);color:var(--ok)}
.badge.follower,.badge.voter{background:var(--infobg);color:var(--info)}
.badge.learner,.badge.candidate,.badge.pending{background:var(--warnbg);color:var(--warn)}
.badge.no,.badge.failed{background:var(--badbg);color:var(--bad)}
.src{background:#f2f4f7;color:#344054}
.note{color:var(--muted);font-size:13px;margin:8px 0 0}
.note a{color:var(--info)}
.err{color:var(--bad);font-size:13px}
#error{background:var(--badbg);color:var(--bad);border:1px solid #f4c7c3;border-radius:10px;padding:10px 14px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:4px 16px 20px}
@media(max-width:640px){
 header{padding:12px 14px}main{padding:10px;gap:10px}section{padding:12px}
 table,thead,tbody{display:block;width:100%}
 thead{display:none}
 tr{display:grid;grid-template-columns:1fr 1fr;column-gap:18px;border-bottom:1px solid var(--line);padding:6px 0}
 tr:last-child{border-bottom:0}
 td{border:0;padding:3px 0;display:flex;gap:10px;justify-content:space-between;align-items:baseline;text-align:right;min-width:0;overflow-wrap:anywhere}
 td.full,td.empty{grid-column:1/-1}
 tr.self{background:#f8fafc;margin:0 -8px;padding:6px 8px}tr.self td{background:none}
 td.num{text-align:right}
 td::before{content:attr(data-label);color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px;text-align:left;flex:none}
 td.empty{justify-content:center}td.empty::before{content:none}
}
)css";

constexpr const char* kScript = R"js(
(function () {
  'use strict';
  var REFRESH_MS = 2000;
  function $(id) { return document.getElementById(id); }
  function put(node, value) { node.textContent = value === null || value === undefined ? '\u2014' : String(value); return node; }
  function cell(label, value, cls) {
    var td = document.createElement('td');
    td.setAttribute('data-label', label);
    if (cls) td.className = cls;
    return put(td, value);
  }
  function badgeCell(label, value, kind) {
    var td = cell(label, null);
    if (value === null || value === undefined) return td;  // unknown: a dash, as in other cells
    td.textContent = '';
    var span = document.createElement('span');
    span.className = 'badge ' + (kind || value || 'unknown');
    put(span, value);
    td.appendChild(span);
    return td;
  }
  function ago(t, now) {
    if (t === null || t === undefined) return null;
    var s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) return s + ' s ago';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ago';
    var h = Math.floor(m / 60);
    return h < 48 ? h + ' h ago' : Math.floor(h / 24) + ' d ago';
  }
  function clock(t) { return new Date(t).toLocaleTimeString([], {hour12: false}); }
  function timeCell(label, t, now) {
    var td = cell(label, ago(t, now));
    if (t !== null && t !== undefined) td.title = new Date(t).toLocaleString();
    return td;
  }
  function fill(id, rows, empty, columns, rowClass) {
    var body = $(id);
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!rows.length) {
      var tr = document.createElement('tr');
      var td = cell('', empty, 'empty');
      td.colSpan = columns;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r, i) {
      var tr = document.createElement('tr');
      if (rowClass) tr.className = rowClass(i) || '';
      r.forEach(function (c) { tr.appendChild(c); });
      body.appendChild(tr);
    });
  }
  function render(s) {
    var now = s.now_ms;
    put($('node'), s.node);
    var role = $('role');
    role.className = 'badge ' + (s.role || 'unknown');
    put(role, s.role);
    put($('term'), s.term);
    put($('leader'), s.leader === null ? 'none' : s.leader);
    $('health').className = 'dot ' + (s.healthy ? 'ok' : 'bad');
    put($('healthtext'), s.healthy ? 'leader known' : 'no leader');
    document.title = 'dns-node ' + s.node + ' \u00b7 ' + (s.role || '?');

    fill('nodes', s.nodes.map(function (n) {
      var link = n.self ? 'this node' : (n.connected === null ? null : (n.connected ? 'yes' : 'no'));
      var peers = n.peers_connected === null ? null : n.peers_connected + ' / ' + n.peers_total;
      var id = cell('node', n.id, 'mono');
      if (n.url && !n.self) {
        id.textContent = '';
        var a = document.createElement('a');
        a.href = n.url;
        put(a, n.id);
        id.appendChild(a);
      }
      return [id, badgeCell('member', n.member), badgeCell('role', n.role), cell('term', n.term, 'num'),
              cell('log', n.match_index, 'num'), cell('applied', n.applied_index, 'num'), cell('lag', n.lag, 'num'),
              badgeCell('connected', link, n.self ? 'src' : link),
              cell('peers', peers, 'num'), cell('query', n.query_loc, 'mono full')];
    }), 'no members known', 10, function (i) { return s.nodes[i].self ? 'self' : ''; });
    var note = $('figures');
    note.textContent = s.figures + ' ';
    if (s.leader_url) {
      var a = document.createElement('a');
      a.href = s.leader_url;
      a.textContent = 'Open the leader\u2019s page.';
      note.appendChild(a);
    }

    fill('zones', s.zones.map(function (z) {
      return [cell('zone', z.name, 'mono'), cell('serial', z.serial, 'num mono'), cell('records', z.records, 'num'),
              timeCell('last change', z.last_change_ms, now)];
    }), 'no zones', 4);
    put($('zonecount'), s.zones.length < s.zones_total ? 'the first ' + s.zones.length + ' of ' + s.zones_total : '');

    fill('changes', s.changes.map(function (c) {
      var outcome = badgeCell('outcome', c.ok ? 'applied' : 'failed');
      outcome.className = 'full';
      outcome.title = c.outcome;
      if (!c.ok) {
        var why = document.createElement('div');
        why.className = 'err';
        put(why, c.outcome);
        outcome.appendChild(why);
      }
      return [cell('time', clock(c.time_ms), 'mono time'), badgeCell('source', c.source, 'src'),
              cell('change', c.summary, 'mono full'), outcome];
    }), 'no changes through this node since it started', 4);

    fill('hosts', s.hosts.map(function (h) {
      return [cell('host', h.name, 'mono full'), cell('addresses', h.addresses.length ? h.addresses.join(', ') : 'none',
              'mono full'), timeCell('last update', h.time_ms, now), badgeCell('via', h.source, 'src')];
    }), 'no DynDNS or UPDATE address changes through this node since it started', 4);

    put($('updated'), clock(now));
  }
  function refresh() {
    fetch('/api/v1/status', {cache: 'no-store', credentials: 'same-origin'})
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (s) { render(s); $('error').hidden = true; })
      .catch(function (e) { put($('error'), 'Cannot refresh: ' + e.message); $('error').hidden = false; })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  refresh();
})();
)js";

constexpr const char* kBody = R"html(
<header>
 <h1>dns-node <span id="node" class="mono">&#8212;</span></h1>
 <div class="facts">
  <span><span id="health" class="dot"></span><span id="healthtext">loading&#8230;</span></span>
  <span id="role" class="badge">&#8212;</span>
  <span>term <b id="term">&#8212;</b></span>
  <span>leader <b id="leader">&#8212;</b></span>
 </div>
</header>
<main>
 <div id="error" class="wide" hidden></div>
 <section class="wide">
  <h2>Cluster</h2>
  <table>
   <thead><tr><th>Node</th><th>Member</th><th>Role</th><th class="num">Term</th>
   <th class="num" title="this node: last log index; others: replicated up to (the leader's match index)">Log</th>
   <th class="num" title="others: as last reported, at their checkpoints">Applied</th>
   <th class="num" title="committed entries not yet applied here, or not yet received by the node">Lag</th>
   <th>Connected</th><th class="num">Peers</th><th>Query address</th></tr></thead>
   <tbody id="nodes"></tbody>
  </table>
  <p id="figures" class="note"></p>
 </section>
 <section>
  <h2>Zones <small id="zonecount"></small></h2>
  <table>
   <thead><tr><th>Zone</th><th class="num">Serial</th><th class="num">Records</th><th>Last change</th></tr></thead>
   <tbody id="zones"></tbody>
  </table>
 </section>
 <section>
  <h2>Dynamic hosts <small>DynDNS and UPDATE, through this node</small></h2>
  <table>
   <thead><tr><th>Host</th><th>Addresses</th><th>Last update</th><th>Via</th></tr></thead>
   <tbody id="hosts"></tbody>
  </table>
 </section>
 <section class="wide">
  <h2>Recent changes <small>through this node</small></h2>
  <table>
   <thead><tr><th>Time</th><th>Source</th><th>Change</th><th>Outcome</th></tr></thead>
   <tbody id="changes"></tbody>
  </table>
 </section>
</main>
<footer>Updated <span id="updated">&#8212;</span>; refreshes every 2 s.</footer>
)html";

/// The CSP source for an inline element's content (CSP Level 2 hashes).
std::string sha256_source(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  return "'sha256-" + dns::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), length)) + "'";
}

/// Node ids in numeric order ("2" before "10").
bool id_less(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

bool is_node_id(const std::string& s) {
  return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

json field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? json(nullptr) : *it;
}

bool listed(const json& list, const std::string& id) {
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(), [&](const json& v) { return v.is_string() && v.get<std::string>() == id; });
}

/// The current addresses (A and AAAA) at `name`.
json addresses(const zone::ZoneSet& zones, const dns::Name& name) {
  json out = json::array();
  const zone::Zone* z = zones.find_zone(name);
  const zone::Node* n = z ? z->find(name) : nullptr;
  if (!n) return out;
  for (uint16_t type : {dns::rrtype::A, dns::rrtype::AAAA}) {
    if (const zone::RRset* set = n->find(type)) {
      for (std::string_view rd : set->rdatas) out.push_back(dns::rdata_to_text(type, rd));
    }
  }
  return out;
}

}  // namespace

const std::string& status_page_html() {
  static const std::string html = std::string(
                                      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                                      "<meta name=\"color-scheme\" content=\"light\">\n"
                                      "<link rel=\"icon\" href=\"data:,\">\n<title>dns-node</title>\n<style>") +
                                  kStyle + "</style>\n</head>\n<body>" + kBody + "<script>" + kScript +
                                  "</script>\n</body>\n</html>\n";
  return html;
}

const std::string& status_page_csp() {
  static const std::string csp = "default-src 'none'; script-src " + sha256_source(kScript) + "; style-src " +
                                 sha256_source(kStyle) +
                                 "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                                 "frame-ancestors 'none'";
  return csp;
}

json status_document(const StatusInputs& in) {
  const json& st = in.status;
  const std::string self = field(st, "node").is_string() ? st["node"].get<std::string>() : "";
  const json leader = field(st, "leader");
  const std::string role = field(st, "role").is_string() ? st["role"].get<std::string>() : "";
  const bool leading = role == "leader";
  const json peers = field(st, "peers").is_object() ? st["peers"] : json::object();
  const json commit = field(st, "commit_index");

  json doc;
  doc["node"] = self;
  doc["now_ms"] = in.now_ms;
  doc["role"] = role.empty() ? json(nullptr) : json(role);
  doc["leader"] = leader.is_string() ? leader : json(nullptr);
  doc["term"] = field(st, "term");
  doc["healthy"] = leader.is_string();
  if (field(st, "error").is_string()) doc["error"] = st["error"];

  // Every node this one knows of: the members, its peers, itself.
  std::set<std::string, decltype(&id_less)> ids(&id_less);
  if (in.members.is_object()) {
    for (const auto& [id, m] : in.members.items()) {
      if (is_node_id(id)) ids.insert(id);
    }
  }
  for (const auto& [id, p] : peers.items()) {
    if (is_node_id(id)) ids.insert(id);
  }
  if (is_node_id(self)) ids.insert(self);

  int peers_total = 0, peers_connected = 0;
  for (const auto& [id, p] : peers.items()) {
    ++peers_total;
    if (field(p, "connected").is_boolean() && p["connected"].get<bool>()) ++peers_connected;
  }

  json nodes = json::array();
  for (const std::string& id : ids) {
    const json member = in.members.is_object() && in.members.contains(id) ? in.members[id] : json(nullptr);
    const json peer = peers.contains(id) ? peers[id] : json(nullptr);
    json n;
    n["id"] = id;
    n["self"] = id == self;
    json member_role = field(member, "role");
    if (!member_role.is_string()) {
      member_role = listed(field(st, "voters"), id)     ? json("voter")
                    : listed(field(st, "learners"), id) ? json("learner")
                                                        : json(nullptr);
    }
    n["member"] = member_role;
    n["query_loc"] = field(member, "query_loc");
    auto url = in.node_urls.find(id);
    n["url"] = url == in.node_urls.end() ? json(nullptr) : json(url->second);
    if (id == self) {
      n["role"] = doc["role"];
      n["term"] = doc["term"];
      n["commit_index"] = commit;
      n["applied_index"] = field(st, "applied_index");
      n["match_index"] = field(st, "log_last_index");
      n["connected"] = nullptr;
      n["peers_connected"] = peers_total ? json(peers_connected) : json(0);
      n["peers_total"] = peers_total;
    } else {
      const bool is_leader = leader.is_string() && leader.get<std::string>() == id;
      // Raft roles of other nodes: the leader's, and a leader's view of its followers.
      n["role"] = is_leader ? json("leader")
                  : leading ? json(member_role == "learner" ? "learner" : "follower")
                            : json(nullptr);
      n["term"] = is_leader ? doc["term"] : json(nullptr);
      n["commit_index"] = nullptr;
      n["applied_index"] = field(peer, "applied_index");
      n["match_index"] = field(peer, "match_index");
      n["connected"] = field(peer, "connected");
      n["peers_connected"] = nullptr;
      n["peers_total"] = nullptr;
    }
    // Lag: committed entries this node has not applied; for another node
    // (known to a leader only), committed entries it has not received. A
    // peer's reported applied index moves only at its checkpoints, so it
    // cannot measure lag.
    const json behind = id == self ? n["applied_index"] : n["match_index"];
    const json lag_from = id == self || leading ? commit : json(nullptr);
    if (behind.is_number_unsigned() && lag_from.is_number_unsigned()) {
      const uint64_t c = lag_from.get<uint64_t>(), b = behind.get<uint64_t>();
      n["lag"] = c > b ? c - b : 0;
    } else {
      n["lag"] = nullptr;
    }
    nodes.push_back(std::move(n));
  }
  doc["nodes"] = std::move(nodes);
  if (leading) {
    doc["figures"] = "This node is the leader: every node's figures are as it last heard from them.";
  } else if (leader.is_string()) {
    doc["figures"] = "Only the leader knows the other nodes' applied index and lag; this node shows its own.";
  } else {
    doc["figures"] = "No leader is known: only this node's own figures are shown.";
  }
  auto leader_url = leader.is_string() && !leading ? in.node_urls.find(leader.get<std::string>()) : in.node_urls.end();
  doc["leader_url"] = leader_url == in.node_urls.end() ? json(nullptr) : json(leader_url->second);

  json zones = json::array();
  json hosts = json::array();
  size_t zones_total = 0;
  if (in.zones) {
    const std::vector<dns::Name> apexes = in.zones->zone_names();
    zones_total = apexes.size();
    for (size_t i = 0; i < apexes.size() && i < kMaxZonesShown; ++i) {
      const dns::Name& apex = apexes[i];
      const zone::Zone* z = in.zones->find_zone(apex);
      if (!z) continue;
      json entry{{"name", apex.to_text()}, {"serial", nullptr}, {"records", z->record_count()}};
      if (const zone::RRset* soa = z->soa(); soa && !soa->rdatas.empty()) {
        if (auto f = dns::soa_decode(soa->rdatas.front())) entry["serial"] = f->serial;
      }
      std::optional<int64_t> changed = in.recent ? in.recent->zone_changed_ms(apex) : std::nullopt;
      entry["last_change_ms"] = changed ? json(*changed) : json(nullptr);
      zones.push_back(std::move(entry));
    }
    if (in.recent) {
      for (const DynamicHost& h : in.recent->hosts()) {
        hosts.push_back(json{{"name", h.name.to_text()},
                             {"addresses", addresses(*in.zones, h.name)},
                             {"time_ms", h.time_ms},
                             {"source", change_source_name(h.source)},
                             {"ok", h.ok}});
      }
    }
  }
  doc["zones"] = std::move(zones);
  doc["zones_total"] = zones_total;
  doc["hosts"] = std::move(hosts);
  json changes = json::array();
  if (in.recent) {
    for (const RecentChange& c : in.recent->changes()) {
      changes.push_back(json{{"time_ms", c.time_ms},
                             {"source", change_source_name(c.source)},
                             {"summary", c.summary},
                             {"ops", c.ops},
                             {"ok", c.ok},
                             {"outcome", c.outcome}});
    }
  }
  doc["changes"] = std::move(changes);
  return doc;
}

}  // namespace server
