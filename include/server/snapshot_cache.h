// A reader's cached zone snapshot, refreshed only when the store publishes
// a new version: the query path checks one atomic and takes no lock.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>

#include "store/store.h"
#include "zone/zone_set.h"

namespace server {

/// One per reader thread; not shared between threads.
class SnapshotCache {
 public:
  explicit SnapshotCache(const store::Store& store) : store_(store) {}

  /// The newest published records. The reference stays valid until the
  /// next call to current() on this cache.
  const zone::ZoneSet& current() {
    uint64_t gen = store_.generation();
    if (gen != generation_) {
      // Generation is read first: if a publish races with us we may hold a
      // newer snapshot under an older number and simply refresh again.
      snapshot_ = store_.snapshot();
      generation_ = gen;
    }
    return snapshot_ ? *snapshot_ : empty();
  }

 private:
  static const zone::ZoneSet& empty() {
    static const zone::ZoneSet kEmpty;
    return kEmpty;
  }
  const store::Store& store_;
  uint64_t generation_ = std::numeric_limits<uint64_t>::max();
  std::shared_ptr<const zone::ZoneSet> snapshot_;
};

}  // namespace server
