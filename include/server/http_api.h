// The HTTP API's request handling, independent of the HTTP transport:
// DynDNS2 (/nic/update), the REST records API, /health, /metrics and the
// status page.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns/name.h"
#include "server/metrics.h"
#include "server/recent_changes.h"
#include "server/update.h"
#include "store/change.h"
#include "store/session.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

/// One parsed HTTP request, as the transport hands it over.
struct HttpRequest {
  std::string method;         ///< "GET", "POST", ...
  std::string target;         ///< path and query string, still percent-encoded
  std::string authorization;  ///< the Authorization header, "" when absent
  std::string content_type;
  std::string body;
  std::string client_ip;      ///< the peer's address ("127.0.0.1", "::1"); v4-mapped v6 already unwrapped
  bool tls = false;           ///< arrived over HTTPS
  std::string fetch_site;     ///< the Sec-Fetch-Site header a browser sends ("same-origin", "cross-site", ...), "" when absent
  std::string origin;         ///< the Origin header, "" when absent
  std::string host;           ///< the Host header
};

/// Whether a browser sent this request on behalf of another site's page
/// (Fetch Metadata's Sec-Fetch-Site, else an Origin whose host is not the
/// Host). Such a request may carry the credentials the browser keeps for
/// this node (the status page asks a browser for a key), so it must not
/// change anything. Clients other than browsers send neither header.
bool is_cross_origin(const HttpRequest& req);

/// The answer to one request.
struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers (WWW-Authenticate, ...)
};

// --- helpers shared by the handlers (exposed for tests) ---

/// Decodes %XX escapes and '+' (as space, the form encoding browsers and
/// ddclient use in query strings). Fails on a malformed escape.
util::Result<std::string> url_decode(std::string_view text);

/// Splits "a=1&b=x%20y" into decoded pairs. A repeated key keeps the first
/// value. Fails on a malformed escape, naming the parameter.
util::Result<std::map<std::string, std::string>> parse_query_string(std::string_view query);

/// Splits a target into its path and its query string (without the '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

/// The user and password of an "Authorization: Basic <base64(user:pass)>"
/// header (RFC 7617), or nullopt when it is absent or not Basic.
std::optional<std::pair<std::string, std::string>> parse_basic_auth(std::string_view header);

/// Whether an address is loopback (127.0.0.0/8 or ::1).
bool is_loopback_address(std::string_view ip);

/// Parses an IPv4 or IPv6 literal into A or AAAA rdata (type, wire bytes).
std::optional<std::pair<uint16_t, std::string>> ip_to_rdata(std::string_view ip);

/// What a key may do on the HTTP API (the config's `tsig_keys[].role`).
enum class HttpRole : uint8_t {
  None,    ///< no role: it may read where reads need a key, and change nothing
  Update,  ///< change the records its update policy allows (every zone without a policy)
  Admin,   ///< change every zone, and the cluster's members
};

/// A credential the HTTP API accepts: the name and base64 secret of a TSIG
/// key from the config, with that key's role and update policy.
struct HttpCredential {
  std::string user;      ///< the key name, "ddns-key." (matched with or without the final dot)
  std::string password;  ///< the key's secret exactly as written in the config (base64 text)
  /// For an Update key: whether it may change records of `type` at `name` in
  /// the zone whose apex is `zone`. Empty = every record.
  std::function<bool(const dns::Name& zone, const dns::Name& name, uint16_t type)> may_update;
  HttpRole role = HttpRole::None;
};

/// The user whose name and password match, or null. Compares secrets in
/// constant time.
const HttpCredential* authenticate(const std::vector<HttpCredential>& credentials, std::string_view user,
                                   std::string_view password);

/// The outcome of a submitted change: per-op results or why it failed
/// (its kind says whether it was applied: no quorum, outcome unknown, ...).
using HttpSubmitResult = util::Result<store::ApplyResult>;

/// MEMBER ADD / MEMBER REMOVE as the HTTP API asks the node for it.
struct MemberChange {
  enum class Kind : uint8_t { Add, Remove } kind = Kind::Add;
  uint32_t id = 0;
  std::string query_loc;  ///< Add only: "host:port" as given (the node checks it)
  std::string raft_loc;   ///< Add only
  uint64_t client_id = 0;  ///< the session stamp of the change (store/session.h)
  uint64_t sequence = 0;
};

/// What the API needs from the node, as plain functions so the server
/// module does not depend on the cluster (node) module.
struct HttpApiDeps {
  const store::Store* store = nullptr;
  /// Submits a change; `done` runs once, maybe on another thread, after this
  /// node has applied it (node::ChangeSubmitter::submit).
  std::function<void(store::Change, std::function<void(HttpSubmitResult)>)> submit;
  /// ReadIndex barrier (node::Cluster::read_barrier); empty = reads are local only.
  std::function<void(std::function<void(util::Result<void>)>)> read_barrier;
  /// The cluster STATUS object (node::Cluster::status()).
  std::function<nlohmann::json()> status;
  uint32_t origin = 0;  ///< this node's numeric id, set on every change
  std::vector<HttpCredential> credentials;
  Metrics* metrics = nullptr;          ///< update counters, rendering; may be null
  const QueryStats* query_stats = nullptr;
  /// MEMBERS: the committed member list (node::Cluster::members()); empty =
  /// this node has no membership commands.
  std::function<nlohmann::json()> members;
  /// MEMBER ADD / MEMBER REMOVE (node::submit_member_change): `done` runs
  /// once, maybe on another thread, with the outcome (an op error is the
  /// member list's refusal) or why it failed (an invalid address, no
  /// quorum, outcome unknown, ...).
  std::function<void(MemberChange, std::function<void(HttpSubmitResult)>)> change_members;
  /// Who may read without a key (/health, /metrics, the status page, record
  /// listings): the config's http.open_reads_from. Empty = nobody.
  std::vector<Network> open_reads_from;
  /// The status page's record of recent changes (DynDNS and REST changes
  /// submitted here are added to it); null = the page shows none.
  RecentChanges* recent = nullptr;
  /// Each node's status page ("http://127.0.0.1:8053/"), for links between pages.
  std::map<std::string, std::string> node_urls;
};

/// Tunables of the DynDNS2 endpoint.
struct DynDnsOptions {
  uint32_t ttl = 60;                  ///< TTL of a new A/AAAA RRset (an existing RRset keeps its TTL)
  uint32_t max_hosts = 20;            ///< hostnames per request ("numhost" beyond)
  uint32_t max_changes_per_minute = 30;  ///< per hostname; beyond it the answer is "abuse"
};

/// Turns requests into answers. Thread-safe; `reply` runs exactly once per
/// request, possibly on another thread (after a change commits).
class HttpApi {
 public:
  explicit HttpApi(HttpApiDeps deps, DynDnsOptions dyndns = {});

  void handle(const HttpRequest& request, std::function<void(HttpResponse)> reply);

  /// Observes the cluster status (for the leader-change counter); called by
  /// the transport's timer and on every scrape.
  void poll_status();

  /// The Prometheus text for /metrics.
  std::string render_metrics();

  /// Where work that follows a ReadIndex barrier runs (the HTTP server's
  /// event loop), so listing a large zone never holds the Raft thread. Set
  /// before requests arrive; unset, the work runs where the barrier completes.
  void set_defer(std::function<void(std::function<void()>)> defer) { defer_ = std::move(defer); }

 private:
  struct Auth;
  void nic_update(const HttpRequest& req, const std::map<std::string, std::string>& params,
                  std::function<void(HttpResponse)> reply);
  void records(const HttpRequest& req, std::string_view zone_text, const std::map<std::string, std::string>& params,
               std::function<void(HttpResponse)> reply);
  void list_records(const dns::Name& zone, const std::map<std::string, std::string>& params,
                    std::function<void(HttpResponse)> reply);
  void change_record(const HttpRequest& req, const dns::Name& zone, const std::map<std::string, std::string>& params,
                     std::function<void(HttpResponse)> reply);
  void members(const HttpRequest& req, std::string_view member_id, std::function<void(HttpResponse)> reply);
  void zone(const HttpRequest& req, std::string_view zone_text, std::function<void(HttpResponse)> reply);
  /// Who is asking: whether the request carries basic auth, the key it
  /// names when the secret matches, and whether it comes from a network of
  /// open_reads_from.
  struct Caller {
    bool sent_credentials = false;
    const HttpCredential* key = nullptr;
    bool open_network = false;
  };
  Caller identify(const HttpRequest& req);
  /// Nothing when `caller` may read `what`; else the refusal: 401 for wrong
  /// credentials, and without any either 401 with a challenge (`challenge`)
  /// or 403.
  std::optional<HttpResponse> refuse_read(const HttpRequest& req, const Caller& caller, const std::string& what,
                                          bool challenge);
  void warn_plain_text_auth(const HttpRequest& req, const HttpCredential& key);
  HttpResponse health();
  HttpResponse status_page(const HttpRequest& req, bool json);
  bool rate_limited(const dns::Name& host);
  void count_update(const std::string& source, const std::string& result);

  HttpApiDeps deps_;
  DynDnsOptions dyndns_;
  SubmitFn submit_dyndns_;  // deps_.submit, recorded for the status page as DynDNS
  SubmitFn submit_rest_;    // and as REST
  std::function<void(std::function<void()>)> defer_;
  /// Requests run concurrently: each change takes a session of its own.
  store::SessionPool sessions_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> recent_changes_;  // host -> times
  std::optional<std::chrono::steady_clock::time_point> last_plain_text_warning_;  // under mu_
  uint64_t plain_text_auths_unwarned_ = 0;                                         // under mu_
};

/// The HTTP status of a failure of `kind`, the one place it is chosen: 400
/// invalid input, 403 refused, 404 not found, 409 conflict, 503 not applied
/// and worth retrying later (no quorum, storage failed, shutting down,
/// session expired), 504 outcome unknown (retrying is safe).
unsigned http_status(util::ErrorKind kind);

/// The DynDNS2 answer line for a failure of `kind`: "dnserr" when the store
/// refused the change for what it is, "911" when the server could not take
/// it (or cannot tell whether it did).
std::string dyndns_answer(util::ErrorKind kind);

/// The JSON error answer of `error`: its status, {"error": message, "kind":
/// kind}; an unknown outcome says so and that retrying is safe.
HttpResponse error_response(const util::Error& error);

/// Parses the JSON body (or query parameters) of a record request into an
/// op for `zone`. `name` may be absolute ("www.example.com."), "@" for the
/// apex, or relative to the zone ("www"); a name without the final dot that
/// already ends in the zone's name is taken as absolute. Errors name the field.
util::Result<store::Op> parse_record_op(const nlohmann::json& body, const dns::Name& zone, bool adding,
                                        const store::Store* store);

}  // namespace server
