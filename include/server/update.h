// RFC 2136 UPDATE front end: checks the message, its TSIG and the key's
// policy, turns it into a store::Change and answers with the committed rcode.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.h"
#include "dns/tsig.h"
#include "server/network.h"
#include "store/change.h"
#include "store/session.h"
#include "store/store.h"
#include "util/result.h"

namespace server {

/// One rule of a key's update policy, in the spirit of BIND's update-policy
/// "grant" statements. A key with a policy may change a record only if some
/// rule matches its owner name and type.
struct UpdateGrant {
  enum class Match : uint8_t {
    Subdomain,  // the rule's name and every name below it
    Name,       // exactly the rule's name
    Self,       // exactly the key's own name
  };
  Match match = Match::Subdomain;
  dns::Name name;               // unused for Self
  std::vector<uint16_t> types;  // empty = every type
};

/// A TSIG key that may sign updates, with its policy.
struct UpdateKey {
  dns::tsig::Key key;
  bool restricted = false;          // false: may update every zone (no policy given)
  std::vector<UpdateGrant> grants;  // when restricted
};

struct UpdateOptions {
  std::vector<UpdateKey> keys;
  /// Unsigned updates are refused unless they come from one of these.
  std::vector<Network> allow_unsigned_from;
  uint16_t fudge = dns::tsig::kDefaultFudge;
};

/// Where a built change goes (node::ChangeSubmitter::submit, in the daemon).
/// `done` runs once, possibly on another thread, with the apply result or an
/// error ("no quorum", "timeout"). The handler stamps each change with a
/// client session of its own (store::SessionPool).
using SubmitFn = store::SubmitFn;

/// Handles UPDATE messages for the UDP and TCP listeners. Thread-safe.
class UpdateHandler {
 public:
  /// `now` returns seconds since the epoch (for TSIG time checks); the
  /// default is the system clock.
  UpdateHandler(const store::Store& store, SubmitFn submit, UpdateOptions options,
                std::function<uint64_t()> now = {});
  ~UpdateHandler();
  UpdateHandler(const UpdateHandler&) = delete;
  UpdateHandler& operator=(const UpdateHandler&) = delete;

  /// Whether a packet is an UPDATE request the listener should hand over:
  /// opcode UPDATE, QR clear. Reads only the header; no allocation.
  static bool is_update(const uint8_t* packet, size_t len) {
    return len >= 12 && (packet[2] & 0x80) == 0 && ((packet[2] >> 3) & 0xF) == 5;
  }

  /// Handles one UPDATE from `peer`. `reply` is called exactly once with the
  /// response (empty: send nothing), possibly before handle() returns,
  /// possibly later on another thread.
  void handle(const uint8_t* packet, size_t len, const sockaddr* peer, std::function<void(std::string)> reply);

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace server
