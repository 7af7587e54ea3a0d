// Operator commands on stdin and the control socket: parse a line, submit
// the change, reply once.
#include "node/stdin_commands.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "node/config.h"
#include "node/zone_commands.h"
#include "zone/zone_file.h"
#include "zone/zone_set.h"

namespace node {
namespace {

constexpr size_t kMaxLineLength = 65536;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/// Splits off the next space/tab-separated field.
std::string_view next_field(std::string_view& rest) {
  size_t i = 0;
  while (i < rest.size() && is_space(rest[i])) ++i;
  size_t j = i;
  while (j < rest.size() && !is_space(rest[j])) ++j;
  std::string_view field = rest.substr(i, j - i);
  rest.remove_prefix(j);
  return field;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string describe(const dns::RR& rr) {
  return rr.owner.to_text() + " " + std::to_string(rr.ttl) + " IN " + dns::type_to_text(rr.type) + " " +
         dns::rdata_to_text(rr.type, rr.rdata);
}

/// The reply to a change that failed, the one place it is chosen: "ERROR: "
/// and the message; an unknown outcome says so first, since the change may
/// still be applied and sending it again is safe.
std::string error_reply(const util::Error& error) {
  if (error.kind == util::ErrorKind::OutcomeUnknown) return "ERROR: outcome unknown (retrying is safe): " + error.message;
  return "ERROR: " + error.message;
}

/// MEMBER ADD id query_loc raft_loc | MEMBER REMOVE id
util::Result<Command> parse_member_command(std::string_view rest) {
  constexpr const char* kUsage = " (MEMBER ADD id query_loc raft_loc | MEMBER REMOVE id)";
  Command cmd;
  cmd.kind = Command::Kind::MemberChange;
  std::string action = upper(next_field(rest));
  if (action != "ADD" && action != "REMOVE") {
    return util::make_error("MEMBER needs ADD or REMOVE" + std::string(kUsage));
  }
  std::string_view id_text = next_field(rest);
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (id_text.empty() || ec != std::errc() || end != id_text.data() + id_text.size() || id > 1000000) {
    return util::make_error("bad node id '" + std::string(id_text) + "' (a number from 0 to 1000000)" + kUsage);
  }
  cmd.member.id = id;
  if (action == "REMOVE") {
    cmd.member.kind = MemberOp::Kind::Remove;
  } else {
    cmd.member.kind = MemberOp::Kind::Set;
    for (std::string* loc : {&cmd.member.info.query_loc, &cmd.member.info.raft_loc}) {
      std::string_view field = next_field(rest);
      if (field.empty()) return util::make_error(std::string("missing address") + kUsage);
      auto ep = parse_endpoint(field);
      if (!ep) return util::make_error("bad address '" + std::string(field) + "': " + ep.error().message);
      *loc = ep->to_string();
    }
  }
  if (!trim(rest).empty()) return util::make_error("unexpected '" + std::string(trim(rest)) + "'" + kUsage);
  return cmd;
}

/// ZONE ADD name mname rname [serial] | ZONE REMOVE name (`action` read already)
util::Result<Command> parse_zone_add_remove(const std::string& action, std::string_view rest) {
  constexpr const char* kUsage = " (ZONE ADD name mname rname [serial] | ZONE REMOVE name)";
  Command cmd;
  std::vector<dns::Name> names;
  const size_t wanted = action == "ADD" ? 3 : 1;
  for (size_t i = 0; i < wanted; ++i) {
    std::string_view field = next_field(rest);
    if (field.empty()) return util::make_error(std::string("missing name") + kUsage);
    auto n = dns::Name::from_text(field);
    if (!n) return util::make_error("bad name '" + std::string(field) + "': " + n.error().message);
    names.push_back(std::move(n.value()));
  }
  if (names[0].is_root()) return util::make_error("the root cannot be added or removed as a zone");
  if (action == "REMOVE") {
    if (!trim(rest).empty()) return util::make_error("unexpected '" + std::string(trim(rest)) + "'" + kUsage);
    cmd.kind = Command::Kind::ZoneRemove;
    cmd.zone_ops.push_back(store::Op{store::OpKind::RemoveZone, dns::RR{names[0], 0, dns::rrclass::IN, 0, ""}});
    return cmd;
  }
  uint32_t serial = 1;
  if (std::string_view s = next_field(rest); !s.empty()) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), serial);
    if (ec != std::errc() || end != s.data() + s.size()) {
      return util::make_error("bad serial '" + std::string(s) + "' (0-4294967295)" + kUsage);
    }
  }
  if (!trim(rest).empty()) return util::make_error("unexpected '" + std::string(trim(rest)) + "'" + kUsage);
  cmd.kind = Command::Kind::ZoneAdd;
  cmd.zone_ops = store::new_zone_ops(names[0], names[1], names[2], serial);
  return cmd;
}

/// ZONE SHOW name | ZONE EXPORT name | ZONE IMPORT bytes [origin] |
/// ZONE ADD name mname rname [serial] | ZONE REMOVE name
util::Result<Command> parse_zone_command(std::string_view rest) {
  constexpr const char* kUsage =
      " (ZONE SHOW name | ZONE EXPORT name | ZONE IMPORT bytes [origin] | ZONE ADD name mname rname [serial] | "
      "ZONE REMOVE name)";
  Command cmd;
  std::string action = upper(next_field(rest));
  if (!action.empty() && action.back() == ':') action.pop_back();
  if (action == "ADD" || action == "REMOVE") return parse_zone_add_remove(action, rest);
  std::string_view arg = next_field(rest);
  std::string_view origin;
  if (action == "SHOW" || action == "EXPORT") {
    cmd.kind = action == "SHOW" ? Command::Kind::ZoneShow : Command::Kind::ZoneExport;
    if (arg.empty()) return util::make_error("missing zone name" + std::string(kUsage));
    auto apex = dns::Name::from_text(arg);
    if (!apex) return util::make_error("bad zone name '" + std::string(arg) + "': " + apex.error().message);
    cmd.zone = std::move(*apex);
  } else if (action == "IMPORT") {
    cmd.kind = Command::Kind::ZoneImport;
    size_t bytes = 0;
    auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), bytes);
    if (arg.empty() || ec != std::errc() || end != arg.data() + arg.size()) {
      return util::make_error("bad length '" + std::string(arg) + "': the octets of zone text that follow" + kUsage);
    }
    cmd.body_bytes = bytes;
    origin = next_field(rest);
    if (!origin.empty()) {
      auto name = dns::Name::from_text(origin);
      if (!name) return util::make_error("bad origin '" + std::string(origin) + "': " + name.error().message);
      cmd.zone = std::move(*name);
    }
  } else {
    return util::make_error("ZONE needs SHOW, EXPORT, IMPORT, ADD or REMOVE" + std::string(kUsage));
  }
  if (!trim(rest).empty()) return util::make_error("unexpected '" + std::string(trim(rest)) + "'" + kUsage);
  return cmd;
}

/// KSK ROLL zone | KSK SUBMITTED zone | KSK STATUS zone
util::Result<Command> parse_ksk_command(std::string_view rest) {
  constexpr const char* kUsage = " (KSK ROLL zone | KSK SUBMITTED zone | KSK STATUS zone)";
  Command cmd;
  cmd.kind = Command::Kind::Ksk;
  std::string action = upper(next_field(rest));
  if (action == "ROLL") {
    cmd.ksk = KskAction::Roll;
  } else if (action == "SUBMITTED") {
    cmd.ksk = KskAction::Submitted;
  } else if (action == "STATUS") {
    cmd.ksk = KskAction::Status;
  } else {
    return util::make_error("KSK needs ROLL, SUBMITTED or STATUS" + std::string(kUsage));
  }
  std::string_view arg = next_field(rest);
  if (arg.empty()) return util::make_error("missing zone name" + std::string(kUsage));
  auto apex = dns::Name::from_text(arg);
  if (!apex) return util::make_error("bad zone name '" + std::string(arg) + "': " + apex.error().message);
  cmd.zone = std::move(*apex);
  if (!trim(rest).empty()) return util::make_error("unexpected '" + std::string(trim(rest)) + "'" + kUsage);
  return cmd;
}

/// "12.3 MB", "4.5 kB": sizes in progress lines.
std::string size_text(double bytes) {
  char buf[32];
  if (bytes >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  }
  return buf;
}

}  // namespace

std::string help_text() {
  return "commands: ADD: name [ttl] TYPE value | REMOVE: name [ttl] TYPE value | REMOVE: name TYPE | "
         "MEMBER ADD id query_loc raft_loc | MEMBER REMOVE id | MEMBERS | STATUS | DIGEST | ZONES | ZONE SHOW zone | "
         "ZONE EXPORT zone | ZONE IMPORT bytes [origin] | ZONE ADD zone mname rname [serial] | ZONE REMOVE zone | "
         "KSK ROLL zone | KSK SUBMITTED zone | KSK STATUS zone | HELP (MX/SOA values may be JSON lists, e.g. [\"mail.example.com\", 10])";
}

util::Result<Command> parse_command(std::string_view line) {
  Command cmd;
  std::string_view rest = line;
  std::string_view keyword = next_field(rest);
  if (keyword.empty() || keyword.front() == '#') return cmd;  // Kind::Empty

  std::string kw = upper(keyword);
  if (!kw.empty() && kw.back() == ':') kw.pop_back();
  if (kw == "STATUS" || kw == "HELP") {
    if (!trim(rest).empty()) return util::make_error(kw + " takes no arguments");
    cmd.kind = kw == "STATUS" ? Command::Kind::Status : Command::Kind::Help;
    return cmd;
  }
  if (kw == "DIGEST") {
    if (!trim(rest).empty()) return util::make_error("DIGEST takes no arguments");
    cmd.kind = Command::Kind::Digest;
    return cmd;
  }
  if (kw == "MEMBERS") {
    if (!trim(rest).empty()) return util::make_error("MEMBERS takes no arguments");
    cmd.kind = Command::Kind::Members;
    return cmd;
  }
  if (kw == "MEMBER") return parse_member_command(rest);
  if (kw == "ZONES") {
    if (!trim(rest).empty()) return util::make_error("ZONES takes no arguments");
    cmd.kind = Command::Kind::Zones;
    return cmd;
  }
  if (kw == "ZONE") return parse_zone_command(rest);
  if (kw == "KSK") return parse_ksk_command(rest);
  bool add = kw == "ADD";
  if (!add && kw != "REMOVE") {
    return util::make_error("unknown command '" + std::string(keyword) + "' (try HELP)");
  }
  const char* usage = add ? " (ADD: name [ttl] TYPE value)" : " (REMOVE: name TYPE [value])";

  std::string_view name_text = next_field(rest);
  if (name_text.empty()) return util::make_error(std::string("missing name") + usage);
  auto owner = dns::Name::from_text(name_text);
  if (!owner) return util::make_error("bad name '" + std::string(name_text) + "': " + owner.error().message);

  // Optional TTL and class (either order, as in master files), then the type.
  std::optional<uint32_t> ttl;
  bool class_seen = false;
  std::optional<uint16_t> type;
  for (int i = 0; i < 3 && !type; ++i) {
    std::string_view field = next_field(rest);
    if (field.empty()) return util::make_error(std::string("missing type") + usage);
    if (auto t = dns::type_from_text(field)) {
      type = *t;
    } else if (auto c = dns::class_from_text(field); c && !class_seen) {
      if (*c != dns::rrclass::IN) {
        return util::make_error("class " + std::string(field) + " is not served (only IN)");
      }
      class_seen = true;
    } else if (auto v = zone::parse_ttl(field); v.ok() && !ttl) {
      ttl = *v;
    } else {
      return util::make_error("unknown type '" + std::string(field) + "'");
    }
  }
  if (!type) return util::make_error(std::string("missing type") + usage);
  if (dns::is_meta_type(*type)) {
    return util::make_error("type " + dns::type_to_text(*type) + " cannot be stored in a zone");
  }

  std::string_view value = trim(rest);
  cmd.kind = Command::Kind::Change;
  cmd.op.rr.owner = std::move(*owner);
  cmd.op.rr.type = *type;
  cmd.op.rr.rclass = dns::rrclass::IN;
  cmd.op.rr.ttl = ttl.value_or(kDefaultStdinTtl);
  cmd.ttl_given = ttl.has_value();
  if (value.empty()) {
    if (add) return util::make_error("missing value for " + dns::type_to_text(*type) + usage);
    cmd.op.kind = store::OpKind::RemoveRRset;
    return cmd;
  }
  auto rdata = zone::parse_rdata_any(*type, value, dns::Name());
  if (!rdata) {
    return util::make_error("bad " + dns::type_to_text(*type) + " value '" + std::string(value) +
                            "': " + rdata.error().message);
  }
  cmd.op.kind = add ? store::OpKind::Add : store::OpKind::Remove;
  cmd.op.rr.rdata = std::move(*rdata);
  return cmd;
}

StdinCommands::StdinCommands(ChangeSubmitter& submitter, const store::Store& store, uint32_t origin,
                             std::function<nlohmann::json()> status)
    : submitter_(submitter),
      store_(store),
      status_(std::move(status)),
      origin_(origin),
      session_(store::ClientSession::open()) {}

void StdinCommands::set_read_barrier(std::function<util::Result<void>()> barrier) {
  read_barrier_ = std::move(barrier);
}

void StdinCommands::set_membership(std::function<SubmitResult(MemberOp)> change,
                                   std::function<nlohmann::json()> list) {
  change_members_ = std::move(change);
  list_members_ = std::move(list);
}

std::string StdinCommands::handle_line(std::string_view line) {
  ++line_no_;
  auto parsed = parse_command(line);
  if (!parsed) return "ERROR: line " + std::to_string(line_no_) + ": " + parsed.error().message;
  Command& cmd = *parsed;
  switch (cmd.kind) {
    case Command::Kind::Empty:
      return "OK";
    case Command::Kind::Help:
      return "OK " + help_text();
    case Command::Kind::Status:
      return "OK " + status_().dump();
    case Command::Kind::Digest:
      return digest_line(store_);
    case Command::Kind::Members:
      if (!list_members_) return "ERROR: this node has no cluster membership";
      return "OK " + list_members_().dump();
    case Command::Kind::MemberChange: {
      if (!change_members_) return "ERROR: this node has no cluster membership";
      const store::SessionStamp stamp = session_.next();
      cmd.member.client_id = stamp.client_id;
      cmd.member.sequence = stamp.sequence;
      SubmitResult result = change_members_(cmd.member);
      if (!result) return error_reply(result.error());
      if (std::string err = result->first_error(); !err.empty()) return "ERROR: " + err;
      if (cmd.member.kind == MemberOp::Kind::Remove) {
        return "OK node " + std::to_string(cmd.member.id) + " is being removed";
      }
      return "OK node " + std::to_string(cmd.member.id) + " added; it joins as a learner and becomes a voter once "
             "caught up (start it with --join)";
    }
    case Command::Kind::ZoneAdd:
    case Command::Kind::ZoneRemove: {
      const dns::Name& apex = cmd.zone_ops.front().rr.owner;
      const zone::Zone* existing = store_.snapshot()->find_zone(apex);
      const bool exists = existing && existing->apex() == apex;
      if (cmd.kind == Command::Kind::ZoneAdd && exists) return "ERROR: zone " + apex.to_text() + " already exists";
      store::Change change;
      change.origin = origin_;
      change.ops = cmd.zone_ops;
      SubmitResult result = submit_on_session(std::move(change));
      if (!result) return error_reply(result.error());
      if (auto failed = result->first_failure()) return error_reply(*failed);
      return "OK zone " + apex.to_text() + (cmd.kind == Command::Kind::ZoneAdd ? " added" : " removed");
    }
    case Command::Kind::Zones: {
      auto snap = store_.snapshot();
      return "OK " + (snap ? zone_list(*snap) : nlohmann::json::array()).dump();
    }
    case Command::Kind::ZoneShow: {
      auto snap = store_.snapshot();
      if (!snap) return "ERROR: no zone is served";
      auto shown = zone_show(*snap, cmd.zone);
      return shown ? "OK " + shown->dump() : "ERROR: " + shown.error().message;
    }
    case Command::Kind::ZoneExport: {
      auto snap = store_.snapshot();
      if (!snap) return "ERROR: no zone is served";
      auto text = zone_export(*snap, cmd.zone);
      // One reply line: the master file as a JSON string.
      return text ? "OK " + nlohmann::json(*text).dump() : "ERROR: " + text.error().message;
    }
    case Command::Kind::ZoneImport:
      return "ERROR: line " + std::to_string(line_no_) + ": ZONE IMPORT takes its zone text after the line";
    case Command::Kind::Ksk:
      return ksk_command(cmd);
    case Command::Kind::Change:
      break;
  }

  if (cmd.op.kind == store::OpKind::Add && !cmd.ttl_given) {
    // Without a TTL, join the RRset at its TTL rather than reset it.
    auto snap = store_.snapshot();
    if (const zone::Zone* z = snap ? snap->zone_for(cmd.op.rr.owner, cmd.op.rr.type) : nullptr) {
      if (const zone::Node* n = z->find(cmd.op.rr.owner)) {
        if (const zone::RRset* set = n->find(cmd.op.rr.type)) cmd.op.rr.ttl = set->ttl;
      }
    }
  }

  store::Change change;
  change.origin = origin_;
  change.ops.push_back(cmd.op);
  SubmitResult result = submit_on_session(std::move(change));
  if (!result) return error_reply(result.error());
  if (auto failed = result->first_failure()) return error_reply(*failed);

  switch (cmd.op.kind) {
    case store::OpKind::Add:
      return "OK added " + describe(cmd.op.rr);
    case store::OpKind::Remove:
      return "OK removed " + cmd.op.rr.owner.to_text() + " " + dns::type_to_text(cmd.op.rr.type) + " " +
             dns::rdata_to_text(cmd.op.rr.type, cmd.op.rr.rdata);
    case store::OpKind::RemoveRRset:
      return "OK removed " + cmd.op.rr.owner.to_text() + " " + dns::type_to_text(cmd.op.rr.type);
    case store::OpKind::RemoveZone:
      return "OK removed zone " + cmd.op.rr.owner.to_text();
    case store::OpKind::AddSigningKey:
    case store::OpKind::SetSigningKeys:
      break;  // never a stdin command
  }
  return "OK";
}

std::string StdinCommands::ksk_command(const Command& cmd) {
  if (cmd.ksk != KskAction::Status && read_barrier_) {
    // Plan the step against everything committed, not a follower's older view.
    if (auto caught_up = read_barrier_(); !caught_up) return "ERROR: " + caught_up.error().message;
  }
  auto snap = store_.snapshot();
  if (!snap) return "ERROR: no zone " + cmd.zone.to_text() + " is served";
  if (cmd.ksk == KskAction::Status) {
    auto status = ksk_status(*snap, cmd.zone);
    return status ? "OK " + status->dump() : "ERROR: " + status.error().message;
  }
  auto change = ksk_command_change(*snap, cmd.zone, cmd.ksk, static_cast<uint64_t>(::time(nullptr)), origin_);
  if (!change) return "ERROR: " + change.error().message;
  SubmitResult result = submit_on_session(std::move(*change));
  if (!result) return error_reply(result.error());
  if (auto failed = result->first_failure()) return error_reply(*failed);
  const std::string zone = cmd.zone.to_text();
  if (cmd.ksk == KskAction::Roll) {
    return "OK zone " + zone + ": KSK roll started; the new KSK is published and its CDS follows after roll_wait "
           "(KSK STATUS " + zone + " says \"waiting for DS\"): give that DS to the parent, then KSK SUBMITTED " + zone;
  }
  return "OK zone " + zone + ": the new KSK is active; the old one is removed once the parent's old DS has left "
         "caches (roll_wait)";
}

SubmitResult StdinCommands::submit_on_session(store::Change change) {
  session_.stamp(change, store_);
  SubmitResult result = submit_and_wait(submitter_, change);
  if (result && result->expired) {
    // Submitted once, so not applied (store/session.h): once more on a new session.
    session_ = store::ClientSession::open();
    session_.stamp(change, store_);
    result = submit_and_wait(submitter_, std::move(change));
  }
  return result;
}

std::string StdinCommands::import_zone(std::string_view text, const dns::Name& origin,
                                      const std::function<void(const std::string&)>& progress) {
  if (read_barrier_) {
    // Plan against everything committed so far, not a follower's older view.
    if (auto caught_up = read_barrier_(); !caught_up) return "ERROR: " + caught_up.error().message;
  }
  auto snap = store_.snapshot();
  auto plan = plan_zone_import(snap ? *snap : zone::ZoneSet(), text, origin);
  if (!plan) return "ERROR: " + plan.error().message;
  const double seconds = plan->parse_seconds;
  progress("parsed " + std::to_string(plan->records_in_file) + " records (" + size_text(double(text.size())) +
           ") of " + plan->apex.to_text() + " in " + std::to_string(int(seconds * 1000)) + " ms (" +
           std::to_string(int(plan->records_in_file / std::max(seconds, 1e-3))) + " records/s), compared with " +
           "the zone in " + std::to_string(int(plan->diff_seconds * 1000)) + " ms");
  const std::string zone_text = plan->apex.to_text();
  if (plan->ops.empty()) return "OK " + zone_text + " unchanged (" + std::to_string(plan->records_in_file) + " records)";
  progress(std::to_string(plan->adds) + " to add, " + std::to_string(plan->removes) + " to remove" +
           (plan->new_zone ? " (a new zone)" : "") + ": committing as one change");

  store::Change change;
  change.origin = origin_;
  change.ops = std::move(plan->ops);
  const size_t op_count = change.ops.size();
  SubmitResult result = submit_on_session(std::move(change));
  if (!result) return error_reply(result.error());
  size_t refused = 0;
  std::string first_refusal;
  for (const std::string& e : result->op_errors) {
    if (e.empty()) continue;
    if (refused++ == 0) first_refusal = e;
  }
  std::string serial;
  if (auto now = store_.snapshot()) {
    for (const auto& z : zone_list(*now)) {
      if (z["zone"] == zone_text) serial = "; serial " + std::to_string(z["serial"].get<uint32_t>());
    }
  }
  if (refused > 0) {
    return "ERROR: " + zone_text + ": " + std::to_string(refused) + " of " + std::to_string(op_count) +
           " changes refused, the others applied" + serial + "; first: " + first_refusal;
  }
  return "OK imported " + zone_text + ": " + std::to_string(plan->adds) + " added, " + std::to_string(plan->removes) +
         " removed" + serial;
}

void StdinCommands::run(int in_fd, int out_fd, int stop_fd) {
  auto reply = [out_fd](std::string text) {
    text += '\n';
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::write(out_fd, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // output gone: keep serving, just stop replying
      off += static_cast<size_t>(n);
    }
  };

  std::string pending;  // input read and not handled yet
  std::vector<char> buf(65536);
  // Appends what the input has to `pending`: 1 when it did, 0 at end of
  // input, -1 when `stop_fd` says to stop.
  auto read_more = [&]() -> int {
    for (;;) {
      pollfd fds[2] = {{in_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      int rc = ::poll(fds, stop_fd >= 0 ? 2 : 1, -1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return -1;
      if (stop_fd >= 0 && fds[1].revents) return -1;
      ssize_t n = ::read(in_fd, buf.data(), buf.size());
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return 0;
      pending.append(buf.data(), static_cast<size_t>(n));
      return 1;
    }
  };
  auto overlong_reply = [&] {
    ++line_no_;
    reply("ERROR: line " + std::to_string(line_no_) + ": line longer than " + std::to_string(kMaxLineLength) +
          " bytes");
  };
  // ZONE IMPORT: the `bytes` octets after its line are zone text, not commands.
  auto run_import = [&](const Command& cmd) -> bool {
    if (cmd.body_bytes > kMaxZoneImportBytes) {
      // Skipped rather than read as commands; held in memory, it would not fit.
      for (size_t left = cmd.body_bytes; left > 0;) {
        size_t take = std::min(left, pending.size());
        pending.erase(0, take);
        left -= take;
        if (left > 0 && read_more() <= 0) return false;
      }
      reply("ERROR: line " + std::to_string(line_no_) + ": zone text of " + std::to_string(cmd.body_bytes) +
            " octets is larger than the " + std::to_string(kMaxZoneImportBytes >> 20) +
            " MiB an import takes; nothing imported");
      return true;
    }
    while (pending.size() < cmd.body_bytes) {
      int r = read_more();
      if (r < 0) return false;
      if (r == 0) {
        reply("ERROR: line " + std::to_string(line_no_) + ": input ended after " + std::to_string(pending.size()) +
              " of the zone text's " + std::to_string(cmd.body_bytes) + " octets; nothing imported");
        pending.clear();
        return true;
      }
    }
    std::string text = pending.substr(0, cmd.body_bytes);
    pending.erase(0, cmd.body_bytes);
    reply(import_zone(text, cmd.zone, [&](const std::string& line) { reply("PROGRESS " + line); }));
    return true;
  };

  bool overlong = false;  // discarding the rest of a line past kMaxLineLength
  size_t start = 0;       // pending[0, start) is handled; erased only before reading more
  size_t scanned = 0;     // pending[start, scanned) holds no newline
  for (;;) {
    size_t nl = pending.find('\n', std::max(start, scanned));
    if (nl == std::string::npos) {
      pending.erase(0, start);
      start = 0;
      scanned = pending.size();
      if (pending.size() > kMaxLineLength) {
        overlong = true;
        pending.clear();
        scanned = 0;
      }
      int r = read_more();
      if (r < 0) return;
      if (r == 0) break;
      continue;
    }
    std::string_view line(pending.data() + start, nl - start);
    start = nl + 1;
    if (overlong || line.size() > kMaxLineLength) {
      overlong = false;
      overlong_reply();
      continue;
    }
    if (auto parsed = parse_command(line); parsed && parsed->kind == Command::Kind::ZoneImport) {
      ++line_no_;
      pending.erase(0, start);  // the zone text starts the buffer
      start = scanned = 0;
      if (!run_import(*parsed)) return;
      continue;
    }
    reply(handle_line(line));
  }
  if (overlong) {
    overlong_reply();
  } else if (!trim(pending).empty()) {
    reply(handle_line(pending));  // a last line without its newline
  }
}

std::string digest_line(const store::Store& store) {
  // The apply loop may publish a new version while the digest is computed:
  // read the index and the version before and after, and retry until they
  // did not move, so the three values describe the same version.
  constexpr int kAttempts = 20;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const uint64_t generation = store.generation();
    const uint64_t index = store.applied_index();
    auto snap = store.snapshot();
    std::string digest = store.digest();
    if (store.snapshot() == snap && store.applied_index() == index && store.generation() == generation) {
      return "OK " + digest + " " + std::to_string(index) + " " + std::to_string(snap ? snap->record_count() : 0);
    }
  }
  return "ERROR: the store changed during each of " + std::to_string(kAttempts) +
         " attempts to digest it; try again when changes are fewer";
}

}  // namespace node
