// dns-nodectl's reply handling: which replies are OK, ERROR or BUSY, and what
// --json and the text output make of each.
#include "ctl/ctl.h"

#include <gtest/gtest.h>

namespace ctl {
namespace {

TEST(CtlReply, OkErrorAndBusyAreToldApart) {
  Reply ok = parse_reply("OK added a.example.com. 3600 IN A 192.0.2.1");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.text, "added a.example.com. 3600 IN A 192.0.2.1");
  EXPECT_TRUE(parse_reply("OK").ok);
  Reply err = parse_reply("ERROR: line 1: unknown command 'X' (try HELP)");
  EXPECT_FALSE(err.ok);
  EXPECT_FALSE(err.busy);
  EXPECT_EQ(err.text, "line 1: unknown command 'X' (try HELP)");
  Reply busy = parse_reply("BUSY too many control connections (at most 16); try again later");
  EXPECT_FALSE(busy.ok);
  EXPECT_TRUE(busy.busy);
  Reply odd = parse_reply("OKAY");
  EXPECT_FALSE(odd.ok);
  EXPECT_FALSE(odd.busy);
}

TEST(CtlReply, TextOutputIsTheReplyLineExceptForZoneListings) {
  EXPECT_EQ(text_output(Request::Status, parse_reply("OK {\"role\":\"leader\"}")), "OK {\"role\":\"leader\"}\n");
  EXPECT_EQ(text_output(Request::Line, parse_reply("ERROR: no quorum")), "ERROR: no quorum\n");
  EXPECT_EQ(text_output(Request::Zones, parse_reply("OK [{\"zone\":\"example.com.\",\"serial\":7,\"records\":12}]")),
            "ZONE SERIAL RECORDS\nexample.com. 7 12\n");
  EXPECT_EQ(text_output(Request::ZoneExport, parse_reply("OK \"$ORIGIN example.com.\\n\"")), "$ORIGIN example.com.\n");
}

TEST(CtlReply, JsonOutputCarriesTheReplysJsonOrItsMessage) {
  EXPECT_EQ(json_output(Request::Status, parse_reply("OK {\"role\":\"leader\",\"term\":3}"))["term"], 3);
  nlohmann::json digest = json_output(Request::Digest, parse_reply("OK abc123 42 17"));
  EXPECT_EQ(digest["digest"], "abc123");
  EXPECT_EQ(digest["applied_index"], 42);
  EXPECT_EQ(digest["records"], 17);
  nlohmann::json added = json_output(Request::Line, parse_reply("OK added x"));
  EXPECT_EQ(added["ok"], true);
  EXPECT_EQ(added["message"], "added x");
  nlohmann::json failed = json_output(Request::Status, parse_reply("ERROR: boom"));
  EXPECT_EQ(failed["ok"], false);
  EXPECT_EQ(failed["error"], "boom");
}

TEST(CtlSocket, PackagedLayoutPutsTheSocketInTheNodesStateDirectory) {
  EXPECT_EQ(default_socket_path("0"), "/var/lib/dns-node/0/control.sock");
}

TEST(CtlSocket, NoNodeAtThePathIsAnErrorThatSaysWhatToDo) {
  auto conn = Connection::open("/nonexistent-dir/control.sock");
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.error().message.find("is the node running?"), std::string::npos) << conn.error().message;
}

}  // namespace
}  // namespace ctl
