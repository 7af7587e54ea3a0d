// Membership arithmetic and the encoding of single-server membership changes.
#include "raft/types.h"

#include <algorithm>

namespace raft {

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::PreVote: return "PreVote";
    case MessageType::PreVoteResp: return "PreVoteResp";
    case MessageType::Vote: return "Vote";
    case MessageType::VoteResp: return "VoteResp";
    case MessageType::Append: return "Append";
    case MessageType::AppendResp: return "AppendResp";
    case MessageType::Heartbeat: return "Heartbeat";
    case MessageType::HeartbeatResp: return "HeartbeatResp";
    case MessageType::Snapshot: return "Snapshot";
    case MessageType::SnapshotResp: return "SnapshotResp";
    case MessageType::TimeoutNow: return "TimeoutNow";
    case MessageType::Forward: return "Forward";
    case MessageType::ReadIndex: return "ReadIndex";
    case MessageType::ReadIndexResp: return "ReadIndexResp";
    case MessageType::AppliedReport: return "AppliedReport";
    case MessageType::JoinRequest: return "JoinRequest";
    case MessageType::JoinResponse: return "JoinResponse";
  }
  return "?";
}


bool Membership::is_voter(NodeId id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool Membership::is_learner(NodeId id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

std::string ConfChange::encode() const {
  std::string out(9, '\0');
  out[0] = static_cast<char>(type);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((node >> (8 * i)) & 0xff);
  return out;
}

std::optional<ConfChange> ConfChange::decode(const std::string& data) {
  if (data.size() != 9) return std::nullopt;
  auto t = static_cast<uint8_t>(data[0]);
  if (t < 1 || t > 3) return std::nullopt;
  ConfChange cc;
  cc.type = static_cast<ConfChangeType>(t);
  cc.node = 0;
  for (int i = 0; i < 8; ++i) cc.node |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i])) << (8 * i);
  if (cc.node == kNoNode) return std::nullopt;
  return cc;
}

std::optional<Membership> ConfChange::apply_to(const Membership& m) const {
  Membership out = m;
  auto erase = [](std::vector<NodeId>& v, NodeId id) { v.erase(std::remove(v.begin(), v.end(), id), v.end()); };
  switch (type) {
    case ConfChangeType::AddLearner:
      if (m.contains(node)) return std::nullopt;
      out.learners.push_back(node);
      break;
    case ConfChangeType::Promote:
      if (!m.is_learner(node)) return std::nullopt;
      erase(out.learners, node);
      out.voters.push_back(node);
      break;
    case ConfChangeType::Remove:
      if (!m.contains(node)) return std::nullopt;
      erase(out.learners, node);
      erase(out.voters, node);
      break;
  }
  std::sort(out.voters.begin(), out.voters.end());
  std::sort(out.learners.begin(), out.learners.end());
  return out;
}

}  // namespace raft
