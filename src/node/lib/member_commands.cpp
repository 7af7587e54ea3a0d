// MEMBER ADD / MEMBER REMOVE for the HTTP API, through the stdin parser.
#include "node/member_commands.h"

#include "node/stdin_commands.h"
#include "server/http_api.h"

namespace node {

void run_member_command(Cluster& cluster, std::string_view line, uint64_t client_id, uint64_t sequence,
                        std::function<void(unsigned status, std::string message)> done) {
  auto parsed = parse_command(line);
  if (!parsed) return done(400, parsed.error().message);
  if (parsed->kind != Command::Kind::MemberChange) return done(400, "not a MEMBER ADD or MEMBER REMOVE command");
  MemberOp op = parsed->member;
  op.client_id = client_id;
  op.sequence = sequence;
  const uint32_t id = op.id;
  const bool removing = op.kind == MemberOp::Kind::Remove;
  cluster.change_members(std::move(op), [id, removing, done = std::move(done)](SubmitResult result) {
    if (!result) return done(server::status_for_submit_error(result.error().message), result.error().message);
    if (std::string refused = result->first_error(); !refused.empty()) return done(409, refused);
    if (removing) return done(200, "node " + std::to_string(id) + " is being removed");
    done(200, "node " + std::to_string(id) +
                  " added; it joins as a learner and becomes a voter once caught up (start it with --join)");
  });
}

}  // namespace node
