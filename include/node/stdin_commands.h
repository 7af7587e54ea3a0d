// Operator commands on standard input and the control socket: ADD:,
// REMOVE:, STATUS, DIGEST, HELP, the MEMBER, ZONE and KSK commands;
// one reply line for every line read ("OK ..." or "ERROR: ...").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dns/name.h"
#include "node/change_submitter.h"
#include "node/dnssec_keys.h"
#include "node/membership.h"
#include "store/change.h"
#include "store/session.h"
#include "store/store.h"
#include "util/result.h"

namespace node {

/// TTL of a record added without one, when its RRset does not exist yet.
inline constexpr uint32_t kDefaultStdinTtl = 3600;

/// One parsed line.
struct Command {
  enum class Kind {
    Change, Status, Help, Empty, MemberChange, Members, Digest, Zones, ZoneShow, ZoneExport, ZoneImport, ZoneAdd,
    ZoneRemove, Ksk
  };
  Kind kind = Kind::Empty;
  store::Op op;           // Kind::Change: Add, Remove or RemoveRRset
  std::vector<store::Op> zone_ops;  // Kind::ZoneAdd (SOA and NS) or ZoneRemove (RemoveZone)
  bool ttl_given = false; // Add without a TTL keeps the RRset's TTL
  MemberOp member;        // Kind::MemberChange: MEMBER ADD / MEMBER REMOVE
  dns::Name zone;         // ZoneShow, ZoneExport: the apex; ZoneImport: the origin of relative names
  size_t body_bytes = 0;  // ZoneImport: octets of zone text that follow the line
  KskAction ksk = KskAction::Status;  // Kind::Ksk: KSK ROLL, KSK SUBMITTED or KSK STATUS of `zone`
};

/// Parses one line (no line number in the message):
///   ADD:    name [ttl] [IN] TYPE value
///   REMOVE: name [ttl] [IN] TYPE value     (one record)
///   REMOVE: name TYPE                      (the whole RRset)
///   ZONE ADD name mname rname [serial]     (a new zone: SOA and NS mname)
///   ZONE REMOVE name                       (the zone and every record in it)
///   MEMBER ADD id query_loc raft_loc | MEMBER REMOVE id | MEMBERS
///   STATUS | DIGEST | HELP                  (blank lines and '#' comments: Empty)
///   ZONES | ZONE SHOW name | ZONE EXPORT name
///   ZONE IMPORT bytes [origin]             (then exactly `bytes` octets of zone text)
///   KSK ROLL zone | KSK SUBMITTED zone | KSK STATUS zone   (docs/dnssec.md)
/// Fields are separated by spaces or tabs; the value is the rest of the line,
/// in master-file syntax or the legacy JSON-list form for MX and SOA. Names
/// are absolute whether or not they end in a dot. Keywords ignore case and
/// the colon is optional.
util::Result<Command> parse_command(std::string_view line);

/// The one-line usage text HELP prints.
std::string help_text();

/// Turns command lines into changes and replies. The reply to a change is
/// written only once the change is applied (or refused), so a query sent
/// after reading "OK" sees it. One object is one client session: its changes
/// carry its own client id and sequence numbers (exactly-once apply).
class StdinCommands {
 public:
  /// `status` supplies the STATUS object (node id, role, applied index...).
  StdinCommands(ChangeSubmitter& submitter, const store::Store& store, uint32_t origin,
                std::function<nlohmann::json()> status);

  /// Lets MEMBER/MEMBERS reach the cluster: `change` submits a member change
  /// and waits for its outcome; `list` returns the member list. Without
  /// them those commands answer with an error.
  void set_membership(std::function<SubmitResult(MemberOp)> change, std::function<nlohmann::json()> list);

  /// Lets ZONE IMPORT wait until this node has applied everything committed
  /// before it plans the difference (without it, the local store is read as is).
  void set_read_barrier(std::function<util::Result<void>()> barrier);

  /// Handles one line (counted from 1) and returns its reply, without newline.
  /// ZONE IMPORT needs its text: run() reads it and calls import_zone().
  std::string handle_line(std::string_view line);

  /// ZONE IMPORT: replaces the zone the text describes (its SOA's owner) with
  /// the text's records, as one change holding only the difference.
  /// `progress` gets a line at each step (parsed, planned); returns the reply.
  std::string import_zone(std::string_view text, const dns::Name& origin,
                          const std::function<void(const std::string&)>& progress);

  /// Reads lines from `in_fd` and writes replies to `out_fd` until end of
  /// input or until `stop_fd` becomes readable. Never closes either fd.
  /// ZONE IMPORT's progress lines start with "PROGRESS " and come before its
  /// reply.
  void run(int in_fd, int out_fd, int stop_fd);

 private:
  /// Stamps `change` with this handler's session and submits it; a change
  /// refused as "session expired" (not applied) goes once more on a new session.
  SubmitResult submit_on_session(store::Change change);
  /// KSK ROLL, KSK SUBMITTED, KSK STATUS: the reply.
  std::string ksk_command(const Command& cmd);
  ChangeSubmitter& submitter_;
  const store::Store& store_;
  std::function<nlohmann::json()> status_;
  std::function<SubmitResult(MemberOp)> change_members_;
  std::function<nlohmann::json()> list_members_;
  std::function<util::Result<void>()> read_barrier_;
  uint32_t origin_;
  /// Lines are handled one at a time, each waiting for its outcome: one
  /// session serves them all (one change outstanding, store/session.h).
  store::ClientSession session_;
  uint64_t line_no_ = 0;
};

/// The DIGEST reply: "OK <sha256 hex> <applied index> <record count>", the
/// three read from one version of the store (store::Store::digest()), so two
/// nodes that applied the same log answer the same line.
std::string digest_line(const store::Store& store);


}  // namespace node
