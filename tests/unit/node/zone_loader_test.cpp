// Startup seeding from zone files: SOAs first, the rest in file order,
// bad lines as warnings, unreadable files as fatal.
#include "node/zone_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "dns/rr.h"

namespace node {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/zone_loader_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string write(const std::string& name, const std::string& text) {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

TEST(ZoneLoader, SoaRecordsComeFirstThenFileOrder) {
  TempDir dir;
  std::string a = dir.write("zf1.txt",
                            "www.example.com A 192.0.2.1\n"
                            "example.org SOA [\"ns1.example.org\", \"admin.example.org\"]\n"
                            "mail.example.org A 192.0.2.9\n");
  std::string b = dir.write("zf0.txt",
                            "example.com SOA [\"ns1.example.com\", \"admin.example.com\"]\n"
                            "ftp.example.com A 192.0.2.2\n");
  ZoneLoad load = load_zone_files({a, b});
  EXPECT_TRUE(load.warnings.empty());
  EXPECT_TRUE(load.fatal.empty());
  ASSERT_EQ(load.change.ops.size(), 5u);
  ASSERT_EQ(load.op_file.size(), 5u);
  std::vector<std::string> order;
  for (const store::Op& op : load.change.ops) {
    EXPECT_EQ(op.kind, store::OpKind::Add);
    order.push_back(op.rr.owner.to_text() + " " + dns::type_to_text(op.rr.type));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"example.org. SOA", "example.com. SOA", "www.example.com. A",
                                             "mail.example.org. A", "ftp.example.com. A"}));
  EXPECT_EQ(load.source_of(0), a);
  EXPECT_EQ(load.source_of(1), b);
  EXPECT_EQ(load.source_of(4), b);
}

TEST(ZoneLoader, BadLinesWarnUnreadableFilesAreFatal) {
  TempDir dir;
  std::string a = dir.write("zf0.txt", "example.com SOA [\"ns1.example.com\", \"admin.example.com\"]\nbroken\n");
  ZoneLoad load = load_zone_files({a, "/nonexistent/zf9.txt"});
  ASSERT_EQ(load.warnings.size(), 1u);
  EXPECT_NE(load.warnings[0].find("zf0.txt:2"), std::string::npos) << load.warnings[0];
  ASSERT_EQ(load.fatal.size(), 1u);
  EXPECT_NE(load.fatal[0].find("/nonexistent/zf9.txt"), std::string::npos);
  EXPECT_EQ(load.change.ops.size(), 1u);
}

TEST(ZoneLoader, RejectedRecordsNameFileRecordAndReason) {
  TempDir dir;
  std::string a = dir.write("zf0.txt", "example.com SOA [\"ns1.example.com\", \"admin.example.com\"]\n"
                                       "x.example.net A 192.0.2.1\n");
  ZoneLoad load = load_zone_files({a});
  store::ApplyResult result;
  result.op_errors = {"", "no zone for x.example.net."};
  auto lines = rejected_records(load, result);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], a + ": rejected x.example.net. A 192.0.2.1: no zone for x.example.net.");
}

}  // namespace
}  // namespace node
