// ZONES, ZONE SHOW, ZONE EXPORT and ZONE IMPORT: listings from the store,
// an export that reads back to the same records, and an import that changes
// only the difference, in one change, on stdin as on the control socket.
#include "node/zone_commands.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "node/stdin_commands.h"
#include "applying_submitter.h"
#include "store/store.h"
#include "zone/zone_file.h"

namespace node {
namespace {

const char* kZone =
    "$ORIGIN example.com.\n"
    "$TTL 300\n"
    "@ IN SOA ns1 hostmaster 7 3600 900 604800 300\n"
    "@ NS ns1\n"
    "ns1 A 192.0.2.1\n"
    "www A 192.0.2.10\n"
    "www A 192.0.2.11\n"
    "txt TXT \"two words\" \"and more\"\n";

/// A store holding kZone, loaded through a ZONE IMPORT on a session.
struct ZoneCommands : ::testing::Test {
  store::Store st;
  test_support::ApplyingSubmitter sub{st};
  StdinCommands cmds{sub, st, 0, [this] { return test_support::status_of("0", st); }};
  std::vector<std::string> progress;

  std::string import(const std::string& text) {
    return cmds.import_zone(text, dns::Name(), [this](const std::string& l) { progress.push_back(l); });
  }
  std::vector<std::string> record_texts() {
    std::vector<std::string> out;
    for (const dns::RR& rr : zone_records(*st.snapshot(), *dns::Name::from_text("example.com")))
      out.push_back(rr.owner.to_text() + " " + std::to_string(rr.ttl) + " " + dns::type_to_text(rr.type) + " " +
                    dns::rdata_to_text(rr.type, rr.rdata));
    return out;
  }
};

TEST_F(ZoneCommands, ImportIntoAnEmptyStoreCreatesTheZoneInOneChange) {
  std::string r = import(kZone);
  EXPECT_EQ(r, "OK imported example.com.: 6 added, 0 removed; serial 7");
  EXPECT_EQ(st.applied_index(), 1u);  // one change
  EXPECT_EQ(st.snapshot()->record_count(), 6u);
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[0].rfind("parsed 6 records", 0), 0u) << progress[0];
  EXPECT_EQ(progress[1], "6 to add, 0 to remove (a new zone): committing as one change");
}

TEST_F(ZoneCommands, ListingAndShowReadTheStore) {
  ASSERT_EQ(import(kZone).rfind("OK", 0), 0u);
  auto list = nlohmann::json::parse(cmds.handle_line("ZONES").substr(3));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["zone"], "example.com.");
  EXPECT_EQ(list[0]["serial"], 7);
  EXPECT_EQ(list[0]["records"], 6);
  auto shown = nlohmann::json::parse(cmds.handle_line("zone show EXAMPLE.com").substr(3));
  EXPECT_EQ(shown["soa"]["rname"], "hostmaster.example.com.");
  EXPECT_EQ(shown["rrsets"][0]["type"], "SOA");  // the SOA first
  bool www = false;
  for (const auto& set : shown["rrsets"]) {
    if (set["name"] == "www.example.com." && set["type"] == "A") {
      www = true;
      EXPECT_EQ(set["data"].size(), 2u);
    }
  }
  EXPECT_TRUE(www);
  EXPECT_EQ(cmds.handle_line("ZONE SHOW example.net"), "ERROR: no zone example.net. is served (ZONES lists them)");
  EXPECT_EQ(cmds.handle_line("ZONE SHOW www.example.com"),
            "ERROR: no zone www.example.com. is served (ZONES lists them)");
}

TEST_F(ZoneCommands, ExportReadsBackToTheSameRecords) {
  ASSERT_EQ(import(kZone).rfind("OK", 0), 0u);
  std::string reply = cmds.handle_line("ZONE EXPORT example.com");
  ASSERT_EQ(reply.rfind("OK \"", 0), 0u) << reply;
  EXPECT_EQ(reply.find('\n'), std::string::npos);  // one reply line
  std::string text = nlohmann::json::parse(reply.substr(3)).get<std::string>();
  zone::ZoneFileResult parsed = zone::parse_master(text, "export", dns::Name(), "");
  EXPECT_TRUE(parsed.errors.empty()) << parsed.errors.front();
  std::vector<dns::RR> stored = zone_records(*st.snapshot(), *dns::Name::from_text("example.com"));
  ASSERT_EQ(parsed.records.size(), stored.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(parsed.records[i].owner, stored[i].owner);
    EXPECT_EQ(parsed.records[i].type, stored[i].type);
    EXPECT_EQ(parsed.records[i].ttl, stored[i].ttl);
    EXPECT_EQ(parsed.records[i].rdata, stored[i].rdata);
  }
  // Importing the export back changes nothing, not even the serial.
  const uint64_t index = st.applied_index();
  EXPECT_EQ(import(text), "OK example.com. unchanged (6 records)");
  EXPECT_EQ(st.applied_index(), index);
}

TEST_F(ZoneCommands, ImportChangesOnlyTheDifference) {
  ASSERT_EQ(import(kZone).rfind("OK", 0), 0u);
  std::string edited = kZone;
  edited.replace(edited.find("www A 192.0.2.11\n"), 17, "www A 192.0.2.12\nnew 60 AAAA 2001:db8::1\n");
  EXPECT_EQ(import(edited), "OK imported example.com.: 2 added, 1 removed; serial 8");
  std::vector<std::string> now = record_texts();
  EXPECT_EQ(std::count(now.begin(), now.end(), "www.example.com. 300 A 192.0.2.11"), 0);
  EXPECT_EQ(std::count(now.begin(), now.end(), "www.example.com. 300 A 192.0.2.12"), 1);
  EXPECT_EQ(std::count(now.begin(), now.end(), "new.example.com. 60 AAAA 2001:db8::1"), 1);
  EXPECT_EQ(std::count(now.begin(), now.end(), "www.example.com. 300 A 192.0.2.10"), 1);
}

TEST_F(ZoneCommands, AnOlderSerialInTheFileDoesNotMoveTheZoneBack) {
  ASSERT_EQ(import(kZone).rfind("OK", 0), 0u);
  ASSERT_EQ(cmds.handle_line("ADD: extra.example.com A 192.0.2.99").rfind("OK", 0), 0u);  // serial 8
  // The file still says serial 7 and lacks the record added since: the
  // record goes, the SOA is left alone, and the serial moves on to 9.
  EXPECT_EQ(import(kZone), "OK imported example.com.: 0 added, 1 removed; serial 9");
  // An edited SOA (a new refresh) is applied, its serial kept increasing.
  std::string edited = kZone;
  edited.replace(edited.find("7 3600"), 6, "7 7200");
  EXPECT_EQ(import(edited), "OK imported example.com.: 1 added, 0 removed; serial 10");
}

TEST_F(ZoneCommands, BadTextImportsNothing) {
  ASSERT_EQ(import(kZone).rfind("OK", 0), 0u);
  const uint64_t index = st.applied_index();
  std::string bad = std::string(kZone) + "oops A 999.1.1.1\n";
  std::string r = import(bad);
  EXPECT_EQ(r.rfind("ERROR: nothing imported: import:9: ", 0), 0u) << r;
  r = import("www.example.com. 60 IN A 192.0.2.1\n");
  EXPECT_EQ(r, "ERROR: nothing imported: the text has no SOA record (a zone's text starts with its SOA)");
  r = import(std::string(kZone) + "www.example.org. 60 IN A 192.0.2.1\n");
  EXPECT_EQ(r, "ERROR: nothing imported: www.example.org. A is outside the zone example.com.");
  r = import(std::string(kZone) + "$INCLUDE /etc/passwd\n");
  EXPECT_EQ(r, "ERROR: $INCLUDE is not accepted in an imported zone: send the included text inline");
  EXPECT_EQ(st.applied_index(), index);
}

TEST_F(ZoneCommands, RecordsComeInCanonicalOrder) {
  // RFC 4034 §6.1's example, in another order: the export lists the names as the RFC does.
  std::string text =
      "$ORIGIN example.\n@ 60 SOA ns hostmaster 1 3600 900 604800 300\n"
      "\\200.z 60 A 192.0.2.9\n*.z 60 A 192.0.2.8\nz 60 A 192.0.2.6\nzABC.a.EXAMPLE. 60 A 192.0.2.5\n"
      "\\001.z 60 A 192.0.2.7\nZ.a 60 A 192.0.2.4\nyljkjljk.a 60 A 192.0.2.3\na 60 A 192.0.2.2\n";
  ASSERT_EQ(import(text).rfind("OK", 0), 0u);
  std::vector<std::string> owners;
  for (const dns::RR& rr : zone_records(*st.snapshot(), *dns::Name::from_text("example"))) {
    owners.push_back(rr.owner.lowercased().to_text());  // a name keeps the case it first came with
  }
  EXPECT_EQ(owners, (std::vector<std::string>{"example.", "a.example.", "yljkjljk.a.example.", "z.a.example.",
                                              "zabc.a.example.", "z.example.", "\\001.z.example.", "*.z.example.",
                                              "\\200.z.example."}));
}

TEST(ZoneImportParse, HeaderCarriesTheLengthAndAnOptionalOrigin) {
  auto c = parse_command("ZONE IMPORT 1234 example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, Command::Kind::ZoneImport);
  EXPECT_EQ(c->body_bytes, 1234u);
  EXPECT_EQ(c->zone.to_text(), "example.com.");
  EXPECT_FALSE(parse_command("ZONE IMPORT -5").ok());
  EXPECT_FALSE(parse_command("ZONE IMPORT").ok());
  EXPECT_FALSE(parse_command("ZONE DROP example.com").ok());
  EXPECT_FALSE(parse_command("ZONES now").ok());
}

/// Runs the command loop over `input` and returns its output lines.
std::vector<std::string> run_lines(StdinCommands& cmds, const std::string& input) {
  int in[2], out[2];
  EXPECT_EQ(pipe(in), 0);
  EXPECT_EQ(pipe(out), 0);
  std::string output;
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(in[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(in[1]);
  });
  std::thread reader([&] {
    char buf[4096];
    for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
  });
  cmds.run(in[0], out[1], -1);
  close(out[1]);
  writer.join();
  reader.join();
  close(in[0]);
  close(out[0]);
  std::vector<std::string> lines;
  for (size_t start = 0, nl; (nl = output.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(output.substr(start, nl - start));
  }
  return lines;
}

TEST_F(ZoneCommands, TheLoopReadsTheImportTextAndGoesOnWithTheNextLine) {
  std::string zone = kZone;
  std::string input = "ZONE IMPORT " + std::to_string(zone.size()) + "\n" + zone + "ZONES\n";
  std::vector<std::string> lines = run_lines(cmds, input);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].rfind("PROGRESS parsed 6 records", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("PROGRESS 6 to add", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], "OK imported example.com.: 6 added, 0 removed; serial 7");
  EXPECT_EQ(lines[3], "OK [{\"records\":6,\"serial\":7,\"zone\":\"example.com.\"}]");
}

TEST_F(ZoneCommands, TheLoopSkipsAnOversizedImportInsteadOfReadingItAsCommands) {
  // A length past the limit is refused, and that many octets are skipped
  // (here the input ends first, so nothing after the header is a command).
  std::string input = "ZONE IMPORT " + std::to_string(kMaxZoneImportBytes + 1) + "\nADD: x.example.com A 192.0.2.1\n";
  std::vector<std::string> lines = run_lines(cmds, input);
  EXPECT_TRUE(lines.empty()) << lines.front();
  EXPECT_EQ(st.applied_index(), 0u);
  // A short text: the input ends before it does.
  lines = run_lines(cmds, "ZONE IMPORT 100\n$ORIGIN example.com.\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("ERROR: line 2: input ended after 21 of the zone text's 100 octets", 0), 0u) << lines[0];
}

}  // namespace
}  // namespace node
