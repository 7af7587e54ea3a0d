// MEMBER ADD / MEMBER REMOVE for the HTTP API: typed, straight to the cluster.
#include "node/member_commands.h"

#include <string>
#include <utility>

#include "node/config.h"

namespace node {

void submit_member_change(Cluster& cluster, const server::MemberChange& change,
                          std::function<void(SubmitResult)> done) {
  MemberOp op;
  op.id = change.id;
  op.client_id = change.client_id;
  op.sequence = change.sequence;
  if (change.kind == server::MemberChange::Kind::Remove) {
    op.kind = MemberOp::Kind::Remove;
  } else {
    op.kind = MemberOp::Kind::Set;
    for (auto [text, loc] : {std::pair{&change.query_loc, &op.info.query_loc},
                             std::pair{&change.raft_loc, &op.info.raft_loc}}) {
      auto ep = parse_endpoint(*text);
      if (!ep) return done(util::make_error("bad address '" + *text + "': " + ep.error().message));
      *loc = ep->to_string();
    }
  }
  cluster.change_members(std::move(op), std::move(done));
}

}  // namespace node
