// The node's driver: runs a node::Replica (node/replica.h, the map of the
// node) on one Asio io thread that moves its peer bytes, its tick and its
// fsyncs. Other threads submit changes and read STATUS through it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "node/change_submitter.h"
#include "node/membership.h"
#include "raft/file_io.h"
#include "raft/transport.h"
#include "store/store.h"
#include "util/result.h"

namespace node {

/// Everything the cluster runtime needs from the config and command line.
struct ClusterOptions {
  uint32_t self = 0;                          ///< this node's numeric config id
  MemberMap members;                          ///< the config file's nodes (self included): the first members
  std::string join;                           ///< --join: raft_loc of a running member; this node starts as a learner
  std::string secret;                         ///< cluster secret; empty only with insecure_peers
  bool insecure_peers = false;
  std::shared_ptr<raft::PeerSecurity> peer_security;  ///< certificates (cluster.tls); null: PSK from `secret`
  bool listen_for_peers = true;               ///< false: open no peer port (a node alone, no credentials)
  raft::UnreliableOptions unreliable;
  std::string data_dir;                       ///< the WAL and snapshots live in <data_dir>/raft
  uint32_t tick_ms = 100;                     ///< one Raft tick (heartbeat interval)
  uint32_t election_ticks = 10;               ///< election timeout in ticks (randomised up to twice)
  uint32_t propose_timeout_ms = 3000;         ///< how long a change may wait for its commit
  uint64_t prune_lag_entries = 10000;         ///< entries kept for a node that is away
  uint64_t checkpoint_every_entries = 1000;   ///< checkpoint after this many applied entries
  uint64_t wal_segment_bytes = 8u << 20;      ///< WAL segment size (compaction drops whole segments)
  bool fsync = true;
  /// Where the log and checkpoints are written; null means the real disk.
  /// Tests pass a raft::MemFileSystem to inject disk failures.
  raft::FileSystem* fs = nullptr;
};

/// One node's membership in the Raft cluster. Owns an io thread that runs the
/// replica (the store's only writer) and the peer transport; every request
/// below is posted to that thread and answered from it.
class Cluster final : public ChangeSubmitter {
 public:
  /// Opens the data directory and restores the store from the latest
  /// checkpoint plus the committed log, so the node can answer queries from
  /// its own data before any peer is reachable. Errors name the file.
  static util::Result<std::unique_ptr<Cluster>> open(ClusterOptions options, store::Store& store);
  ~Cluster() override;

  /// Binds the peer port and starts the io thread. Fails on a port in use.
  util::Result<void> start();

  /// Leaves gracefully: a leader hands leadership to a caught-up peer first
  /// (bounded wait), then everything stops. Pending changes fail.
  void stop();

  /// Proposes the change through Raft (a follower forwards it to the
  /// leader); `done` runs on the io thread once this node has applied it, or
  /// with "no quorum" / "timeout" errors after propose_timeout_ms.
  void submit(store::Change change, std::function<void(SubmitResult)> done) override;

  /// MEMBER ADD / MEMBER REMOVE (dissertation §4.1): records the change in
  /// the replicated member list; the leader then adds the node as a learner,
  /// promotes it once caught up, or removes it (handing leadership over
  /// first when it is the one removed). Refused while an earlier change is
  /// still in progress. `done` runs once this node has applied the change.
  void change_members(MemberOp op, std::function<void(SubmitResult)> done);

  /// MEMBERS: the committed member list and each member's role. Thread-safe.
  nlohmann::json members();

  /// A linearizable read point (ReadIndex, Raft dissertation §6.4): `done`
  /// runs once this node has applied everything committed when it was
  /// called, as confirmed by a leader that still holds its quorum; or with an
  /// error ("no quorum ...", "timeout ...") after propose_timeout_ms.
  void read_barrier(std::function<void(util::Result<void>)> done);

  /// The STATUS object: node, role, term, leader, commit_index,
  /// applied_index, log_first_index, log_last_index, peers. Thread-safe.
  nlohmann::json status();

  class Impl;

 private:
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace node
