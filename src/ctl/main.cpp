// dns-nodectl: sends one command to a running dns-node over its control
// socket and prints the reply; the exit status says OK (0), ERROR (1) or
// that the node could not be asked (2).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "ctl/ctl.h"

#ifndef DNSNODE_VERSION
#define DNSNODE_VERSION "unknown"
#endif

namespace {

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "dns-nodectl: %s\n", message.c_str());
  return ctl::kExitUsage;
}

/// "12.3 MB" for progress lines.
std::string megabytes(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

/// Progress on stderr: rewritten in place on a terminal, one line per step
/// otherwise (so a log keeps each step once).
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  ~Progress() { done(); }
  void update(const std::string& text, bool step) {
    if (tty_) {
      std::fprintf(stderr, "\r\033[Kdns-nodectl: %s", text.c_str());
      open_ = true;
    } else if (step) {
      std::fprintf(stderr, "dns-nodectl: %s\n", text.c_str());
    }
    std::fflush(stderr);
  }
  void done() {
    if (open_) std::fputc('\n', stderr);
    open_ = false;
  }

 private:
  bool tty_;
  bool open_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dns-nodectl: control a running dns-node through its control socket (docs/dns-nodectl.md)",
               "dns-nodectl"};
  app.set_version_flag("--version", std::string("dns-nodectl ") + DNSNODE_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 the node answered OK, 1 it answered ERROR, 2 a usage error or the node could not be asked.\n"
      "Example: dns-nodectl add www.example.com 300 A 192.0.2.80");
  std::string socket_path, data_dir, node_id = "0";
  bool json = false;
  double timeout_s = 120;
  app.add_option("-s,--socket", socket_path, "The node's control socket")->excludes(
      app.add_option("-d,--data-dir", data_dir, "The node's data directory (the socket is DIR/control.sock)"));
  app.add_option("-n,--node", node_id,
                 "Node id, for the packaged layout: /var/lib/dns-node/ID/control.sock (default 0)");
  app.add_flag("--json", json, "Print the reply as JSON");
  app.add_option("--timeout", timeout_s, "Seconds to wait for the reply (0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  // Each subcommand sets the line to send and how to show the reply.
  std::string line;
  ctl::Request request = ctl::Request::Line;
  std::vector<std::string> words;
  std::string zone_name, import_file, origin;

  auto simple = [&](const char* name, const char* help, const char* keyword, ctl::Request r) {
    app.add_subcommand(name, help)->callback([&, keyword, r] {
      line = keyword;
      request = r;
    });
  };
  simple("status", "This node's Raft state (role, term, leader, indexes, peers)", "STATUS", ctl::Request::Status);
  simple("digest", "A digest of this node's records, its applied index and record count", "DIGEST",
         ctl::Request::Digest);
  simple("members", "The committed member list", "MEMBERS", ctl::Request::Members);
  simple("zones", "The zones served, with their serials and record counts", "ZONES", ctl::Request::Zones);
  simple("help", "The node's list of commands", "HELP", ctl::Request::Line);

  // ADD/REMOVE: every word after the name is the record's, even one that
  // looks like an option ("-all" in an SPF value): prefix_command() passes
  // them through as they are, so a value is never dropped (which would turn
  // the removal of one record into that of its RRset).
  auto record_words = [&](CLI::App* sub, size_t at_least, const char* keyword, const char* usage) {
    sub->add_option("name", words, "The record's owner")->required();
    sub->prefix_command();
    sub->callback([&, sub, at_least, keyword, usage] {
      std::vector<std::string> rest = sub->remaining();
      if (!rest.empty() && rest.front() == "--") rest.erase(rest.begin());
      words.insert(words.end(), rest.begin(), rest.end());
      if (words.size() < at_least) throw CLI::ValidationError(sub->get_name(), std::string("usage: ") + usage);
      line = std::string(keyword) + " " + join(words);
    });
  };
  record_words(app.add_subcommand("add", "Add a record: add NAME [TTL] [IN] TYPE VALUE (as the stdin ADD: line)"), 3,
               "ADD:", "dns-nodectl add NAME [TTL] [IN] TYPE VALUE");
  record_words(app.add_subcommand("remove", "Remove a record or, without VALUE, the RRset: remove NAME TYPE [VALUE]"),
               2, "REMOVE:", "dns-nodectl remove NAME TYPE [VALUE]");

  auto* member = app.add_subcommand("member", "Change the cluster's members");
  member->require_subcommand(1);
  auto* member_add = member->add_subcommand("add", "Add a node: member add ID QUERY_LOC RAFT_LOC");
  member_add->add_option("args", words, "ID QUERY_LOC RAFT_LOC")->required()->expected(3);
  member_add->callback([&] { line = "MEMBER ADD " + join(words); });
  auto* member_remove = member->add_subcommand("remove", "Remove a node: member remove ID");
  member_remove->add_option("id", words, "ID")->required()->expected(1);
  member_remove->callback([&] { line = "MEMBER REMOVE " + join(words); });

  auto* zone = app.add_subcommand("zone", "Show, export or import one zone");
  zone->require_subcommand(1);
  zone->add_subcommand("show", "The zone's serial, SOA and records")
      ->callback([&] {
        line = "ZONE SHOW " + zone_name;
        request = ctl::Request::ZoneShow;
      })
      ->add_option("name", zone_name, "The zone's apex")
      ->required();
  zone->add_subcommand("export", "The zone as an RFC 1035 master file, on standard output")
      ->callback([&] {
        line = "ZONE EXPORT " + zone_name;
        request = ctl::Request::ZoneExport;
      })
      ->add_option("name", zone_name, "The zone's apex")
      ->required();
  auto* import = zone->add_subcommand(
      "import", "Make the zone hold exactly the file's records: one change with the difference only");
  import->add_option("file", import_file, "A master file with the zone's SOA ('-': standard input)")->required();
  import->add_option("--origin", origin, "Origin of relative names when the file has no $ORIGIN");
  import->callback([&] { request = ctl::Request::ZoneImport; });

  auto* ksk = app.add_subcommand("ksk", "Roll a zone's key-signing key (online DNSSEC signing)");
  ksk->require_subcommand(1);
  for (auto [action, keyword, help] :
       {std::tuple{"roll", "ROLL", "Start a KSK roll: the new KSK is published, then its CDS"},
        std::tuple{"submitted", "SUBMITTED", "Confirm that the parent publishes the new KSK's DS"},
        std::tuple{"status", "STATUS", "The KSK roll's phase and the zone's keys"}}) {
    ksk->add_subcommand(action, help)
        ->callback([&, keyword = std::string(keyword)] { line = "KSK " + keyword + " " + zone_name; })
        ->add_option("name", zone_name, "The zone's apex")
        ->required();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    int rc = app.exit(e, out, err);
    std::fputs(out.str().c_str(), stdout);
    std::fputs(err.str().c_str(), stderr);
    return rc == 0 ? ctl::kExitOk : ctl::kExitUsage;
  }
  if (line.find('\n') != std::string::npos) return fail("a command must be one line");

  std::string body;
  if (request == ctl::Request::ZoneImport) {
    if (import_file == "-") {
      body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(import_file, std::ios::binary);
      if (!in) return fail("cannot read " + import_file);
      body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    line = "ZONE IMPORT " + std::to_string(body.size()) + (origin.empty() ? "" : " " + origin);
  }

  if (socket_path.empty()) socket_path = data_dir.empty() ? ctl::default_socket_path(node_id) : data_dir + "/control.sock";
  auto conn = ctl::Connection::open(socket_path);
  if (!conn) return fail(conn.error().message);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));

  // A node with no room for this connection says so and closes it: that
  // line explains a failed send better than the send's own error.
  auto send_failed = [&](const util::Error& error) {
    auto said = conn->read_line(std::chrono::milliseconds(1000));
    if (said && ctl::parse_reply(*said).busy) return fail(ctl::parse_reply(*said).text);
    return fail(error.message);
  };
  Progress progress;
  if (auto sent = conn->send(line + "\n"); !sent) return send_failed(sent.error());
  if (request == ctl::Request::ZoneImport) {
    const auto started = std::chrono::steady_clock::now();
    size_t last_shown = 0;
    auto sent = conn->send(body, [&](size_t n) {
      if (n - last_shown < (4u << 20) && n != body.size()) return;
      last_shown = n;
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      progress.update("sent " + megabytes(n) + " of " + megabytes(body.size()) + " (" +
                          std::to_string(body.empty() ? 100 : n * 100 / body.size()) + "%, " +
                          megabytes(static_cast<size_t>(n / std::max(s, 1e-3))) + "/s)",
                      n == body.size());
    });
    if (!sent) return send_failed(sent.error());
    body = std::string();
  }
  for (;;) {
    auto reply_line = conn->read_line(timeout);
    if (!reply_line) return fail(reply_line.error().message);
    if (reply_line->rfind("PROGRESS ", 0) == 0) {
      progress.update(reply_line->substr(9), true);
      continue;
    }
    progress.done();
    ctl::Reply reply = ctl::parse_reply(*reply_line);
    if (reply.busy) return fail(reply.text);
    if (json) {
      std::fputs((ctl::json_output(request, reply).dump(2) + "\n").c_str(), stdout);
    } else {
      std::fputs(ctl::text_output(request, reply).c_str(), stdout);
    }
    return reply.ok ? ctl::kExitOk : ctl::kExitError;
  }
}
