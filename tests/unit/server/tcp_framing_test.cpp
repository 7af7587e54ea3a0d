// TCP message framing: messages come out whole whatever the read boundaries.
#include "server/tcp_framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace server {
namespace {

std::vector<uint8_t> framed(const std::string& body) {
  std::vector<uint8_t> out(2 + body.size());
  put_length_prefix(out.data(), body.size());
  for (size_t i = 0; i < body.size(); ++i) out[2 + i] = static_cast<uint8_t>(body[i]);
  return out;
}

std::string as_string(std::span<const uint8_t> s) { return std::string(s.begin(), s.end()); }

TEST(TcpFramer, WholeMessageInOneRead) {
  TcpFramer f;
  auto m = framed("hello");
  f.append(m.data(), m.size());
  auto msg = f.next();
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(as_string(*msg), "hello");
  EXPECT_FALSE(f.next().has_value());
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(TcpFramer, LengthSplitAcrossReads) {
  TcpFramer f;
  auto m = framed("abc");
  f.append(m.data(), 1);
  EXPECT_FALSE(f.next().has_value());
  EXPECT_EQ(f.buffered(), 1u);
  f.append(m.data() + 1, m.size() - 1);
  auto msg = f.next();
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(as_string(*msg), "abc");
}

TEST(TcpFramer, BodySplitAcrossReads) {
  TcpFramer f;
  std::string body(300, 'x');
  body[299] = 'y';
  auto m = framed(body);
  f.append(m.data(), 2);
  EXPECT_FALSE(f.next().has_value());
  f.append(m.data() + 2, 100);
  EXPECT_FALSE(f.next().has_value());
  f.append(m.data() + 102, m.size() - 102);
  auto msg = f.next();
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(as_string(*msg), body);
}

TEST(TcpFramer, SeveralMessagesInOneReadWithATrailingPart) {
  TcpFramer f;
  std::vector<uint8_t> stream;
  for (const char* b : {"one", "two", "three"}) {
    auto m = framed(b);
    stream.insert(stream.end(), m.begin(), m.end());
  }
  auto tail = framed("four");
  stream.insert(stream.end(), tail.begin(), tail.begin() + 4);  // length and two body bytes
  f.append(stream.data(), stream.size());
  std::vector<std::string> got;
  while (auto msg = f.next()) got.push_back(as_string(*msg));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(f.buffered(), 4u);
  f.append(tail.data() + 4, tail.size() - 4);
  auto msg = f.next();
  ASSERT_TRUE(msg.has_value());
  EXPECT_EQ(as_string(*msg), "four");
}

TEST(TcpFramer, ByteAtATime) {
  TcpFramer f;
  auto m = framed("query-bytes");
  std::vector<std::string> got;
  for (uint8_t b : m) {
    f.append(&b, 1);
    while (auto msg = f.next()) got.push_back(as_string(*msg));
  }
  EXPECT_EQ(got, std::vector<std::string>{"query-bytes"});
}

TEST(TcpFramer, ZeroLengthAndMaximumLengthMessages) {
  TcpFramer f;
  std::string big(65535, 'z');
  auto a = framed("");
  auto b = framed(big);
  f.append(a.data(), a.size());
  f.append(b.data(), b.size());
  auto first = f.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size(), 0u);
  auto second = f.next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->size(), 65535u);
}

TEST(TcpFramer, LengthPrefixIsBigEndian) {
  uint8_t out[2];
  put_length_prefix(out, 0x1234);
  EXPECT_EQ(out[0], 0x12);
  EXPECT_EQ(out[1], 0x34);
}

}  // namespace
}  // namespace server
