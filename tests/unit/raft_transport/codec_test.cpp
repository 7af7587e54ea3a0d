// Tests for the Raft message codec and HMAC framing: round trips of every
// field, and rejection of truncated, garbage, lying and forged input.
#include "raft/codec.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <tuple>

namespace raft::codec {
namespace {

// Structured bindings name every field: when a field is added to one of
// these structs, this file stops compiling until the tests (and the codec,
// which destructures the same way) cover it.
auto fields(const Membership& m) {
  const auto& [voters, learners] = m;
  return std::tie(voters, learners);
}
auto fields(const SnapshotMeta& s) {
  const auto& [index, term, membership] = s;
  return std::tie(index, term, membership);
}
auto fields(const Entry& e) {
  const auto& [term, index, type, data] = e;
  return std::tie(term, index, type, data);
}
auto fields(const Message& m) {
  const auto& [type, from, to, term, log_term, index, commit, reject, reject_hint, hint_term, entries, snapshot,
               offset, done, data, context, applied, compact_hint, snapshot_size, leader_transfer] = m;
  return std::tie(type, from, to, term, log_term, index, commit, reject, reject_hint, hint_term, entries, snapshot,
                  offset, done, data, context, applied, compact_hint, snapshot_size, leader_transfer);
}

bool same(const Message& a, const Message& b) { return fields(a) == fields(b); }

// Checks that every element of two tuples differs: used to prove the sample
// message sets every field to a non-default value.
template <class T>
void expect_differs(const T& a, const T& b, std::size_t i) {
  EXPECT_FALSE(a == b) << "field #" << i << " is left at its default";
}
template <class Tuple, std::size_t... I>
void expect_all_differ(const Tuple& a, const Tuple& b, std::index_sequence<I...>) {
  (expect_differs(std::get<I>(a), std::get<I>(b), I), ...);
}
template <class... T>
void expect_all_differ(const std::tuple<T...>& a, const std::tuple<T...>& b) {
  expect_all_differ(a, b, std::index_sequence_for<T...>{});
}

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

Message full_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = 3;
  m.to = kMax;
  m.term = 1ull << 40;
  m.log_term = 127;
  m.index = 128;
  m.commit = 300;
  m.reject = true;
  m.reject_hint = kMax - 1;
  m.hint_term = 9;
  m.entries = {Entry{5, 6, EntryType::ConfChange, std::string("\0conf\xff", 6)},
               Entry{kMax, 7, EntryType::Noop, ""}, Entry{8, 1ull << 63, EntryType::Normal, "payload"}};
  m.snapshot.index = 77;
  m.snapshot.term = 66;
  m.snapshot.membership.voters = {1, 2, kMax};
  m.snapshot.membership.learners = {4};
  m.offset = 1ull << 33;
  m.done = true;
  m.data = std::string("chunk\0bytes", 11);
  m.context = std::string("\x01read-ctx", 9);
  m.applied = 299;
  m.compact_hint = 250;
  m.snapshot_size = 1ull << 35;
  m.leader_transfer = true;
  return m;
}

const MessageType kAllTypes[] = {
    MessageType::PreVote,   MessageType::PreVoteResp,  MessageType::Vote,        MessageType::VoteResp,
    MessageType::Append,    MessageType::AppendResp,   MessageType::Heartbeat,   MessageType::HeartbeatResp,
    MessageType::Snapshot,  MessageType::SnapshotResp, MessageType::TimeoutNow,  MessageType::Forward,
    MessageType::ReadIndex, MessageType::ReadIndexResp, MessageType::AppliedReport, MessageType::JoinRequest,
    MessageType::JoinResponse,
};

TEST(Codec, SampleMessageSetsEveryField) {
  Message m = full_message(MessageType::Snapshot);
  expect_all_differ(fields(m), fields(Message{}));
  expect_all_differ(fields(m.snapshot), fields(SnapshotMeta{}));
  expect_all_differ(fields(m.snapshot.membership), fields(Membership{}));
  // The first entry is non-default in every field.
  expect_all_differ(fields(m.entries[0]), fields(Entry{}));
}

TEST(Codec, RoundTripsEveryMessageTypeWithEveryField) {
  for (MessageType t : kAllTypes) {
    Message m = full_message(t);
    auto decoded = decode(encode(m));
    ASSERT_TRUE(decoded.ok()) << message_type_name(t) << ": " << decoded.error().message;
    EXPECT_TRUE(same(*decoded, m)) << message_type_name(t);
  }
}

TEST(Codec, RoundTripsDefaultMessage) {
  auto decoded = decode(encode(Message{}));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_TRUE(same(*decoded, Message{}));
}

TEST(Codec, HeartbeatIsCompact) {
  Message m;
  m.type = MessageType::Heartbeat;
  m.from = 1;
  m.to = 2;
  m.term = 5;
  m.commit = 1000;
  // One byte per zero or small field, two for commit: 25 bytes in all.
  EXPECT_LE(encode(m).size(), 25u);
}

TEST(Codec, StartsWithVersionByte) {
  std::string bytes = encode(Message{});
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), kCodecVersion);
}

TEST(Codec, RejectsUnknownVersion) {
  std::string bytes = encode(full_message(MessageType::Append));
  bytes[0] = static_cast<char>(kCodecVersion + 1);
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("version"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsEmptyInput) { EXPECT_FALSE(decode("").ok()); }

TEST(Codec, RejectsEveryTruncation) {
  std::string bytes = encode(full_message(MessageType::Snapshot));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(bytes).substr(0, n)).ok()) << "prefix of " << n << " bytes decoded";
  }
}

TEST(Codec, RejectsTrailingBytes) {
  std::string bytes = encode(full_message(MessageType::Append)) + "x";
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("trailing"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsUnknownMessageType) {
  std::string bytes = encode(Message{});
  // 18 is one past the last type (JoinResponse).
  for (uint8_t bad : {uint8_t{0}, uint8_t{18}, uint8_t{255}}) {
    bytes[1] = static_cast<char>(bad);
    auto decoded = decode(bytes);
    ASSERT_FALSE(decoded.ok()) << int(bad);
    EXPECT_NE(decoded.error().message.find("type"), std::string::npos) << decoded.error().message;
  }
}

// Builds a payload by hand so single fields can be corrupted precisely.
std::string header_then(std::string rest) {
  // version, Append, from..commit = 0 (6 varints), reject 0, hint 0, hint_term 0
  std::string s = {char(kCodecVersion), char(MessageType::Append), 0, 0, 0, 0, 0, 0, 0, 0, 0};
  return s + rest;
}
// snapshot meta (0, 0, no voters, no learners), offset 0, done 0, empty data,
// empty context, applied 0, compact_hint 0, snapshot_size 0, leader_transfer 0
const std::string kTail = std::string(12, '\0');

TEST(Codec, HandBuiltPayloadDecodes) {
  auto decoded = decode(header_then(std::string(1, '\0') + kTail));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->type, MessageType::Append);
}

TEST(Codec, RejectsLyingEntryCount) {
  // 2^63 entries announced, a few bytes present: must fail without allocating.
  std::string count = "\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  auto decoded = decode(header_then(count + kTail));
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("entries"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsLyingDataLength) {
  std::string bytes = header_then(std::string(1, '\0') + std::string(6, '\0'));
  bytes += "\x80\x01";  // data length 128, followed by only the remaining 5 fields
  bytes += std::string(5, '\0');
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("data"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsUnknownEntryType) {
  // one entry: term 1, index 1, type 9, empty data
  std::string entry = {1, 1, 1, 9, 0};
  auto decoded = decode(header_then(entry + kTail));
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("entry.type"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsNonBooleanFlag) {
  std::string bytes = header_then(std::string(1, '\0') + kTail);
  bytes[8] = 2;  // reject flag
  auto decoded = decode(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("reject"), std::string::npos) << decoded.error().message;
}

TEST(Codec, RejectsOverlongAndOversizedVarints) {
  std::string base = {char(kCodecVersion), char(MessageType::Heartbeat)};
  // from = 0 encoded in two bytes
  EXPECT_FALSE(decode(base + "\x80\x00").ok());
  // from with eleven bytes
  EXPECT_FALSE(decode(base + std::string(10, '\xff') + "\x01").ok());
  // from = 2^64 (tenth byte carries more than one bit)
  EXPECT_FALSE(decode(base + std::string(9, '\xff') + "\x02").ok());
}

TEST(Codec, GarbageNeverCrashes) {
  std::mt19937_64 rng(42);
  std::string good = encode(full_message(MessageType::Append));
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    // Flip a few random bytes of a valid message, keeping the version byte.
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[1 + rng() % (bytes.size() - 1)] = static_cast<char>(rng());
    bytes.resize(1 + rng() % bytes.size());
    auto decoded = decode(bytes);
    if (decoded.ok()) {
      // Whatever decodes must re-encode to exactly the same bytes (canonical form).
      EXPECT_EQ(encode(*decoded), bytes);
    }
  }
}

// ---- frames -------------------------------------------------------------

TEST(Frame, LayoutIsLengthThenPayload) {
  Message m = full_message(MessageType::Vote);
  std::string frame = encode_frame(m);
  std::string payload = encode(m);
  ASSERT_EQ(frame.size(), kLengthPrefixSize + payload.size());
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i) len |= uint32_t(uint8_t(frame[i])) << (8 * i);  // little-endian
  EXPECT_EQ(len, payload.size());
  EXPECT_EQ(frame.substr(4), payload);
}

TEST(Frame, LargeAppendFrameMatchesItsPayload) {
  // encode_frame writes the payload behind the prefix in place; a payload
  // far beyond the size estimate must still come out whole.
  Message m = full_message(MessageType::Append);
  m.entries.assign(50, Entry{3, 9, EntryType::Normal, std::string(5000, 'x')});
  std::string frame = encode_frame(m);
  EXPECT_EQ(frame.substr(kLengthPrefixSize), encode(m));
  auto opened = decode_frame(frame);
  ASSERT_EQ(opened.error, FrameError::None) << opened.reason;
  EXPECT_TRUE(same(opened.message, m));
}

TEST(Frame, RoundTripsEveryType) {
  for (MessageType t : kAllTypes) {
    Message m = full_message(t);
    auto opened = decode_frame(encode_frame(m));
    ASSERT_EQ(opened.error, FrameError::None) << opened.reason;
    EXPECT_TRUE(same(opened.message, m));
  }
}

TEST(Frame, GarbagePayloadIsMalformed) {
  std::string frame = encode_frame(full_message(MessageType::Heartbeat));
  frame[kLengthPrefixSize] = 99;  // version byte
  auto opened = decode_frame(frame);
  EXPECT_EQ(opened.error, FrameError::Malformed);
  EXPECT_NE(opened.reason.find("version"), std::string::npos) << opened.reason;
}

TEST(Frame, LengthBoundsAreEnforced) {
  uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  auto r = parse_frame_length(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("exceeds"), std::string::npos) << r.error().message;

  uint8_t tiny[4] = {kMinFrameBody - 1, 0, 0, 0};
  EXPECT_FALSE(parse_frame_length(tiny).ok());

  uint8_t limit[4] = {0x00, 0x10, 0, 0};  // 4096
  EXPECT_TRUE(parse_frame_length(limit, 4096).ok());
  EXPECT_FALSE(parse_frame_length(limit, 4095).ok());
}

TEST(Frame, TruncatedAndLyingFramesAreMalformed) {
  std::string frame = encode_frame(full_message(MessageType::Append));
  for (std::size_t n = 0; n < frame.size(); ++n) {
    EXPECT_NE(decode_frame(frame.substr(0, n)).error, FrameError::None) << n;
  }
  std::string longer = frame + "zz";
  EXPECT_EQ(decode_frame(longer).error, FrameError::Malformed);
}

TEST(Frame, TrailingBytesInABodyAreMalformed) {
  std::string body = encode(Message{}) + "junk";
  auto opened = open_frame(body);
  EXPECT_EQ(opened.error, FrameError::Malformed);
  EXPECT_NE(opened.reason.find("trailing"), std::string::npos) << opened.reason;
}

}  // namespace
}  // namespace raft::codec
