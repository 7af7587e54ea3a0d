// A change: an ordered batch of record operations, the unit that Raft
// replicates and apply executes. Carries its origin for exactly-once apply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/rr.h"
#include "util/result.h"

namespace store {

enum class OpKind : uint8_t {
  Add = 1,          // add rr (an existing identical record only refreshes the TTL)
  Remove = 2,       // remove the record matching owner, type and rdata
  RemoveRRset = 3,  // remove every record of rr.type at rr.owner
};

struct Op {
  OpKind kind = OpKind::Add;
  dns::RR rr;
};

/// A batch of operations. Ops are applied in order; each succeeds or fails
/// on its own (a zone file seeding a cluster loads what it can).
/// (origin, client_id, sequence) identify the change for deduplication: a
/// change whose sequence is not above the last applied one from the same
/// (origin, client_id) is not applied again, and gets the earlier result.
struct Change {
  uint32_t origin = 0;      // node id that accepted it
  uint64_t client_id = 0;   // a client of that node (stdin, an UPDATE socket, ...)
  uint64_t sequence = 0;    // increasing per (origin, client_id); 0 = no dedupe
  std::vector<Op> ops;
};

/// Compact, versioned binary encoding (the bytes stored in the Raft log).
std::string encode_change(const Change& change);
util::Result<Change> decode_change(std::string_view bytes);

}  // namespace store
