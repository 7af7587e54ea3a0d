// Encoding, decoding and framing of Raft peer messages (see raft/codec.h).
#include "raft/codec.h"

#include <cstring>
#include <limits>
#include <utility>

namespace raft::codec {
namespace {

// The encoder destructures every struct with a structured binding naming all
// of its fields: adding a field to Message, Entry, SnapshotMeta or Membership
// without teaching the codec about it is a compile error here, not a field
// silently lost on the wire.

class Writer {
 public:
  void reserve(std::size_t n) { out_.reserve(n); }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<uint8_t>(v));
  }
  void bytes(const std::string& s) {
    varint(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }
  std::size_t size() const { return out_.size(); }
  char* data() { return out_.data(); }

 private:
  std::string out_;
};

void put_membership(Writer& w, const Membership& m) {
  const auto& [voters, learners] = m;
  w.varint(voters.size());
  for (NodeId id : voters) w.varint(id);
  w.varint(learners.size());
  for (NodeId id : learners) w.varint(id);
}

void put_snapshot_meta(Writer& w, const SnapshotMeta& s) {
  const auto& [index, term, membership] = s;
  w.varint(index);
  w.varint(term);
  put_membership(w, membership);
}

void put_entry(Writer& w, const Entry& e) {
  const auto& [term, index, type, data] = e;
  w.varint(term);
  w.varint(index);
  w.u8(static_cast<uint8_t>(type));
  w.bytes(data);
}

bool known_message_type(uint8_t raw) {
  // No default: a MessageType added to types.h makes -Wswitch fail the build
  // until the codec decides whether it accepts it.
  switch (static_cast<MessageType>(raw)) {
    case MessageType::PreVote:
    case MessageType::PreVoteResp:
    case MessageType::Vote:
    case MessageType::VoteResp:
    case MessageType::Append:
    case MessageType::AppendResp:
    case MessageType::Heartbeat:
    case MessageType::HeartbeatResp:
    case MessageType::Snapshot:
    case MessageType::SnapshotResp:
    case MessageType::TimeoutNow:
    case MessageType::Forward:
    case MessageType::ReadIndex:
    case MessageType::ReadIndexResp:
    case MessageType::AppliedReport:
    case MessageType::JoinRequest:
    case MessageType::JoinResponse:
      return true;
  }
  return false;
}

bool known_entry_type(uint8_t raw) {
  switch (static_cast<EntryType>(raw)) {
    case EntryType::Normal:
    case EntryType::ConfChange:
    case EntryType::Noop:
      return true;
  }
  return false;
}

// Bounds-checked reader. Every read checks the remaining length first; the
// first failure records a reason naming the field and offset, and every later
// read fails too, so decoding code can read straight through and check once.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return pos_ == in_.size(); }
  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return in_.size() - pos_; }

  uint8_t u8(const char* field) {
    if (failed()) return 0;
    if (pos_ >= in_.size()) {
      fail(field, "truncated");
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }

  bool boolean(const char* field) {
    std::size_t at = pos_;
    uint8_t v = u8(field);
    if (!failed() && v > 1) fail_at(at, field, "boolean is " + std::to_string(v) + ", expected 0 or 1");
    return v == 1;
  }

  uint64_t varint(const char* field) {
    if (failed()) return 0;
    std::size_t start = pos_;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) {
        fail_at(start, field, "truncated varint");
        return 0;
      }
      auto b = static_cast<uint8_t>(in_[pos_++]);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && b > 1) {
        fail_at(start, field, "varint overflows 64 bits");
        return 0;
      }
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift != 0) {
          fail_at(start, field, "overlong varint");
          return 0;
        }
        return v;
      }
    }
    fail_at(start, field, "varint longer than 10 bytes");
    return 0;
  }

  /// A count of items each at least `min_item_size` bytes: checked against
  /// what is left so a lying count cannot trigger a huge allocation.
  std::size_t count(const char* field, std::size_t min_item_size) {
    std::size_t at = pos_;
    uint64_t n = varint(field);
    if (failed()) return 0;
    if (n > remaining() / min_item_size) {
      fail_at(at, field,
              "count " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) + " bytes left");
      return 0;
    }
    return static_cast<std::size_t>(n);
  }

  std::string bytes(const char* field) {
    std::size_t at = pos_;
    uint64_t n = varint(field);
    if (failed()) return {};
    if (n > remaining()) {
      fail_at(at, field,
              "length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) + " bytes left");
      return {};
    }
    std::string s(in_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

  void fail(const char* field, const std::string& why) { fail_at(pos_, field, why); }
  void fail_at(std::size_t at, const char* field, const std::string& why) {
    if (failed()) return;
    error_ = std::string("raft message: field '") + field + "' at byte " + std::to_string(at) + ": " + why;
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string error_;
};

Membership get_membership(Reader& r) {
  Membership m;
  std::size_t nv = r.count("snapshot.membership.voters", 1);
  m.voters.reserve(nv);
  for (std::size_t i = 0; i < nv && !r.failed(); ++i) m.voters.push_back(r.varint("snapshot.membership.voters"));
  std::size_t nl = r.count("snapshot.membership.learners", 1);
  m.learners.reserve(nl);
  for (std::size_t i = 0; i < nl && !r.failed(); ++i) m.learners.push_back(r.varint("snapshot.membership.learners"));
  return m;
}

SnapshotMeta get_snapshot_meta(Reader& r) {
  SnapshotMeta s;
  s.index = r.varint("snapshot.index");
  s.term = r.varint("snapshot.term");
  s.membership = get_membership(r);
  return s;
}

Entry get_entry(Reader& r) {
  Entry e;
  e.term = r.varint("entry.term");
  e.index = r.varint("entry.index");
  std::size_t at = r.pos();
  uint8_t type = r.u8("entry.type");
  if (!r.failed() && !known_entry_type(type)) r.fail_at(at, "entry.type", "unknown entry type " + std::to_string(type));
  e.type = static_cast<EntryType>(type);
  e.data = r.bytes("entry.data");
  return e;
}

// Bytes encode() writes for `m`, give or take a few varint bytes: reserved
// up front so that a large Append is not copied while it grows.
std::size_t estimated_size(const Message& m) {
  std::size_t n = 64 + m.data.size() + m.context.size() + 8 * (m.snapshot.membership.voters.size() +
                                                             m.snapshot.membership.learners.size());
  for (const Entry& e : m.entries) n += e.data.size() + 24;
  return n;
}

void put_message(Writer& w, const Message& m) {
  const auto& [type, from, to, term, log_term, index, commit, reject, reject_hint, hint_term, entries, snapshot,
               offset, done, data, context, applied, compact_hint, snapshot_size, leader_transfer] = m;
  w.u8(kCodecVersion);
  w.u8(static_cast<uint8_t>(type));
  w.varint(from);
  w.varint(to);
  w.varint(term);
  w.varint(log_term);
  w.varint(index);
  w.varint(commit);
  w.boolean(reject);
  w.varint(reject_hint);
  w.varint(hint_term);
  w.varint(entries.size());
  for (const Entry& e : entries) put_entry(w, e);
  put_snapshot_meta(w, snapshot);
  w.varint(offset);
  w.boolean(done);
  w.bytes(data);
  w.bytes(context);
  w.varint(applied);
  w.varint(compact_hint);
  w.varint(snapshot_size);
  w.boolean(leader_transfer);
}

}  // namespace

std::string encode(const Message& m) {
  Writer w;
  w.reserve(estimated_size(m));
  put_message(w, m);
  return w.take();
}

util::Result<Message> decode(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version = r.u8("version");
  if (r.failed()) return util::make_error("raft message: empty payload");
  if (version != kCodecVersion) {
    return util::make_error("raft message: unsupported codec version " + std::to_string(version) + " (this node speaks " +
                            std::to_string(kCodecVersion) + "); upgrade the older node");
  }
  Message m;
  uint8_t type = r.u8("type");
  if (!r.failed() && !known_message_type(type)) r.fail_at(1, "type", "unknown message type " + std::to_string(type));
  m.type = static_cast<MessageType>(type);
  m.from = r.varint("from");
  m.to = r.varint("to");
  m.term = r.varint("term");
  m.log_term = r.varint("log_term");
  m.index = r.varint("index");
  m.commit = r.varint("commit");
  m.reject = r.boolean("reject");
  m.reject_hint = r.varint("reject_hint");
  m.hint_term = r.varint("hint_term");
  // An entry takes at least 4 bytes: term, index, type and a data length.
  std::size_t n = r.count("entries", 4);
  m.entries.reserve(n);
  for (std::size_t i = 0; i < n && !r.failed(); ++i) m.entries.push_back(get_entry(r));
  m.snapshot = get_snapshot_meta(r);
  m.offset = r.varint("offset");
  m.done = r.boolean("done");
  m.data = r.bytes("data");
  m.context = r.bytes("context");
  m.applied = r.varint("applied");
  m.compact_hint = r.varint("compact_hint");
  m.snapshot_size = r.varint("snapshot_size");
  m.leader_transfer = r.boolean("leader_transfer");
  if (!r.failed() && !r.at_end()) {
    r.fail("end", std::to_string(r.remaining()) + " trailing bytes after the message");
  }
  if (r.failed()) return util::make_error(r.error());
  return m;
}

std::string encode_frame(const Message& m) {
  // The payload is written straight after a placeholder prefix, then the
  // prefix is filled in: one buffer, no copy of the payload.
  Writer w;
  w.reserve(kLengthPrefixSize + estimated_size(m));
  for (std::size_t i = 0; i < kLengthPrefixSize; ++i) w.u8(0);
  put_message(w, m);
  const std::size_t body = w.size() - kLengthPrefixSize;
  for (std::size_t i = 0; i < kLengthPrefixSize; ++i) w.data()[i] = static_cast<char>((body >> (8 * i)) & 0xff);
  return w.take();
}

util::Result<uint32_t> parse_frame_length(const uint8_t (&prefix)[kLengthPrefixSize], std::size_t max_frame_size) {
  uint32_t n = 0;
  for (std::size_t i = 0; i < kLengthPrefixSize; ++i) n |= static_cast<uint32_t>(prefix[i]) << (8 * i);
  if (n < kMinFrameBody) {
    return util::make_error("raft frame: length " + std::to_string(n) + " is below the minimum of " +
                            std::to_string(kMinFrameBody));
  }
  if (n > max_frame_size) {
    return util::make_error("raft frame: length " + std::to_string(n) + " exceeds the limit of " +
                            std::to_string(max_frame_size) + " bytes");
  }
  return n;
}

OpenedFrame open_frame(std::string_view body) {
  OpenedFrame out;
  if (body.size() < kMinFrameBody) {
    out.error = FrameError::Malformed;
    out.reason = "raft frame: body of " + std::to_string(body.size()) + " bytes is too short";
    return out;
  }
  auto decoded = decode(body);
  if (!decoded) {
    out.error = FrameError::Malformed;
    out.reason = decoded.error().message;
    return out;
  }
  out.message = std::move(decoded).value();
  return out;
}

OpenedFrame decode_frame(std::string_view frame, std::size_t max_frame_size) {
  OpenedFrame out;
  if (frame.size() < kLengthPrefixSize) {
    out.error = FrameError::Malformed;
    out.reason = "raft frame: truncated length prefix";
    return out;
  }
  uint8_t prefix[kLengthPrefixSize];
  std::memcpy(prefix, frame.data(), kLengthPrefixSize);
  auto len = parse_frame_length(prefix, max_frame_size);
  if (!len) {
    out.error = FrameError::Malformed;
    out.reason = len.error().message;
    return out;
  }
  std::string_view body = frame.substr(kLengthPrefixSize);
  if (body.size() != *len) {
    out.error = FrameError::Malformed;
    out.reason = "raft frame: length prefix says " + std::to_string(*len) + " bytes but " +
                 std::to_string(body.size()) + " follow";
    return out;
  }
  return open_frame(body);
}


}  // namespace raft::codec
