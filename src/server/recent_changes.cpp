// The status page's record of recent changes, dynamic hosts and zone
// change times (node-local, in memory).
#include "server/recent_changes.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "dns/rr.h"
#include "server/query_stats.h"

namespace server {
namespace {

constexpr size_t kOpsInSummary = 3;  // a zone file's change may hold a million ops: name the first few

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_address(uint16_t type) { return type == dns::rrtype::A || type == dns::rrtype::AAAA; }

/// Only DynDNS and UPDATE make "dynamic" hosts; stdin, REST and zone files are edits.
bool is_dynamic(ChangeSource source) { return source == ChangeSource::DynDns || source == ChangeSource::Update; }

std::string describe_op(const store::Op& op) {
  const std::string where = op.rr.owner.to_text() + " " + dns::type_to_text(op.rr.type);
  switch (op.kind) {
    case store::OpKind::Add:
      return "add " + op.rr.owner.to_text() + " " + std::to_string(op.rr.ttl) + " " + dns::type_to_text(op.rr.type) +
             " " + dns::rdata_to_text(op.rr.type, op.rr.rdata);
    case store::OpKind::Remove:
      return "remove " + where + " " + dns::rdata_to_text(op.rr.type, op.rr.rdata);
    case store::OpKind::RemoveRRset:
      return "remove " + where + " (all)";
    case store::OpKind::RemoveZone:
      return "remove zone " + op.rr.owner.to_text();
    case store::OpKind::AddSigningKey:
      return "add a DNSSEC signing key for " + op.rr.owner.to_text();
    case store::OpKind::SetSigningKeys:
      return "change the DNSSEC signing keys of " + op.rr.owner.to_text();
  }
  return "?";
}

std::string describe_update(const store::UpdateOp& u) {
  const std::string where = u.rr.owner.to_text() + " " + dns::type_to_text(u.rr.type);
  switch (u.kind) {
    case store::UpdateKind::Add:
      return "add " + where + " " + dns::rdata_to_text(u.rr.type, u.rr.rdata);
    case store::UpdateKind::DeleteRRset:
      return "delete " + where;
    case store::UpdateKind::DeleteName:
      return "delete " + u.rr.owner.to_text() + " (every type)";
    case store::UpdateKind::DeleteRR:
      return "delete " + where + " " + dns::rdata_to_text(u.rr.type, u.rr.rdata);
  }
  return "?";
}

template <class T, class F>
std::string join_first(const std::vector<T>& items, F describe_one) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kOpsInSummary; ++i) out += (i ? "; " : "") + describe_one(items[i]);
  if (items.size() > kOpsInSummary) out += "; and " + std::to_string(items.size() - kOpsInSummary) + " more";
  return out;
}

}  // namespace

const char* change_source_name(ChangeSource source) {
  switch (source) {
    case ChangeSource::Stdin: return "stdin";
    case ChangeSource::Update: return "UPDATE";
    case ChangeSource::DynDns: return "DynDNS";
    case ChangeSource::Rest: return "REST";
    case ChangeSource::ZoneFile: return "zone file";
    case ChangeSource::Control: return "dns-nodectl";
  }
  return "?";
}

RecentChanges::RecentChanges(size_t capacity, size_t max_hosts, std::function<int64_t()> now_ms)
    : capacity_(std::max<size_t>(1, capacity)),
      max_hosts_(std::max<size_t>(1, max_hosts)),
      now_ms_(now_ms ? std::move(now_ms) : std::function<int64_t()>(system_now_ms)) {}

RecentChanges::Description RecentChanges::describe(const store::Change& change, bool collect_hosts) {
  Description d;
  if (change.update) {
    const store::Update& u = *change.update;
    d.ops = u.updates.size();
    d.summary = "UPDATE " + u.zone.to_text() + ": " + join_first(u.updates, describe_update);
    if (!u.prereqs.empty()) d.summary += " (" + std::to_string(u.prereqs.size()) + " prerequisites)";
    for (const store::UpdateOp& op : u.updates) {
      // Address records, or a whole name deleted (which takes its addresses).
      if (collect_hosts && (is_address(op.rr.type) || op.kind == store::UpdateKind::DeleteName)) {
        d.hosts.push_back(op.rr.owner);
      }
    }
  } else {
    d.ops = change.ops.size();
    d.summary = change.ops.empty() ? "no operations" : join_first(change.ops, describe_op);
    for (const store::Op& op : change.ops) {
      if (collect_hosts && is_address(op.rr.type)) d.hosts.push_back(op.rr.owner);
    }
  }
  std::sort(d.hosts.begin(), d.hosts.end());
  d.hosts.erase(std::unique(d.hosts.begin(), d.hosts.end()), d.hosts.end());
  return d;
}

SubmitFn RecentChanges::wrap(SubmitFn submit, ChangeSource source, Judge judge) {
  return [this, submit = std::move(submit), source, judge = std::move(judge)](
             store::Change change, std::function<void(util::Result<store::ApplyResult>)> done) {
    auto d = std::make_shared<Description>(describe(change, is_dynamic(source)));
    submit(std::move(change), [this, source, d, judge, done = std::move(done)](util::Result<store::ApplyResult> r) {
      record(source, *d, r, judge);
      done(std::move(r));
    });
  };
}

void RecentChanges::record(ChangeSource source, const store::Change& change,
                           const util::Result<store::ApplyResult>& outcome, const Judge& judge) {
  record(source, describe(change, is_dynamic(source)), outcome, judge);
}

void RecentChanges::record(ChangeSource source, const Description& d,
                           const util::Result<store::ApplyResult>& outcome, const Judge& judge) {
  RecentChange c;
  c.time_ms = now_ms_();
  c.source = source;
  c.summary = d.summary;
  c.ops = d.ops;
  if (!outcome) {
    c.outcome = outcome.error().message;
  } else if (judge) {
    c.outcome = judge(*outcome);
  } else if (outcome->rcode != 0) {
    c.outcome = rcode_name(outcome->rcode);
  } else {
    c.outcome = outcome->first_error();
  }
  if (outcome && c.outcome.empty()) {
    c.ok = true;
    c.outcome = outcome->duplicate ? "applied before (a retry)" : "applied";
  }
  std::lock_guard lock(mu_);
  changes_.push_back(std::move(c));
  while (changes_.size() > capacity_) changes_.pop_front();
  for (const dns::Name& host : d.hosts) {
    hosts_[host] = DynamicHost{host, changes_.back().time_ms, source, changes_.back().ok};
  }
  while (hosts_.size() > max_hosts_) {
    auto oldest = std::min_element(hosts_.begin(), hosts_.end(),
                                   [](const auto& a, const auto& b) { return a.second.time_ms < b.second.time_ms; });
    hosts_.erase(oldest);
  }
}

std::vector<RecentChange> RecentChanges::changes() const {
  std::lock_guard lock(mu_);
  return std::vector<RecentChange>(changes_.rbegin(), changes_.rend());
}

std::vector<DynamicHost> RecentChanges::hosts() const {
  std::vector<DynamicHost> out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, h] : hosts_) out.push_back(h);
  }
  std::stable_sort(out.begin(), out.end(), [](const DynamicHost& a, const DynamicHost& b) { return a.time_ms > b.time_ms; });
  return out;
}

void RecentChanges::observe_zones(const store::Store& store) {
  const uint64_t generation = store.generation();
  {
    std::lock_guard lock(mu_);
    if (seen_generation_ == generation) return;
  }
  auto snapshot = store.snapshot();
  std::map<dns::Name, uint32_t> serials;
  for (const dns::Name& apex : snapshot->zone_names()) {
    const zone::Zone* z = snapshot->find_zone(apex);
    const zone::RRset* soa = z ? z->soa() : nullptr;
    if (!soa || soa->rdatas.empty()) continue;
    if (auto fields = dns::soa_decode(soa->rdatas.front())) serials[apex] = fields->serial;
  }
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  const bool first = !seen_generation_.has_value();
  seen_generation_ = generation;
  std::map<dns::Name, std::pair<uint32_t, std::optional<int64_t>>> next;
  for (const auto& [apex, serial] : serials) {
    auto it = zones_.find(apex);
    std::optional<int64_t> changed;
    if (it != zones_.end()) {
      changed = it->second.second;
      if (it->second.first != serial) changed = now;
    } else if (!first) {
      changed = now;  // a zone created since the last look
    }
    next[apex] = {serial, changed};
  }
  zones_ = std::move(next);
}

std::optional<int64_t> RecentChanges::zone_changed_ms(const dns::Name& apex) const {
  std::lock_guard lock(mu_);
  auto it = zones_.find(apex);
  if (it == zones_.end()) return std::nullopt;
  return it->second.second;
}

}  // namespace server
