// What a signed zone needs to prove that names and types do not exist: its
// NSEC owners in canonical order (RFC 4034 §6.1) and its NSEC3 chain by hash
// (RFC 5155), built once per zone version on the first query that asks for
// DNSSEC, so unsigned zones and queries without DO never pay for them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/dnssec.h"
#include "zone/node.h"

namespace zone {

/// The denial-of-existence view of one zone version. Node pointers point into
/// that version, which is immutable once readers can see it.
class DenialIndex {
 public:
  /// Whether the zone is signed: its apex holds a DNSKEY RRset.
  bool signed_zone() const { return signed_; }
  /// Whether it denies with NSEC3: its apex holds an NSEC3PARAM naming a chain
  /// of a hash algorithm we know (RFC 5155 §4: the one the server uses).
  bool uses_nsec3() const { return nsec3_; }

  /// NSEC (RFC 4035 §3.1.3): the node whose NSEC covers `name_wire`, a name
  /// that does not exist: the last NSEC owner before it in canonical order.
  const Node* nsec_covering(std::string_view name_wire) const;

  /// NSEC3: the hash of a name under the zone's chain parameters.
  dns::Nsec3Hash hash(std::string_view name_wire) const;
  /// One NSEC3 of the chain: its owner's hash, its node, its rdata.
  struct Nsec3Entry {
    dns::Nsec3Hash hash;
    const Node* node;
    std::string_view rdata;
  };
  /// The NSEC3 that matches `h` (RFC 5155 §7.2.1 "matches"), or null.
  const Nsec3Entry* nsec3_matching(const dns::Nsec3Hash& h) const;
  /// The NSEC3 that covers `h` (its owner hash < h < next hash, with the
  /// last NSEC3 covering the wrap-around), or null without a chain.
  const Nsec3Entry* nsec3_covering(const dns::Nsec3Hash& h) const;

  /// Builds the index of a zone from its apex and every node.
  template <class ForEachNode>
  static DenialIndex build(const Node* apex, const dns::Name& apex_name, ForEachNode&& for_each_node) {
    DenialIndex d;
    d.start(apex, apex_name);
    for_each_node([&d](const Node& n) { d.add(n); });
    d.finish();
    return d;
  }

 private:
  void start(const Node* apex, const dns::Name& apex_name);
  void add(const Node& n);
  void finish();

  bool signed_ = false;
  bool nsec3_ = false;
  std::string apex_wire_;
  std::vector<const Node*> nsec_;  // canonical order of owners
  uint8_t nsec3_alg_ = 0;
  uint16_t nsec3_iterations_ = 0;
  std::string nsec3_salt_;
  std::vector<Nsec3Entry> chain_;  // by hash
};

}  // namespace zone
