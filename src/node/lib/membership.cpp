// Encoding and deterministic application of member-list changes.
#include "node/membership.h"

#include <cstdint>

#include "raft/core.h"
#include "util/bytes.h"

namespace node {
namespace {
// First byte of a member entry; store changes start with their version (small numbers).
constexpr uint8_t kMemberEntryTag = 0xCE;
constexpr std::string_view kClusterStateMagic = "DNSNODE-CLUSTER\x01";
constexpr uint32_t kMaxMembers = 1000;
}  // namespace

bool is_member_entry(std::string_view bytes) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == kMemberEntryTag;
}

std::string encode_member_op(const MemberOp& op) {
  std::string out;
  util::ByteWriter w(out);
  w.u8(kMemberEntryTag);
  w.u32(op.origin);
  w.u64(op.client_id);
  w.u64(op.sequence);
  w.u8(static_cast<uint8_t>(op.kind));
  w.u32(op.id);
  w.str(op.info.query_loc);
  w.str(op.info.raft_loc);
  w.u8(op.info.holds_data ? 1 : 0);
  return out;
}

util::Result<MemberOp> decode_member_op(std::string_view bytes) {
  util::ByteReader r(bytes);
  if (r.u8() != kMemberEntryTag) return util::make_error("member entry: bad tag");
  MemberOp op;
  op.origin = r.u32();
  op.client_id = r.u64();
  op.sequence = r.u64();
  uint8_t kind = r.u8();
  op.id = r.u32();
  op.info.query_loc = std::string(r.str());
  op.info.raft_loc = std::string(r.str());
  op.info.holds_data = r.u8() != 0;
  if (!r.ok() || !r.at_end()) return util::make_error("member entry: truncated or trailing bytes");
  if (kind != static_cast<uint8_t>(MemberOp::Kind::Set) && kind != static_cast<uint8_t>(MemberOp::Kind::Remove)) {
    return util::make_error("member entry: unknown kind " + std::to_string(kind));
  }
  op.kind = static_cast<MemberOp::Kind>(kind);
  return op;
}

std::string apply_member_op(MemberMap& members, const MemberOp& op) {
  const std::string who = "node " + std::to_string(op.id);
  if (op.kind == MemberOp::Kind::Set) {
    auto it = members.find(op.id);
    if (it != members.end()) {
      if (it->second.raft_loc == op.info.raft_loc && it->second.query_loc == op.info.query_loc) {
        // A retry, a new leader recording the same list, or the leader noting
        // that the node now holds data (a flag that is never cleared).
        it->second.holds_data |= op.info.holds_data;
        return "";
      }
      return who + " is already a member (at " + it->second.raft_loc + "); remove it first";
    }
    // A mark only notes that a listed member holds data: one that arrives
    // after the member's removal must not add it back. (Every log has a
    // member's record before its mark: the leader proposes them in order.)
    if (op.info.holds_data) return who + " is not a member (it was removed before it was noted as holding data)";
    for (const auto& [id, info] : members) {
      if (info.raft_loc == op.info.raft_loc || info.query_loc == op.info.query_loc) {
        return "node " + std::to_string(id) + " already uses " +
               (info.raft_loc == op.info.raft_loc ? info.raft_loc : info.query_loc);
      }
    }
    if (members.size() >= kMaxMembers) return "too many members";
    members[op.id] = op.info;
    return "";
  }
  if (!members.count(op.id)) return who + " is not a member";
  if (members.size() == 1) return who + " is the last member; a cluster cannot remove its last node";
  members.erase(op.id);
  return "";
}

std::string encode_cluster_state(const MemberMap& members, std::string_view store_state) {
  std::string out;
  util::ByteWriter w(out);
  w.raw(kClusterStateMagic);
  w.u32(static_cast<uint32_t>(members.size()));
  for (const auto& [id, info] : members) {
    w.u32(id);
    w.str(info.query_loc);
    w.str(info.raft_loc);
    w.u8(info.holds_data ? 1 : 0);
  }
  w.raw(store_state);
  return out;
}

util::Result<std::pair<MemberMap, std::string_view>> decode_cluster_state(std::string_view bytes) {
  util::ByteReader r(bytes);
  if (r.raw(kClusterStateMagic.size()) != kClusterStateMagic) {
    return util::make_error("checkpoint: not a dns-node cluster state (bad magic)");
  }
  MemberMap members;
  uint32_t n = r.u32();
  if (n > kMaxMembers) return util::make_error("checkpoint: member count " + std::to_string(n) + " is corrupt");
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    uint32_t id = r.u32();
    MemberInfo info;
    info.query_loc = std::string(r.str());
    info.raft_loc = std::string(r.str());
    info.holds_data = r.u8() != 0;
    members[id] = std::move(info);
  }
  if (!r.ok()) return util::make_error("checkpoint: member list is truncated");
  return std::make_pair(std::move(members), bytes.substr(r.position()));
}

void DataMarks::proposed(uint32_t member, raft::Term term, raft::Index index) {
  auto [it, inserted] = marks_.try_emplace(member, Mark{term, index});
  // Within a term the first mark counts; a later copy would only raise the floor.
  if (!inserted && it->second.term != term) it->second = {term, index};
}

bool DataMarks::needs_mark(uint32_t member, raft::Term term, const MemberMap& committed) const {
  if (auto m = committed.find(member); m != committed.end() && m->second.holds_data) return false;
  auto it = marks_.find(member);
  return it == marks_.end() || it->second.term != term;
}

raft::Index DataMarks::commit_floor(uint32_t member, raft::Term term, const MemberMap& committed) const {
  if (!committed.empty()) {
    auto m = committed.find(member);
    // A voter the list no longer names is on its way out; counting it as
    // before keeps its removal from waiting on the other voters alone.
    if (m == committed.end() || m->second.holds_data) return 0;
  }
  // A mark appended by an earlier leader may have been lost with its term;
  // only this leader's own entry is known to stay in its log.
  auto it = marks_.find(member);
  if (it != marks_.end() && it->second.term == term) return it->second.index;
  return raft::Core::kNoCommitFloor;
}

void note_unapplied_mark(MemberMap& members, std::string_view entry_bytes) {
  if (!is_member_entry(entry_bytes)) return;
  auto op = decode_member_op(entry_bytes);
  if (!op || op->kind != MemberOp::Kind::Set || !op->info.holds_data) return;
  auto [it, inserted] = members.try_emplace(op->id, op->info);
  it->second.holds_data = true;
}

nlohmann::json members_to_json(const MemberMap& members) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [id, info] : members) {
    j[std::to_string(id)] = {{"query_loc", info.query_loc}, {"raft_loc", info.raft_loc}, {"holds_data", info.holds_data}};
  }
  return j;
}

std::string encode_join_answer(const JoinAnswer& answer) {
  return nlohmann::json{{"voters", answer.voters}, {"members", members_to_json(answer.members)}, {"term", answer.term}}
      .dump();
}

util::Result<JoinAnswer> decode_join_answer(std::string_view bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return util::make_error("join answer: not a JSON object");
  auto voters = j.find("voters");
  auto members = j.find("members");
  if (voters == j.end() || !voters->is_array() || voters->empty()) {
    return util::make_error("join answer: \"voters\" is not a list of node ids");
  }
  if (members == j.end() || !members->is_object()) return util::make_error("join answer: \"members\" is not an object");
  JoinAnswer answer;
  for (const auto& v : *voters) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 || v.get<uint64_t>() > (uint64_t{1} << 32)) {
      return util::make_error("join answer: voter " + v.dump() + " is not a node id");
    }
    answer.voters.push_back(v.get<raft::NodeId>());
  }
  for (const auto& [key, info] : members->items()) {
    // A config id: decimal digits that fit 32 bits.
    if (key.empty() || key.size() > 10 || key.find_first_not_of("0123456789") != std::string::npos ||
        std::stoull(key) > UINT32_MAX) {
      return util::make_error("join answer: member id \"" + key + "\" is not a number");
    }
    if (!info.is_object()) return util::make_error("join answer: member " + key + " is not an object");
    MemberInfo m;
    for (auto [field, out] : {std::pair{"query_loc", &m.query_loc}, std::pair{"raft_loc", &m.raft_loc}}) {
      auto f = info.find(field);
      if (f == info.end()) continue;
      if (!f->is_string()) return util::make_error("join answer: member " + key + ": " + field + " is not a string");
      *out = f->get<std::string>();
    }
    if (auto f = info.find("holds_data"); f != info.end()) {
      if (!f->is_boolean()) return util::make_error("join answer: member " + key + ": holds_data is not a boolean");
      m.holds_data = f->get<bool>();
    }
    answer.members[static_cast<uint32_t>(std::stoull(key))] = std::move(m);
  }
  if (auto t = j.find("term"); t != j.end()) {
    if (!t->is_number_unsigned()) return util::make_error("join answer: \"term\" is not a number");
    answer.term = t->get<raft::Term>();
  }
  return answer;
}

}  // namespace node
