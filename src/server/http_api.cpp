// HTTP API handlers: DynDNS2 /nic/update, the REST records API, /health,
// /metrics and the status page. Every change goes through the submit
// function (Raft), as stdin's do. Who may do what: docs/http-api.md.
#include "server/http_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <utility>

#include <spdlog/spdlog.h>

#include "dns/encoding.h"
#include "dns/rr.h"
#include "server/status_page.h"
#include "zone/zone_file.h"
#include "zone/zone_set.h"

namespace server {
namespace {

constexpr uint32_t kDefaultRecordTtl = 3600;  // as stdin's ADD without a TTL

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string strip_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return lower(s);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Length is not secret (it follows from the key's size); contents are.
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

HttpResponse json_response(unsigned status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = body.dump() + "\n";
  return r;
}

HttpResponse json_error(unsigned status, const std::string& message) {
  return json_response(status, nlohmann::json{{"error", message}});
}

HttpResponse text_response(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse unauthorized(std::string body, bool json) {
  HttpResponse r = json ? json_error(401, body) : text_response(401, std::move(body));
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"dns-node\", charset=\"UTF-8\"");
  return r;
}

nlohmann::json record_json(const dns::RR& rr) {
  return nlohmann::json{{"name", rr.owner.to_text()},
                        {"type", dns::type_to_text(rr.type)},
                        {"ttl", rr.ttl},
                        {"data", dns::rdata_to_text(rr.type, rr.rdata)}};
}

bool truthy(const std::map<std::string, std::string>& params, const char* key) {
  auto it = params.find(key);
  if (it == params.end()) return false;
  std::string v = lower(it->second);
  return v == "true" || v == "1" || v == "yes" || v.empty();
}

/// The RRset of `type` at `name` in the current snapshot, or null.
const zone::RRset* find_rrset(const zone::ZoneSet& zones, const dns::Name& name, uint16_t type) {
  const zone::Zone* z = zones.zone_for(name, type);
  if (!z) return nullptr;
  const zone::Node* n = z->find(name);
  return n ? n->find(type) : nullptr;
}

/// Whether the address `ip` (text, as HttpRequest::client_ip) lies in one of `nets`.
bool in_networks(const std::vector<Network>& nets, const std::string& ip) {
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    return false;
  }
  for (const Network& n : nets) {
    if (n.contains(reinterpret_cast<const sockaddr*>(&ss))) return true;
  }
  return false;
}

const char* role_name(HttpRole role) {
  switch (role) {
    case HttpRole::Update: return "update";
    case HttpRole::Admin: return "admin";
    case HttpRole::None: break;
  }
  return "none";
}

/// The served zone whose apex is exactly `apex`, or null.
const zone::Zone* exact_zone(const zone::ZoneSet& zones, const dns::Name& apex) {
  const zone::Zone* z = zones.find_zone(apex);
  return z && z->apex() == apex ? z : nullptr;
}

}  // namespace

// --- helpers ---

util::Result<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return util::make_error("truncated %-escape in '" + std::string(text) + "'");
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return util::make_error("bad %-escape in '" + std::string(text) + "'");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

util::Result<std::map<std::string, std::string>> parse_query_string(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq));
    if (!key) return util::make_error("query parameter: " + key.error().message);
    auto value = url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return util::make_error("query parameter '" + *key + "': " + value.error().message);
    out.emplace(std::move(*key), std::move(*value));  // the first of repeated keys wins
  }
  return out;
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::pair<std::string, std::string>> parse_basic_auth(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  if (header.size() < 6 || lower(header.substr(0, 6)) != "basic ") return std::nullopt;
  header.remove_prefix(6);
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  auto decoded = dns::base64_decode(header, dns::Base64Padding::Optional);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');  // RFC 7617 §2: the user-id cannot contain ':'
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

bool is_loopback_address(std::string_view ip) {
  in_addr a4{};
  in6_addr a6{};
  std::string s(ip);
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

std::optional<std::pair<uint16_t, std::string>> ip_to_rdata(std::string_view ip) {
  std::string s(ip);
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    return std::make_pair(dns::rrtype::A, std::string(reinterpret_cast<const char*>(&a4), 4));
  }
  if (inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    return std::make_pair(dns::rrtype::AAAA, std::string(reinterpret_cast<const char*>(&a6), 16));
  }
  return std::nullopt;
}

bool is_cross_origin(const HttpRequest& req) {
  // The rule of Fetch Metadata (W3C), as Go's CrossOriginProtection applies
  // it: "same-origin" and "none" (typed by the user) are the browser's own.
  if (!req.fetch_site.empty()) return req.fetch_site != "same-origin" && req.fetch_site != "none";
  if (req.origin.empty()) return false;  // not a browser, or a browser that sends no Origin here
  // RFC 6454: scheme "://" host [":" port]; the Host header holds host[:port].
  const size_t scheme_end = req.origin.find("://");
  const std::string origin_host = scheme_end == std::string::npos ? "" : lower(req.origin.substr(scheme_end + 3));
  return origin_host != lower(req.host);
}

const HttpCredential* authenticate(const std::vector<HttpCredential>& credentials, std::string_view user,
                                   std::string_view password) {
  const std::string want = strip_dot(user);
  const HttpCredential* found = nullptr;
  for (const HttpCredential& c : credentials) {
    // Check every key, so the time taken does not tell which names exist.
    bool match = strip_dot(c.user) == want;
    // The same secret may be written with or without base64 padding: compare
    // the decoded bytes when both decode, else the text.
    auto mine = dns::base64_decode(c.password, dns::Base64Padding::Optional);
    auto theirs = dns::base64_decode(password, dns::Base64Padding::Optional);
    bool secret_ok = mine && theirs && !mine->empty() ? constant_time_equal(*mine, *theirs)
                                                      : constant_time_equal(c.password, password);
    if (match && secret_ok && !found) found = &c;
  }
  return found;
}

unsigned http_status(util::ErrorKind kind) {
  switch (kind) {
    case util::ErrorKind::Invalid: return 400;
    case util::ErrorKind::Refused: return 403;
    case util::ErrorKind::NotFound: return 404;
    case util::ErrorKind::Conflict: return 409;
    case util::ErrorKind::NoQuorum:
    case util::ErrorKind::StorageFailed:
    case util::ErrorKind::ShuttingDown:
    case util::ErrorKind::SessionExpired: return 503;
    case util::ErrorKind::OutcomeUnknown: return 504;
  }
  return 500;
}

std::string dyndns_answer(util::ErrorKind kind) {
  switch (kind) {
    case util::ErrorKind::Invalid:
    case util::ErrorKind::Refused:
    case util::ErrorKind::NotFound:
    case util::ErrorKind::Conflict: return "dnserr";
    case util::ErrorKind::NoQuorum:
    case util::ErrorKind::OutcomeUnknown:
    case util::ErrorKind::StorageFailed:
    case util::ErrorKind::ShuttingDown:
    case util::ErrorKind::SessionExpired: return "911";
  }
  return "911";
}

HttpResponse error_response(const util::Error& error) {
  nlohmann::json body{{"error", error.message}, {"kind", util::kind_name(error.kind)}};
  if (error.kind == util::ErrorKind::OutcomeUnknown) {
    // Not a refusal: the change may still be applied (it may have left this
    // node before the failure). Sending it again is safe.
    body["outcome"] = "unknown: the change may or may not be applied; retrying it is safe";
  } else if (http_status(error.kind) >= 500) {
    body["outcome"] = "not applied; retry later";
  }
  return json_response(http_status(error.kind), body);
}

util::Result<store::Op> parse_record_op(const nlohmann::json& body, const dns::Name& zone, bool adding,
                                        const store::Store* store) {
  if (!body.is_object()) return util::make_error("the request body must be a JSON object {name, type, ttl?, data}");
  for (const auto& [key, value] : body.items()) {
    (void)value;
    if (key != "name" && key != "type" && key != "ttl" && key != "data") {
      return util::make_error("unknown field '" + key + "' (fields: name, type, ttl, data)");
    }
  }
  auto name_it = body.find("name");
  if (name_it == body.end() || !name_it->is_string() || name_it->get<std::string>().empty()) {
    return util::make_error("field 'name' is required: a string such as \"www\" or \"www." + zone.to_text() + "\"");
  }
  std::string name_text = name_it->get<std::string>();
  // "www.example.com" (no final dot) inside zone example.com is meant as
  // absolute; other names without the dot are relative to the zone.
  std::string zone_plain = strip_dot(zone.to_text());
  std::string lname = lower(name_text);
  if (lname.back() != '.' && (lname == zone_plain || (lname.size() > zone_plain.size() &&
                                                      lname.compare(lname.size() - zone_plain.size(), zone_plain.size(),
                                                                    zone_plain) == 0 &&
                                                      lname[lname.size() - zone_plain.size() - 1] == '.'))) {
    name_text += '.';
  }
  auto owner = dns::Name::from_text(name_text, &zone);
  if (!owner) return util::make_error("bad name '" + name_it->get<std::string>() + "': " + owner.error().message);
  if (!owner->is_subdomain_of(zone)) {
    return util::make_error("name " + owner->to_text() + " is not in zone " + zone.to_text());
  }

  auto type_it = body.find("type");
  if (type_it == body.end() || !type_it->is_string()) {
    return util::make_error("field 'type' is required: a string such as \"A\"");
  }
  auto type = dns::type_from_text(type_it->get<std::string>());
  if (!type) return util::make_error("unknown type '" + type_it->get<std::string>() + "'");
  if (dns::is_meta_type(*type)) {
    return util::make_error("type " + dns::type_to_text(*type) + " cannot be stored in a zone");
  }

  store::Op op;
  op.rr.owner = std::move(*owner);
  op.rr.type = *type;
  op.rr.rclass = dns::rrclass::IN;
  std::optional<uint32_t> ttl;
  if (auto ttl_it = body.find("ttl"); ttl_it != body.end() && !ttl_it->is_null()) {
    if (ttl_it->is_number_unsigned()) {
      uint64_t v = ttl_it->get<uint64_t>();
      if (v > 0x7fffffffu) return util::make_error("ttl " + std::to_string(v) + " is above 2147483647 (RFC 2181 §8)");
      ttl = static_cast<uint32_t>(v);
    } else if (ttl_it->is_string()) {
      auto v = zone::parse_ttl(ttl_it->get<std::string>());
      if (!v) return util::make_error("bad ttl '" + ttl_it->get<std::string>() + "': " + v.error().message);
      ttl = *v;
    } else {
      return util::make_error("field 'ttl' must be a number of seconds or a string such as \"1h\"");
    }
  }

  std::optional<std::string> value;
  if (auto data_it = body.find("data"); data_it != body.end() && !data_it->is_null()) {
    if (data_it->is_string()) {
      value = data_it->get<std::string>();
    } else if (data_it->is_array()) {
      value = data_it->dump();  // the JSON-list form of MX and SOA values, as stdin takes it
    } else {
      return util::make_error("field 'data' must be a string in presentation form, e.g. \"192.0.2.1\"");
    }
  }
  if (!value || value->empty()) {
    if (adding) return util::make_error("field 'data' is required to add a " + dns::type_to_text(*type) + " record");
    op.kind = store::OpKind::RemoveRRset;
    return op;
  }
  auto rdata = zone::parse_rdata_any(*type, *value, zone);
  if (!rdata) {
    return util::make_error("bad " + dns::type_to_text(*type) + " value '" + *value + "': " + rdata.error().message);
  }
  op.rr.rdata = std::move(*rdata);
  op.kind = adding ? store::OpKind::Add : store::OpKind::Remove;
  op.rr.ttl = ttl.value_or(kDefaultRecordTtl);
  if (adding && !ttl && store) {
    // Without a TTL, join the RRset at its TTL rather than reset it.
    if (const zone::RRset* set = find_rrset(*store->snapshot(), op.rr.owner, op.rr.type)) op.rr.ttl = set->ttl;
  }
  return op;
}

// --- the API ---

HttpApi::HttpApi(HttpApiDeps deps, DynDnsOptions dyndns)
    : deps_(std::move(deps)), dyndns_(dyndns), sessions_(*deps_.store) {
  // As nic_update answers: the RRset deletes may find nothing (a new host); only the adds count.
  auto dyndns_judge = [](const store::ApplyResult& r) {
    for (size_t k = 1; k < r.op_errors.size(); k += 2) {
      if (!r.op_errors[k].empty()) return r.op_errors[k];
    }
    return std::string();
  };
  submit_dyndns_ = deps_.recent ? deps_.recent->wrap(deps_.submit, ChangeSource::DynDns, dyndns_judge) : deps_.submit;
  submit_rest_ = deps_.recent ? deps_.recent->wrap(deps_.submit, ChangeSource::Rest) : deps_.submit;
}

void HttpApi::count_update(const std::string& source, const std::string& result) {
  if (deps_.metrics) deps_.metrics->count_update(source, result);
}

void HttpApi::poll_status() {
  if (deps_.status && deps_.metrics) deps_.metrics->observe_status(deps_.status());
  if (deps_.recent && deps_.store) deps_.recent->observe_zones(*deps_.store);
}

std::string HttpApi::render_metrics() {
  nlohmann::json status = deps_.status ? deps_.status() : nlohmann::json::object();
  if (deps_.metrics) {
    deps_.metrics->observe_status(status);
    QueryTotals totals;
    if (deps_.query_stats) totals = deps_.query_stats->totals();
    return deps_.metrics->render(deps_.query_stats ? &totals : nullptr, status);
  }
  return Metrics().render(nullptr, status);
}

void HttpApi::handle(const HttpRequest& req, std::function<void(HttpResponse)> reply) {
  Metrics* metrics = deps_.metrics;
  auto counted = [metrics, reply = std::move(reply)](HttpResponse r) {
    if (metrics) metrics->count_http(r.status);
    reply(std::move(r));
  };
  auto [path, query] = split_target(req.target);
  auto params = parse_query_string(query);
  if (!params) return counted(text_response(400, params.error().message + "\n"));
  // A request that can change something (DynDNS2 changes with a GET) must
  // not come from another site's page through the browser's stored key.
  const bool changes = (req.method != "GET" && req.method != "HEAD") || path == "/nic/update" || path == "/v3/update";
  if (changes && is_cross_origin(req)) {
    spdlog::warn("http {}: {} {} refused: sent by a browser for another site (Sec-Fetch-Site '{}', Origin '{}')",
                 req.client_ip, req.method, path, req.fetch_site, req.origin);
    return counted(json_error(403, "cross-origin request refused: a page of another site may not change anything "
                                   "here through this browser's credentials"));
  }

  if (path == "/nic/update" || path == "/v3/update") {
    if (req.method != "GET" && req.method != "POST") {
      HttpResponse r = text_response(405, "use GET\n");
      r.headers.emplace_back("Allow", "GET, POST");
      return counted(r);
    }
    return nic_update(req, *params, std::move(counted));
  }
  if (path == "/health") {
    if (req.method != "GET" && req.method != "HEAD") return counted(json_error(405, "use GET"));
    // The term and commit index are what a forged peer frame needs: not for everyone.
    if (auto refused = refuse_read(req, identify(req), "/health", false)) return counted(std::move(*refused));
    return counted(health());
  }
  if (path == "/metrics") {
    if (req.method != "GET" && req.method != "HEAD") return counted(text_response(405, "use GET\n"));
    if (auto refused = refuse_read(req, identify(req), "/metrics", false)) return counted(std::move(*refused));
    HttpResponse r = text_response(200, render_metrics());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return counted(r);
  }
  if (path == "/" || path == "/api/v1/status") {
    if (req.method != "GET" && req.method != "HEAD") {
      HttpResponse r = json_error(405, "use GET");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return counted(r);
    }
    return counted(status_page(req, path != "/"));
  }
  constexpr std::string_view kMembers = "/api/v1/members";
  if (path == kMembers) return members(req, "", std::move(counted));
  if (path.size() > kMembers.size() + 1 && path.substr(0, kMembers.size() + 1) == "/api/v1/members/") {
    return members(req, path.substr(kMembers.size() + 1), std::move(counted));
  }
  constexpr std::string_view kZones = "/api/v1/zones/";
  constexpr std::string_view kRecords = "/records";
  if (path.size() > kZones.size() && path.substr(0, kZones.size()) == kZones &&
      path.find('/', kZones.size()) == std::string_view::npos) {
    return zone(req, path.substr(kZones.size()), std::move(counted));
  }
  if (path.size() > kZones.size() + kRecords.size() && path.substr(0, kZones.size()) == kZones &&
      path.substr(path.size() - kRecords.size()) == kRecords) {
    std::string_view zone = path.substr(kZones.size(), path.size() - kZones.size() - kRecords.size());
    if (zone.find('/') == std::string_view::npos) return records(req, zone, *params, std::move(counted));
  }
  return counted(json_error(404, "no such endpoint " + std::string(path) +
                                     " (endpoints: /, /nic/update, /api/v1/zones/{zone}, /api/v1/zones/{zone}/records, /api/v1/members, /api/v1/status, "
                                     "/health, /metrics)"));
}

// --- DynDNS2 (the dyndns.org "Remote Access Update API", as ddclient and inadyn speak it) ---

bool HttpApi::rate_limited(const dns::Name& host) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (recent_changes_.size() > 10000) {
    // Bound memory: forget hosts with nothing in the last minute.
    for (auto it = recent_changes_.begin(); it != recent_changes_.end();) {
      if (it->second.empty() || now - it->second.back() > std::chrono::minutes(1)) {
        it = recent_changes_.erase(it);
      } else {
        ++it;
      }
    }
  }
  auto& times = recent_changes_[lower(host.to_text())];
  while (!times.empty() && now - times.front() > std::chrono::minutes(1)) times.erase(times.begin());
  if (times.size() >= dyndns_.max_changes_per_minute) return true;
  times.push_back(now);
  return false;
}

void HttpApi::nic_update(const HttpRequest& req, const std::map<std::string, std::string>& params,
                         std::function<void(HttpResponse)> reply) {
  const Caller caller = identify(req);
  if (!caller.sent_credentials) {
    count_update("dyndns", "badauth");
    return reply(unauthorized("badauth\n", false));
  }
  const HttpCredential* cred = caller.key;
  if (!cred) {
    spdlog::info("http {}: /nic/update: bad credentials", req.client_ip);
    count_update("dyndns", "badauth");
    return reply(text_response(200, "badauth\n"));
  }
  if (cred->role == HttpRole::None) {
    spdlog::warn("http {}: /nic/update: key {} has no role and may change nothing over HTTP; give it "
                 "\"role\": \"update\" in tsig_keys",
                 req.client_ip, cred->user);
  }

  // The addresses: myip (a comma-separated list of at most one IPv4 and one
  // IPv6 address, as inadyn sends for dual stack), else the client's own.
  std::string myip = params.count("myip") ? params.at("myip") : "";
  if (myip.empty() && params.count("myipv6")) myip = params.at("myipv6");
  if (myip.empty()) myip = req.client_ip;
  std::vector<std::pair<uint16_t, std::string>> addrs;  // (type, rdata)
  std::vector<std::string> addr_texts;
  for (size_t start = 0; start <= myip.size();) {
    size_t comma = myip.find(',', start);
    std::string one = myip.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? myip.size() + 1 : comma + 1;
    if (one.empty()) continue;
    auto rd = ip_to_rdata(one);
    if (!rd) {
      count_update("dyndns", "badip");
      return reply(text_response(400, "myip '" + one + "' is not an IPv4 or IPv6 address\n"));
    }
    for (const auto& a : addrs) {
      if (a.first == rd->first) {
        count_update("dyndns", "badip");
        return reply(text_response(400, "myip has two " + dns::type_to_text(rd->first) +
                                            " addresses; give at most one IPv4 and one IPv6 address\n"));
      }
    }
    addrs.push_back(std::move(*rd));
    addr_texts.push_back(dns::rdata_to_text(addrs.back().first, addrs.back().second));
  }
  std::string ip_list;
  for (const std::string& t : addr_texts) ip_list += (ip_list.empty() ? "" : ",") + t;

  // One answer line per hostname, in the order given.
  std::vector<std::string> hosts;
  std::string host_param = params.count("hostname") ? params.at("hostname") : "";
  for (size_t start = 0; start <= host_param.size();) {
    size_t comma = host_param.find(',', start);
    std::string one = host_param.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? host_param.size() + 1 : comma + 1;
    if (!one.empty()) hosts.push_back(one);
  }
  if (hosts.empty()) {
    count_update("dyndns", "notfqdn");
    return reply(text_response(200, "notfqdn\n"));
  }
  if (hosts.size() > dyndns_.max_hosts) {
    count_update("dyndns", "numhost");
    return reply(text_response(200, "numhost\n"));
  }

  struct Pending {
    std::mutex mu;
    std::vector<std::string> lines;
    size_t outstanding = 0;
    std::function<void(HttpResponse)> reply;
  };
  auto pending = std::make_shared<Pending>();
  pending->lines.resize(hosts.size());
  pending->reply = std::move(reply);
  auto finish_one = [pending](size_t i, std::string line) {
    std::function<void(HttpResponse)> send;
    std::string body;
    {
      std::lock_guard lock(pending->mu);
      pending->lines[i] = std::move(line);
      if (--pending->outstanding > 0) return;
      for (const std::string& l : pending->lines) body += l + "\n";
      send = std::move(pending->reply);
    }
    send(text_response(200, std::move(body)));
  };

  auto snapshot = deps_.store->snapshot();
  std::vector<std::pair<size_t, store::Change>> changes;
  std::vector<std::string> immediate(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto name = dns::Name::from_text(hosts[i]);
    if (!name || name->label_count() < 2 || name->is_wildcard()) {
      immediate[i] = "notfqdn";
      continue;
    }
    const zone::Zone* zone = snapshot->find_zone(*name);
    bool allowed = zone != nullptr && cred->role != HttpRole::None;
    for (const auto& a : addrs) {
      if (allowed && cred->role == HttpRole::Update && cred->may_update) {
        allowed = cred->may_update(zone->apex(), *name, a.first);
      }
    }
    if (!allowed) {
      // Not served here, or not this key's to change: either way the host
      // "does not exist in this user account".
      spdlog::info("http {}: /nic/update {}: nohost for key {}", req.client_ip, name->to_text(), cred->user);
      immediate[i] = "nohost";
      continue;
    }
    bool unchanged = true;
    store::Change change;
    change.origin = deps_.origin;
    for (const auto& [type, rdata] : addrs) {
      const zone::RRset* set = find_rrset(*snapshot, *name, type);
      if (!(set && set->rdatas.size() == 1 && set->rdatas[0] == rdata)) unchanged = false;
      // Replace the RRset: delete it, then add the one address (applied in order).
      store::Op remove;
      remove.kind = store::OpKind::RemoveRRset;
      remove.rr.owner = *name;
      remove.rr.type = type;
      change.ops.push_back(remove);
      store::Op add;
      add.kind = store::OpKind::Add;
      add.rr.owner = *name;
      add.rr.type = type;
      add.rr.ttl = set ? set->ttl : dyndns_.ttl;
      add.rr.rdata = rdata;
      change.ops.push_back(std::move(add));
    }
    if (unchanged) {
      immediate[i] = "nochg " + ip_list;
      continue;
    }
    if (rate_limited(*name)) {
      spdlog::warn("http {}: /nic/update {}: more than {} changes a minute; answering abuse", req.client_ip,
                   name->to_text(), dyndns_.max_changes_per_minute);
      immediate[i] = "abuse";
      continue;
    }
    changes.emplace_back(i, std::move(change));
  }

  pending->outstanding = hosts.size();
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!immediate[i].empty()) {
      count_update("dyndns", immediate[i].substr(0, immediate[i].find(' ')));
    }
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (!immediate[i].empty()) finish_one(i, immediate[i]);
  }
  for (auto& [index, change] : changes) {
    // A named copy: lambdas may not capture structured bindings before C++20's fix (clang 14).
    size_t i = index;
    std::string host = change.ops.front().rr.owner.to_text();
    std::string client = req.client_ip;
    sessions_.submit(submit_dyndns_, std::move(change), [this, finish_one, i, host, client, ip_list](HttpSubmitResult result) {
      if (!result) {
        spdlog::warn("http {}: /nic/update {}: {}: {}", client, host, util::kind_name(result.error().kind),
                     result.error().message);
        const std::string answer = dyndns_answer(result.error().kind);
        count_update("dyndns", answer);
        return finish_one(i, answer);
      }
      // The RRset deletes may find nothing (a new host); only the adds matter.
      for (size_t k = 1; k < result->op_errors.size(); k += 2) {
        if (!result->op_errors[k].empty()) {
          spdlog::warn("http {}: /nic/update {}: {}", client, host, result->op_errors[k]);
          const std::string answer = dyndns_answer(result->kind(k));
          count_update("dyndns", answer);
          return finish_one(i, answer);
        }
      }
      spdlog::info("http {}: /nic/update {} -> {}", client, host, ip_list);
      count_update("dyndns", "good");
      finish_one(i, "good " + ip_list);
    });
  }
}

// --- REST records API ---

void HttpApi::records(const HttpRequest& req, std::string_view zone_text,
                      const std::map<std::string, std::string>& params, std::function<void(HttpResponse)> reply) {
  auto decoded = url_decode(zone_text);
  if (!decoded) return reply(json_error(400, decoded.error().message));
  std::string zt = *decoded;
  if (zt.empty() || zt.back() != '.') zt += '.';
  auto zone = dns::Name::from_text(zt);
  if (!zone) return reply(json_error(400, "bad zone name '" + *decoded + "': " + zone.error().message));
  if (!exact_zone(*deps_.store->snapshot(), *zone)) {
    return reply(json_error(404, "no zone " + zone->to_text() + " is served here"));
  }

  if (req.method == "GET" || req.method == "HEAD") {
    // Reads are open from http.open_reads_from; from elsewhere they need a key (any role).
    if (auto refused = refuse_read(req, identify(req), "reading records", true)) return reply(std::move(*refused));
    return list_records(*zone, params, std::move(reply));
  }
  if (req.method == "POST" || req.method == "DELETE") return change_record(req, *zone, params, std::move(reply));
  HttpResponse r = json_error(405, "use GET, POST or DELETE");
  r.headers.emplace_back("Allow", "GET, POST, DELETE");
  reply(r);
}

void HttpApi::list_records(const dns::Name& zone, const std::map<std::string, std::string>& params,
                           std::function<void(HttpResponse)> reply) {
  std::optional<dns::Name> name_filter;
  std::optional<uint16_t> type_filter;
  if (auto it = params.find("name"); it != params.end() && !it->second.empty()) {
    auto n = parse_record_op(nlohmann::json{{"name", it->second}, {"type", "A"}}, zone, false, nullptr);
    if (!n) return reply(json_error(400, n.error().message));
    name_filter = n->rr.owner;
  }
  if (auto it = params.find("type"); it != params.end() && !it->second.empty()) {
    type_filter = dns::type_from_text(it->second);
    if (!type_filter) return reply(json_error(400, "unknown type '" + it->second + "'"));
  }
  const store::Store* store = deps_.store;
  auto list = [store, zone, name_filter, type_filter, reply](util::Result<void> barrier) {
    if (!barrier) {
      return reply(error_response(util::make_error(barrier.error().kind, "consistent read failed: " + barrier.error().message)));
    }
    auto snap = store->snapshot();
    if (!exact_zone(*snap, zone)) return reply(json_error(404, "no zone " + zone.to_text() + " is served here"));
    nlohmann::json records = nlohmann::json::array();
    snap->for_each_record([&](const dns::RR& rr) {
      if (!rr.owner.is_subdomain_of(zone)) return;
      if (name_filter && !(rr.owner == *name_filter)) return;
      if (type_filter && rr.type != *type_filter) return;
      // A record belongs to the deepest zone holding it; DS at a nested
      // apex to the parent (RFC 4035 §2.4).
      if (rr.type == dns::rrtype::SIGNING_KEY) return;  // the cluster's private keys are never listed
      const zone::Zone* z = snap->zone_for(rr.owner, rr.type);
      if (!z || !(z->apex() == zone)) return;
      records.push_back(record_json(rr));
    });
    reply(json_response(200, nlohmann::json{{"zone", zone.to_text()},
                                            {"applied_index", store->applied_index()},
                                            {"records", records}}));
  };
  if (truthy(params, "consistent")) {
    if (!deps_.read_barrier) return list(util::Result<void>());  // a node alone: local reads are current
    auto defer = defer_;
    return deps_.read_barrier([defer, list](util::Result<void> barrier) {
      // The barrier completes on the Raft thread: list elsewhere.
      if (defer) return defer([list, barrier] { list(barrier); });
      list(barrier);
    });
  }
  list(util::Result<void>());
}

void HttpApi::change_record(const HttpRequest& req, const dns::Name& zone,
                            const std::map<std::string, std::string>& params,
                            std::function<void(HttpResponse)> reply) {
  const bool adding = req.method == "POST";
  const char* source = "rest";
  const Caller caller = identify(req);
  if (!caller.sent_credentials) {
    count_update(source, "unauthorized");
    return reply(unauthorized("changing records needs a key: basic auth with the key name and its secret", true));
  }
  const HttpCredential* cred = caller.key;
  if (!cred) {
    count_update(source, "unauthorized");
    return reply(unauthorized("bad credentials", true));
  }
  if (cred->role == HttpRole::None) {
    count_update(source, "forbidden");
    return reply(json_error(403, "key " + cred->user + " has no role and may change nothing over HTTP (give it "
                                     "\"role\": \"update\" or \"admin\" in tsig_keys)"));
  }

  nlohmann::json body;
  if (!req.body.empty()) {
    body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      count_update(source, "bad_request");
      return reply(json_error(400, "the request body is not valid JSON"));
    }
  } else if (!adding) {
    // DELETE may carry its fields as query parameters instead.
    body = nlohmann::json::object();
    for (const char* key : {"name", "type", "ttl", "data"}) {
      if (auto it = params.find(key); it != params.end()) body[key] = it->second;
    }
  } else {
    count_update(source, "bad_request");
    return reply(json_error(400, "POST needs a JSON body {\"name\", \"type\", \"ttl\"?, \"data\"}"));
  }
  auto op = parse_record_op(body, zone, adding, deps_.store);
  if (!op) {
    count_update(source, "bad_request");
    return reply(json_error(400, op.error().message));
  }
  if (cred->role == HttpRole::Update && cred->may_update && !cred->may_update(zone, op->rr.owner, op->rr.type)) {
    count_update(source, "forbidden");
    return reply(json_error(403, "key " + cred->user + " may not change " + dns::type_to_text(op->rr.type) +
                                     " records at " + op->rr.owner.to_text()));
  }

  store::Change change;
  change.origin = deps_.origin;
  change.ops.push_back(*op);
  nlohmann::json described = record_json(op->rr);
  if (op->kind == store::OpKind::RemoveRRset) described.erase("data");
  if (op->kind != store::OpKind::Add) described.erase("ttl");
  std::string client = req.client_ip;
  sessions_.submit(submit_rest_, std::move(change), [this, reply, described, adding, client, source](HttpSubmitResult result) {
    std::optional<util::Error> failed = result ? result->first_failure() : result.error();
    if (failed) {
      count_update(source, http_status(failed->kind) >= 500 ? "unavailable" : "rejected");
      return reply(error_response(*failed));
    }
    count_update(source, "ok");
    spdlog::info("http {}: {} {}", client, adding ? "added" : "removed", described.dump());
    reply(json_response(adding ? 201 : 200, nlohmann::json{{adding ? "added" : "removed", described}}));
  });
}

// --- Whole zones: PUT /api/v1/zones/{zone} adds one, DELETE removes one ---

void HttpApi::zone(const HttpRequest& req, std::string_view zone_text, std::function<void(HttpResponse)> reply) {
  const bool adding = req.method == "PUT";
  if (!adding && req.method != "DELETE") {
    HttpResponse r = json_error(405, "use PUT to add the zone or DELETE to remove it");
    r.headers.emplace_back("Allow", "PUT, DELETE");
    return reply(r);
  }
  const Caller caller = identify(req);
  if (!caller.sent_credentials) {
    return reply(unauthorized("adding or removing a zone needs an admin key: basic auth with its name and secret", true));
  }
  const HttpCredential* cred = caller.key;
  if (!cred) return reply(unauthorized("bad credentials", true));
  if (cred->role != HttpRole::Admin) {
    return reply(json_error(403, "key " + cred->user + " has role " + role_name(cred->role) +
                                     "; adding or removing a zone needs a key with \"role\": \"admin\""));
  }
  auto apex = dns::Name::from_text(std::string(zone_text));
  if (!apex || apex->is_root()) return reply(json_error(400, "'" + std::string(zone_text) + "' is not a zone name"));
  auto snap = deps_.store->snapshot();
  const bool exists = exact_zone(*snap, *apex);
  store::Change change;
  if (adding) {
    if (exists) return reply(json_error(409, "zone " + apex->to_text() + " already exists"));
    nlohmann::json body = nlohmann::json::parse(req.body.empty() ? std::string("{}") : req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return reply(json_error(400, "the body must be a JSON object {\"mname\", \"rname\", \"serial\"?}"));
    std::optional<dns::Name> names[2];
    const char* fields[2] = {"mname", "rname"};
    for (int i = 0; i < 2; ++i) {
      if (!body.contains(fields[i]) || !body[fields[i]].is_string()) {
        return reply(json_error(400, std::string(fields[i]) + ": missing (a domain name)"));
      }
      auto n = dns::Name::from_text(body[fields[i]].get<std::string>());
      if (!n) return reply(json_error(400, std::string(fields[i]) + ": " + n.error().message));
      names[i] = n.value();
    }
    uint32_t serial = 1;
    if (body.contains("serial")) {
      if (!body["serial"].is_number_unsigned() || body["serial"].get<uint64_t>() > 0xFFFFFFFFu) {
        return reply(json_error(400, "serial: must be a whole number from 0 to 4294967295"));
      }
      serial = static_cast<uint32_t>(body["serial"].get<uint64_t>());
    }
    change.ops = store::new_zone_ops(*apex, *names[0], *names[1], serial);
  } else {
    if (!exists) return reply(json_error(404, "no zone " + apex->to_text() + " is served here"));
    change.ops.push_back(store::Op{store::OpKind::RemoveZone, dns::RR{*apex, 0, dns::rrclass::IN, 0, ""}});
  }
  std::string zone_name = apex->to_text();
  std::string client = req.client_ip;
  sessions_.submit(submit_rest_, std::move(change), [reply, adding, zone_name, client](HttpSubmitResult result) {
    std::optional<util::Error> failed = result ? result->first_failure() : result.error();
    if (failed) return reply(error_response(*failed));
    spdlog::info("http {}: zone {} {}", client, zone_name, adding ? "added" : "removed");
    reply(json_response(adding ? 201 : 200, nlohmann::json{{adding ? "added" : "removed", zone_name}}));
  });
}

// --- /health ---

// --- Cluster membership: the MEMBERS / MEMBER ADD / MEMBER REMOVE commands ---

void HttpApi::members(const HttpRequest& req, std::string_view member_id, std::function<void(HttpResponse)> reply) {
  if (!deps_.members || !deps_.change_members) return reply(json_error(404, "this node has no cluster membership"));
  const bool listing = req.method == "GET" || req.method == "HEAD";
  const bool adding = req.method == "POST" && member_id.empty();
  const bool removing = req.method == "DELETE" && !member_id.empty();
  if (!listing && !adding && !removing) {
    HttpResponse r = json_error(405, member_id.empty() ? "use GET to list the members or POST to add one"
                                                       : "use DELETE to remove a member");
    r.headers.emplace_back("Allow", member_id.empty() ? "GET, POST" : "DELETE");
    return reply(r);
  }
  // Every members endpoint needs an admin key, from any address: the list
  // holds the peer addresses, and a member added at an address of one's own
  // receives every snapshot (TSIG secrets included).
  const Caller caller = identify(req);
  if (!caller.sent_credentials) {
    return reply(unauthorized("the members endpoints need an admin key: basic auth with the key name and its secret",
                              true));
  }
  const HttpCredential* cred = caller.key;
  if (!cred) return reply(unauthorized("bad credentials", true));
  if (cred->role != HttpRole::Admin) {
    return reply(json_error(403, "key " + cred->user + " has role " + role_name(cred->role) +
                                     "; the members endpoints need a key with \"role\": \"admin\""));
  }
  if (listing) {
    if (!member_id.empty()) return reply(json_error(405, "list the members with GET /api/v1/members"));
    return reply(json_response(200, nlohmann::json{{"members", deps_.members()}}));
  }

  MemberChange change;
  if (removing) {
    if (member_id.find_first_not_of("0123456789") != std::string_view::npos || member_id.size() > 7 ||
        std::stoul(std::string(member_id)) > 1000000) {
      return reply(json_error(400, "bad node id '" + std::string(member_id) + "' (a number from 0 to 1000000)"));
    }
    change.kind = MemberChange::Kind::Remove;
    change.id = static_cast<uint32_t>(std::stoul(std::string(member_id)));
  } else {
    nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      return reply(json_error(400, "the request body must be a JSON object {id, query_loc, raft_loc}"));
    }
    for (const auto& [key, value] : body.items()) {
      (void)value;
      if (key != "id" && key != "query_loc" && key != "raft_loc") {
        return reply(json_error(400, "unknown field '" + key + "' (fields: id, query_loc, raft_loc)"));
      }
    }
    if (!body.contains("id") || !body["id"].is_number_unsigned() || body["id"].get<uint64_t>() > 1000000) {
      return reply(json_error(400, "'id' must be a node id, a number from 0 to 1000000"));
    }
    change.kind = MemberChange::Kind::Add;
    change.id = static_cast<uint32_t>(body["id"].get<uint64_t>());
    for (auto [field, loc] : {std::pair{"query_loc", &change.query_loc}, std::pair{"raft_loc", &change.raft_loc}}) {
      const auto it = body.find(field);
      if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
        return reply(json_error(400, std::string("'") + field + "' must be an address, \"host:port\""));
      }
      *loc = it->get<std::string>();
      if (loc->find_first_of(" \t\r\n") != std::string::npos) {
        return reply(json_error(400, std::string("'") + field + "' must be an address, \"host:port\", not '" + *loc + "'"));
      }
    }
  }
  const std::string what = removing ? "MEMBER REMOVE " + std::to_string(change.id)
                                    : "MEMBER ADD " + std::to_string(change.id) + " " + change.query_loc + " " +
                                          change.raft_loc;
  spdlog::info("http {}: {} (key {})", req.client_ip, what, cred->user);
  // A member change is a change like any other: one session each.
  store::ClientSession session = sessions_.take();
  const store::SessionStamp stamp = session.next();
  change.client_id = stamp.client_id;
  change.sequence = stamp.sequence;
  const uint32_t id = change.id;
  deps_.change_members(std::move(change), [this, session, reply, id, removing](HttpSubmitResult result) {
    sessions_.give_back(session);
    if (!result) return reply(error_response(result.error()));
    if (std::string refused = result->first_error(); !refused.empty()) {
      // The member list's own refusal (an unknown member, an address in use).
      return reply(error_response(util::make_error(util::ErrorKind::Conflict, refused)));
    }
    const std::string message =
        removing ? "node " + std::to_string(id) + " is being removed"
                 : "node " + std::to_string(id) +
                       " added; it joins as a learner and becomes a voter once caught up (start it with --join)";
    reply(json_response(200, nlohmann::json{{"result", message}}));
  });
}

// --- who may do what ---

HttpApi::Caller HttpApi::identify(const HttpRequest& req) {
  Caller caller;
  caller.open_network = in_networks(deps_.open_reads_from, req.client_ip);
  auto creds = parse_basic_auth(req.authorization);
  if (!creds) return caller;
  caller.sent_credentials = true;
  caller.key = authenticate(deps_.credentials, creds->first, creds->second);
  if (caller.key && !req.tls && !is_loopback_address(req.client_ip)) warn_plain_text_auth(req, *caller.key);
  return caller;
}

std::optional<HttpResponse> HttpApi::refuse_read(const HttpRequest& req, const Caller& caller, const std::string& what,
                                                 bool challenge) {
  if (caller.key) return std::nullopt;
  if (caller.sent_credentials) return unauthorized("bad credentials", true);
  if (caller.open_network) return std::nullopt;
  const std::string why = what + " from " + req.client_ip +
                          " needs a key (basic auth): this address is not in http.open_reads_from";
  if (challenge) return unauthorized(why, true);
  return json_error(403, why);
}

void HttpApi::warn_plain_text_auth(const HttpRequest& req, const HttpCredential& key) {
  // Once a minute at most: a client polling every second must not flood the log.
  const auto now = std::chrono::steady_clock::now();
  uint64_t unwarned = 0;
  {
    std::lock_guard lock(mu_);
    if (last_plain_text_warning_ && now - *last_plain_text_warning_ < std::chrono::minutes(1)) {
      ++plain_text_auths_unwarned_;
      return;
    }
    last_plain_text_warning_ = now;
    unwarned = std::exchange(plain_text_auths_unwarned_, 0);
  }
  spdlog::warn("http {}: accepted basic auth for key {} over plain HTTP from a non-loopback address: its secret "
               "crossed the network in clear; configure http.tls (HTTPS) ({} more such requests since the last "
               "warning)",
               req.client_ip, key.user, unwarned);
}

// --- the status page ---

HttpResponse HttpApi::status_page(const HttpRequest& req, bool json) {
  // It shows the topology, as /metrics does: the same rule. A browser from
  // elsewhere gets a challenge, so it can ask for a key.
  if (auto refused = refuse_read(req, identify(req), "the status page", true)) return std::move(*refused);
  if (!json) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = status_page_html();
    r.headers.emplace_back("Content-Security-Policy", status_page_csp());
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    return r;
  }
  StatusInputs in;
  in.status = deps_.status ? deps_.status() : nlohmann::json::object();
  if (deps_.members) in.members = deps_.members();
  auto snapshot = deps_.store ? deps_.store->snapshot() : nullptr;
  in.zones = snapshot.get();
  if (deps_.recent && deps_.store) deps_.recent->observe_zones(*deps_.store);
  in.recent = deps_.recent;
  in.node_urls = deps_.node_urls;
  in.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
  HttpResponse r = json_response(200, status_document(in));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

HttpResponse HttpApi::health() {
  nlohmann::json status = deps_.status ? deps_.status() : nlohmann::json::object();
  if (deps_.metrics) deps_.metrics->observe_status(status);
  nlohmann::json h = nlohmann::json::object();
  for (const char* key : {"node", "role", "leader", "term", "commit_index", "applied_index", "peers", "error"}) {
    if (status.contains(key)) h[key] = status[key];
  }
  uint64_t commit = status.value("commit_index", uint64_t{0});
  uint64_t applied = status.value("applied_index", uint64_t{0});
  h["lag"] = commit > applied ? commit - applied : 0;
  const bool has_leader = status.contains("leader") && status["leader"].is_string();
  h["healthy"] = has_leader;
  // 503 tells a load balancer that writes cannot commit here now; queries
  // are still answered from the local store.
  return json_response(has_leader ? 200 : 503, h);
}

}  // namespace server
