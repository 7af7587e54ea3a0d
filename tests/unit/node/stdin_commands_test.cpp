// Stdin commands: every syntax form, every error path, one reply per line,
// and the reply coming only after the change is applied.
#include "node/stdin_commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "dns/rr.h"
#include "applying_submitter.h"
#include "store/store.h"

namespace node {
namespace {

Command parse_ok(const std::string& line) {
  auto r = parse_command(line);
  EXPECT_TRUE(r.ok()) << line << " -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Command{};
}

std::string parse_error(const std::string& line) {
  auto r = parse_command(line);
  EXPECT_FALSE(r.ok()) << "accepted: " << line;
  return r.ok() ? "" : r.error().message;
}

TEST(StdinParse, SeedAddLineWithSpacesAndTabs) {
  Command c = parse_ok("ADD:  newdomain.com \t A  1.3.3.7  ");
  ASSERT_EQ(c.kind, Command::Kind::Change);
  EXPECT_EQ(c.op.kind, store::OpKind::Add);
  EXPECT_EQ(c.op.rr.owner.to_text(), "newdomain.com.");
  EXPECT_EQ(c.op.rr.type, dns::rrtype::A);
  EXPECT_EQ(c.op.rr.rdata, std::string("\x01\x03\x03\x07", 4));
  EXPECT_FALSE(c.ttl_given);
  EXPECT_EQ(c.op.rr.ttl, kDefaultStdinTtl);
}

TEST(StdinParse, TtlAndClassAreOptional) {
  Command c = parse_ok("ADD: host.example.com. 300 A 1.2.3.4");
  EXPECT_TRUE(c.ttl_given);
  EXPECT_EQ(c.op.rr.ttl, 300u);
  c = parse_ok("ADD: host.example.com. IN 1h A 1.2.3.4");
  EXPECT_EQ(c.op.rr.ttl, 3600u);
  c = parse_ok("add host.example.com in a 1.2.3.4");  // keywords ignore case, colon optional
  EXPECT_EQ(c.op.kind, store::OpKind::Add);
  EXPECT_EQ(c.op.rr.type, dns::rrtype::A);
}

TEST(StdinParse, ValueIsTheRestOfTheLine) {
  Command c = parse_ok("ADD: example.com MX 10 mail.example.com.");
  EXPECT_EQ(c.op.rr.type, dns::rrtype::MX);
  EXPECT_EQ(dns::rdata_to_text(c.op.rr.type, c.op.rr.rdata), "10 mail.example.com.");
  c = parse_ok("ADD: example.com TXT \"hello   world\"");
  EXPECT_EQ(c.op.rr.rdata, std::string("\x0dhello   world"));
}

TEST(StdinParse, LegacyJsonListForMx) {
  Command c = parse_ok("ADD: example.com MX [\"mail2.example.com\", 20]");
  EXPECT_EQ(dns::rdata_to_text(c.op.rr.type, c.op.rr.rdata), "20 mail2.example.com.");
}

TEST(StdinParse, RemoveOneRecordOrWholeRRset) {
  Command c = parse_ok("REMOVE:  newdomain.com  A  1.3.3.7  ");
  EXPECT_EQ(c.op.kind, store::OpKind::Remove);
  EXPECT_EQ(c.op.rr.rdata.size(), 4u);
  c = parse_ok("REMOVE: newdomain.com A");
  EXPECT_EQ(c.op.kind, store::OpKind::RemoveRRset);
  EXPECT_EQ(c.op.rr.type, dns::rrtype::A);
  EXPECT_TRUE(c.op.rr.rdata.empty());
}

TEST(StdinParse, StatusHelpAndBlankLines) {
  EXPECT_EQ(parse_ok("STATUS").kind, Command::Kind::Status);
  EXPECT_EQ(parse_ok("digest").kind, Command::Kind::Digest);
  EXPECT_EQ(parse_ok(" DIGEST: ").kind, Command::Kind::Digest);
  EXPECT_EQ(parse_ok("  help  ").kind, Command::Kind::Help);
  EXPECT_EQ(parse_ok("").kind, Command::Kind::Empty);
  EXPECT_EQ(parse_ok("   \t ").kind, Command::Kind::Empty);
  EXPECT_EQ(parse_ok("# a comment").kind, Command::Kind::Empty);
}

TEST(StdinParse, ErrorsSayWhatIsWrong) {
  struct Case {
    const char* line;
    const char* expect;
  };
  for (const Case& c : {
           Case{"FROB: a.example.com A 1.2.3.4", "unknown command 'FROB:'"},
           Case{"ADD:", "missing name"},
           Case{"ADD: a.example.com", "missing type"},
           Case{"ADD: a.example.com 300", "missing type"},
           Case{"ADD: a.example.com AX 1.2.3.4", "unknown type 'AX'"},
           Case{"ADD: a.example.com A", "missing value for A"},
           Case{"ADD: a.example.com A 1.2.3", "bad A value '1.2.3'"},
           Case{"ADD: a.example.com AAAA 1.2.3.4", "bad AAAA value"},
           Case{"ADD: a.example.com MX [\"mail.example.com\"]", "bad MX value"},
           Case{"ADD: a.example.com CH A 1.2.3.4", "only IN"},
           Case{"ADD: a.example.com ANY 1.2.3.4", "cannot be stored"},
           Case{"ADD: a..example.com A 1.2.3.4", "bad name 'a..example.com'"},
           Case{"REMOVE:", "missing name"},
           Case{"STATUS now", "takes no arguments"},
           Case{"DIGEST all", "DIGEST takes no arguments"},
       }) {
    std::string e = parse_error(c.line);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.line << " -> " << e;
  }
}

/// Records submissions and answers with a scripted result.
class FakeSubmitter : public ChangeSubmitter {
 public:
  void submit(store::Change change, std::function<void(SubmitResult)> done) override {
    changes.push_back(change);
    if (!fail_with.empty()) return done(util::make_error(fail_kind, fail_with));
    store::ApplyResult r;
    if (expire_first && changes.size() == 1) {
      r.expired = true;
      r.op_errors.assign(change.ops.size(), "session expired");
      r.op_kinds.assign(change.ops.size(), util::ErrorKind::SessionExpired);
      return done(r);
    }
    r.op_errors.assign(change.ops.size(), op_error);
    done(r);
  }
  std::vector<store::Change> changes;
  std::string fail_with;
  util::ErrorKind fail_kind = util::ErrorKind::Invalid;
  std::string op_error;
  bool expire_first = false;  // answer the first change "session expired"
};

nlohmann::json fake_status() { return {{"node", "0"}, {"role", "leader"}}; }

TEST(StdinCommands, ParseErrorsCarryTheLineNumber) {
  FakeSubmitter sub;
  store::Store st;
  StdinCommands cmds(sub, st, 0, fake_status);
  EXPECT_EQ(cmds.handle_line("ADD: a.example.com AX 1.2.3.4"), "ERROR: line 1: unknown type 'AX'");
  EXPECT_EQ(cmds.handle_line("ADD: a.example.com AX 1.2.3.4"), "ERROR: line 2: unknown type 'AX'");
  EXPECT_TRUE(sub.changes.empty());
}

TEST(StdinCommands, ApplyAndSubmitErrorsAreReported) {
  FakeSubmitter sub;
  store::Store st;
  StdinCommands cmds(sub, st, 3, fake_status);
  sub.op_error = "no zone for foo.invalid.";
  EXPECT_EQ(cmds.handle_line("ADD: foo.invalid A 1.2.3.4"), "ERROR: no zone for foo.invalid.");
  sub.fail_with = "no leader: the cluster has no quorum";
  EXPECT_EQ(cmds.handle_line("ADD: foo.invalid A 1.2.3.4"), "ERROR: no leader: the cluster has no quorum");
  ASSERT_EQ(sub.changes.size(), 2u);
  // Each change names its origin and a rising sequence from one client.
  EXPECT_EQ(sub.changes[0].origin, 3u);
  EXPECT_EQ(sub.changes[0].client_id, sub.changes[1].client_id);
  EXPECT_NE(sub.changes[0].client_id, 0u);
  EXPECT_LT(sub.changes[0].sequence, sub.changes[1].sequence);
}

TEST(StdinCommands, AnUnknownOutcomeSaysSoAndThatRetryingIsSafe) {
  FakeSubmitter sub;
  store::Store st;
  StdinCommands cmds(sub, st, 3, fake_status);
  sub.fail_with = "log storage failed: No space left on device";
  sub.fail_kind = util::ErrorKind::OutcomeUnknown;
  EXPECT_EQ(cmds.handle_line("ADD: a.example.com A 1.2.3.4"),
            "ERROR: outcome unknown (retrying is safe): log storage failed: No space left on device");
  sub.fail_with = "no quorum: no leader reachable within 3000 ms; the change was not applied";
  sub.fail_kind = util::ErrorKind::NoQuorum;
  EXPECT_EQ(cmds.handle_line("ADD: a.example.com A 1.2.3.4"),
            "ERROR: no quorum: no leader reachable within 3000 ms; the change was not applied");
}

TEST(StdinCommands, AChangeRefusedForAnExpiredSessionGoesOnceMoreOnANewSession) {
  FakeSubmitter sub;
  sub.expire_first = true;
  store::Store st;
  StdinCommands cmds(sub, st, 3, fake_status);
  EXPECT_EQ(cmds.handle_line("ADD: a.example.com 60 A 1.2.3.4"), "OK added a.example.com. 60 IN A 1.2.3.4");
  ASSERT_EQ(sub.changes.size(), 2u);
  EXPECT_NE(sub.changes[0].client_id, sub.changes[1].client_id);
  EXPECT_EQ(sub.changes[1].sequence, 1u);
}

TEST(StdinCommands, StatusAndHelpAreOneLine) {
  FakeSubmitter sub;
  store::Store st;
  StdinCommands cmds(sub, st, 0, fake_status);
  std::string s = cmds.handle_line("STATUS");
  EXPECT_EQ(s, "OK {\"node\":\"0\",\"role\":\"leader\"}");
  std::string h = cmds.handle_line("HELP");
  EXPECT_EQ(h.rfind("OK ", 0), 0u);
  EXPECT_EQ(h.find('\n'), std::string::npos);
  EXPECT_EQ(cmds.handle_line(""), "OK");
}

TEST(StdinCommands, AddThenRemoveThroughTheStore) {
  store::Store st;
  test_support::ApplyingSubmitter sub(st);
  StdinCommands cmds(sub, st, 0, [&] { return test_support::status_of("0", st); });
  std::string r = cmds.handle_line(
      "ADD: example.com SOA [\"ns1.example.com\", \"admin.example.com\", 1, 3600, 600, 86400, 300]");
  ASSERT_EQ(r.rfind("OK", 0), 0u) << r;
  r = cmds.handle_line("ADD: www.example.com 300 A 1.2.3.4");
  ASSERT_EQ(r, "OK added www.example.com. 300 IN A 1.2.3.4");
  // Without a TTL, a record joins its RRset at the RRset's TTL.
  r = cmds.handle_line("ADD: www.example.com A 1.2.3.5");
  ASSERT_EQ(r, "OK added www.example.com. 300 IN A 1.2.3.5");
  EXPECT_EQ(st.snapshot()->record_count(), 3u);
  r = cmds.handle_line("REMOVE: www.example.com A 1.2.3.4");
  EXPECT_EQ(r.rfind("OK", 0), 0u) << r;
  EXPECT_EQ(st.snapshot()->record_count(), 2u);
  r = cmds.handle_line("REMOVE: www.example.com A");
  EXPECT_EQ(r.rfind("OK", 0), 0u) << r;
  EXPECT_EQ(st.snapshot()->record_count(), 1u);
  r = cmds.handle_line("ADD: foo.invalid A 1.2.3.4");
  EXPECT_EQ(r.rfind("ERROR: ", 0), 0u) << r;
  auto status = nlohmann::json::parse(cmds.handle_line("STATUS").substr(3));
  EXPECT_EQ(status["records"], 1);
  EXPECT_EQ(status["role"], "leader");
  EXPECT_GE(status["applied_index"].get<uint64_t>(), 5u);
}

/// Splits "OK <digest> <index> <count>" into its three fields.
std::vector<std::string> digest_fields(const std::string& line) {
  std::vector<std::string> f;
  EXPECT_EQ(line.rfind("OK ", 0), 0u) << line;
  for (size_t start = 3, sp;; start = sp + 1) {
    sp = line.find(' ', start);
    f.push_back(line.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
    if (sp == std::string::npos) break;
  }
  EXPECT_EQ(f.size(), 3u) << line;
  f.resize(3);
  return f;
}

TEST(StdinCommands, DigestNamesTheContentTheIndexAndTheCount) {
  store::Store st;
  test_support::ApplyingSubmitter sub(st);
  StdinCommands cmds(sub, st, 0, [&] { return test_support::status_of("0", st); });
  const std::string soa = "ADD: example.com SOA [\"ns1.example.com\", \"admin.example.com\", 1, 3600, 600, 86400, 300]";
  ASSERT_EQ(cmds.handle_line(soa).rfind("OK", 0), 0u);
  auto before = digest_fields(cmds.handle_line("DIGEST"));
  EXPECT_EQ(before[0].size(), 64u);  // SHA-256 in hex
  EXPECT_EQ(before[0].find_first_not_of("0123456789abcdef"), std::string::npos) << before[0];
  EXPECT_EQ(before[1], std::to_string(st.applied_index()));
  EXPECT_EQ(before[2], "1");
  EXPECT_EQ(before[0], st.digest());

  ASSERT_EQ(cmds.handle_line("ADD: www.example.com 300 A 192.0.2.1").rfind("OK", 0), 0u);
  auto added = digest_fields(cmds.handle_line("DIGEST"));
  EXPECT_NE(added[0], before[0]);
  EXPECT_EQ(added[2], "2");
  EXPECT_GT(std::stoull(added[1]), std::stoull(before[1]));

  // Removing the record brings the count back, not the digest: the SOA
  // serial advanced with each change.
  ASSERT_EQ(cmds.handle_line("REMOVE: www.example.com A 192.0.2.1").rfind("OK", 0), 0u);
  auto removed = digest_fields(cmds.handle_line("DIGEST"));
  EXPECT_NE(removed[0], before[0]);
  EXPECT_NE(removed[0], added[0]);
  EXPECT_EQ(removed[2], "1");
  EXPECT_GT(std::stoull(removed[1]), std::stoull(added[1]));
  EXPECT_EQ(removed[0], st.digest());
}

TEST(StdinCommands, StoresThatAppliedTheSameChangesGiveTheSameDigest) {
  // Two replicas: the same changes give the same line; one record apart,
  // or one value apart, they differ.
  store::Store a, b;
  test_support::ApplyingSubmitter sub_a(a), sub_b(b);
  StdinCommands ca(sub_a, a, 0, [&] { return test_support::status_of("0", a); });
  StdinCommands cb(sub_b, b, 1, [&] { return test_support::status_of("1", b); });
  const std::string soa = "ADD: example.com SOA [\"ns1.example.com\", \"admin.example.com\", 1, 3600, 600, 86400, 300]";
  for (StdinCommands* c : {&ca, &cb}) {
    ASSERT_EQ(c->handle_line(soa).rfind("OK", 0), 0u);
    ASSERT_EQ(c->handle_line("ADD: a.example.com 60 A 192.0.2.1").rfind("OK", 0), 0u);
  }
  EXPECT_EQ(ca.handle_line("DIGEST"), cb.handle_line("DIGEST"));
  ASSERT_EQ(ca.handle_line("ADD: b.example.com 60 A 192.0.2.2").rfind("OK", 0), 0u);
  EXPECT_NE(digest_fields(ca.handle_line("DIGEST"))[0], digest_fields(cb.handle_line("DIGEST"))[0]);
  ASSERT_EQ(cb.handle_line("ADD: b.example.com 60 A 192.0.2.3").rfind("OK", 0), 0u);
  auto da = digest_fields(ca.handle_line("DIGEST"));
  auto db = digest_fields(cb.handle_line("DIGEST"));
  EXPECT_NE(da[0], db[0]);  // same names, same count, same index: one value apart
  EXPECT_EQ(da[1], db[1]);
  EXPECT_EQ(da[2], db[2]);
  ASSERT_EQ(cb.handle_line("REMOVE: b.example.com A 192.0.2.3").rfind("OK", 0), 0u);
  ASSERT_EQ(ca.handle_line("REMOVE: b.example.com A 192.0.2.2").rfind("OK", 0), 0u);
  ASSERT_EQ(cb.handle_line("ADD: b.example.com 60 A 192.0.2.2").rfind("OK", 0), 0u);
  ASSERT_EQ(ca.handle_line("ADD: b.example.com 60 A 192.0.2.2").rfind("OK", 0), 0u);
  EXPECT_EQ(ca.handle_line("DIGEST"), cb.handle_line("DIGEST"));
}

TEST(StdinCommands, RunRepliesOncePerLineAndSurvivesEof) {
  FakeSubmitter sub;
  store::Store st;
  StdinCommands cmds(sub, st, 0, fake_status);
  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  std::string input = "HELP\nADD: a.example.com AX 1\n\nADD: a.example.com A 1.2.3.4\nDIGEST\nSTATUS";  // last line has no newline
  ASSERT_EQ(write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  close(in[1]);
  cmds.run(in[0], out[1], -1);  // returns at end of input
  close(out[1]);
  std::string output;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
  close(in[0]);
  close(out[0]);
  std::vector<std::string> lines;
  for (size_t start = 0, nl; (nl = output.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(output.substr(start, nl - start));
  }
  ASSERT_EQ(lines.size(), 6u) << output;
  EXPECT_EQ(lines[0].rfind("OK commands:", 0), 0u);
  EXPECT_NE(lines[0].find("DIGEST"), std::string::npos);
  EXPECT_EQ(lines[1], "ERROR: line 2: unknown type 'AX'");
  EXPECT_EQ(lines[2], "OK");
  EXPECT_EQ(lines[3], "OK added a.example.com. 3600 IN A 1.2.3.4");
  EXPECT_EQ(lines[4], "OK " + st.digest() + " 0 0");  // the fake submitter applies nothing
  EXPECT_EQ(lines[5].rfind("OK {", 0), 0u);
}

}  // namespace
}  // namespace node
