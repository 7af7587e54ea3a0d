// What the status page shows of this node's recent activity: the last
// changes it took in with their entry point and outcome, the names DynDNS
// and UPDATE keep moving, and when each zone last changed. Node-local and
// in memory only: nothing here is replicated or survives a restart.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dns/name.h"
#include "server/update.h"
#include "store/change.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

/// The entry point a change came in by.
enum class ChangeSource : uint8_t { Stdin, Update, DynDns, Rest, ZoneFile, Control };

/// "stdin", "UPDATE", "DynDNS", "REST", "zone file", "dns-nodectl" (the control socket).
const char* change_source_name(ChangeSource source);

/// One change this node took in, once its outcome is known.
struct RecentChange {
  int64_t time_ms = 0;  ///< when the outcome came back (Unix time, milliseconds)
  ChangeSource source = ChangeSource::Stdin;
  std::string summary;  ///< "add www.example.com. 300 A 192.0.2.1", "UPDATE example.com.: 2 updates", ...
  size_t ops = 0;       ///< operations (or RFC 2136 updates) in the change
  bool ok = false;      ///< applied, every op succeeded (NOERROR for an UPDATE)
  std::string outcome;  ///< "applied", an rcode name, the first op's error, or why it did not commit
};

/// A name whose address records (A, AAAA) DynDNS or UPDATE changed through
/// this node.
struct DynamicHost {
  dns::Name name;
  int64_t time_ms = 0;  ///< the last such change's outcome (Unix time, milliseconds)
  ChangeSource source = ChangeSource::DynDns;
  bool ok = false;
};

/// Thread-safe. Bounded: the newest `capacity` changes and `max_hosts` hosts
/// are kept.
class RecentChanges {
 public:
  /// `now_ms` gives the Unix time in milliseconds (default: the system clock).
  explicit RecentChanges(size_t capacity = 50, size_t max_hosts = 200, std::function<int64_t()> now_ms = {});

  /// Why an applied change failed, "" when it did not. The default: the
  /// first op's error (or the UPDATE's rcode). An entry point whose changes
  /// carry ops that may fail harmlessly says which count (DynDNS deletes the
  /// RRset before adding, and a new host has none to delete).
  using Judge = std::function<std::string(const store::ApplyResult&)>;

  /// A submit function that hands each change to `submit` and records it,
  /// with its outcome, when `done` runs (the change itself is not kept).
  SubmitFn wrap(SubmitFn submit, ChangeSource source, Judge judge = {});

  /// Records one change and its outcome.
  void record(ChangeSource source, const store::Change& change, const util::Result<store::ApplyResult>& outcome,
              const Judge& judge = {});

  /// Newest first.
  std::vector<RecentChange> changes() const;
  /// Most recently changed first.
  std::vector<DynamicHost> hosts() const;

  /// Notes each zone's SOA serial; a zone whose serial moved since the last
  /// call is stamped with the current time. Changes from every node advance
  /// serials, so this sees them all (at the caller's polling interval).
  /// Cheap when the store has not published since the last call.
  void observe_zones(const store::Store& store);
  /// When the zone at `apex` was last seen to change; nullopt = not since
  /// this node started.
  std::optional<int64_t> zone_changed_ms(const dns::Name& apex) const;

 private:
  /// What is kept of a change in flight: its summary and the address names it touches.
  struct Description {
    std::string summary;
    size_t ops = 0;
    std::vector<dns::Name> hosts;
  };
  static Description describe(const store::Change& change, bool collect_hosts);
  void record(ChangeSource source, const Description& d, const util::Result<store::ApplyResult>& outcome,
              const Judge& judge);

  const size_t capacity_;
  const size_t max_hosts_;
  std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  std::deque<RecentChange> changes_;                    // newest at the back
  std::map<dns::Name, DynamicHost> hosts_;              // by name
  std::map<dns::Name, std::pair<uint32_t, std::optional<int64_t>>> zones_;  // apex -> (serial, changed at)
  std::optional<uint64_t> seen_generation_;
};

}  // namespace server
