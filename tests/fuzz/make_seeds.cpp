// Writes the seed corpora of the Raft, WAL, change and stdin fuzz targets from
// the real encoders, so seeds start deep inside the parsers.
// Usage: make_seeds <corpus dir>   (writes <dir>/<target>/seed_NNN)
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/rr.h"
#include "raft/codec.h"
#include "raft/mem_file_system.h"
#include "raft/storage.h"
#include "store/change.h"

namespace {

namespace fs = std::filesystem;

void write_all(const fs::path& dir, const std::vector<std::string>& seeds) {
  fs::create_directories(dir);
  for (size_t i = 0; i < seeds.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "seed_%03zu", i);
    std::ofstream(dir / name, std::ios::binary) << seeds[i];
  }
}

const std::vector<std::string> kLines = {
    "ADD: www.example.com A 192.0.2.1",
    "ADD: www.example.com 300 IN A 192.0.2.2",
    "add www.example.com. 60 AAAA 2001:db8::1",
    "ADD: example.com MX [10, \"mail.example.com\"]",
    "ADD: example.com SOA [\"ns1.example.com\", \"hostmaster.example.com\"]",
    "ADD: example.com 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 60",
    "ADD: t.example.com TXT \"hello world\" \"second\"",
    "ADD: _sip._tcp.example.com SRV 0 5 5060 sip.example.com",
    "ADD: x.example.com TYPE65280 \\# 3 010203",
    "ADD: c.example.com CNAME www.example.com",
    "REMOVE: www.example.com A 192.0.2.1",
    "REMOVE: www.example.com A",
    "remove\twww.example.com\t300\tIN\tA\t192.0.2.2",
    "STATUS",
    "HELP",
    "# a comment",
    "",
};

// Records in presentation form: owner, type, rdata.
const std::vector<std::array<const char*, 3>> kRecords = {
    {"www.example.com.", "A", "192.0.2.1"},
    {"www.example.com.", "AAAA", "2001:db8::1"},
    {"example.com.", "MX", "10 mail.example.com."},
    {"example.com.", "SOA", "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60"},
    {"t.example.com.", "TXT", "\"hello world\" \"second\""},
    {"_sip._tcp.example.com.", "SRV", "0 5 5060 sip.example.com."},
    {"x.example.com.", "TYPE65280", "\\# 3 010203"},
    {"c.example.com.", "CNAME", "www.example.com."},
};

std::vector<store::Change> changes() {
  std::vector<store::Change> out;
  store::Change batch;
  batch.origin = 2;
  batch.client_id = 0x1234567890;
  batch.sequence = 9;
  const dns::Name root = dns::Name::from_text(".").value();
  uint8_t kind = 1;
  for (const auto& [owner, type_text, rdata_text] : kRecords) {
    store::Op op;
    op.kind = static_cast<store::OpKind>(kind);
    kind = static_cast<uint8_t>(kind % 3 + 1);  // Add, Remove, RemoveRRset in turn
    op.rr.owner = dns::Name::from_text(owner).value();
    op.rr.type = dns::type_from_text(type_text).value();
    op.rr.ttl = 300;
    auto rdata = dns::rdata_from_text(op.rr.type, rdata_text, root);
    if (!rdata.ok()) {
      std::cerr << owner << " " << type_text << ": " << rdata.error().message << "\n";
      std::exit(1);
    }
    op.rr.rdata = rdata.value();
    store::Change one;
    one.origin = 1;
    one.client_id = 42;
    one.sequence = out.size() + 1;
    one.ops.push_back(op);
    out.push_back(one);
    batch.ops.push_back(op);
  }
  out.push_back(batch);
  // An RFC 2136 UPDATE with every prerequisite and update kind.
  store::Change upd;
  upd.origin = 3;
  upd.client_id = 5;
  upd.sequence = 1;
  store::Update u;
  u.zone = dns::Name::from_text("example.com.").value();
  const dns::RR rr = batch.ops.front().rr;
  for (auto k : {store::PrereqKind::RRsetExists, store::PrereqKind::RRsetExistsValue, store::PrereqKind::RRsetAbsent,
                 store::PrereqKind::NameInUse, store::PrereqKind::NameNotInUse}) {
    u.prereqs.push_back(store::Prereq{k, rr});
  }
  for (auto k : {store::UpdateKind::Add, store::UpdateKind::DeleteRRset, store::UpdateKind::DeleteName,
                 store::UpdateKind::DeleteRR}) {
    u.updates.push_back(store::UpdateOp{k, rr});
  }
  upd.update = u;
  out.push_back(upd);
  out.push_back(store::Change{});
  return out;
}

std::vector<raft::Message> messages(const std::vector<store::Change>& ch) {
  std::vector<raft::Message> out;
  for (uint8_t t = 1; t <= 15; ++t) {
    raft::Message m;
    m.type = static_cast<raft::MessageType>(t);
    m.from = 1;
    m.to = 2;
    m.term = 7;
    m.log_term = 6;
    m.index = 100;
    m.commit = 99;
    switch (m.type) {
      case raft::MessageType::Append:
        for (size_t i = 0; i < 3 && i < ch.size(); ++i) {
          m.entries.push_back(raft::Entry{7, 101 + i, raft::EntryType::Normal, store::encode_change(ch[i])});
        }
        m.entries.push_back(raft::Entry{7, 104, raft::EntryType::Noop, ""});
        m.compact_hint = 50;
        break;
      case raft::MessageType::AppendResp:
        m.reject = true;
        m.reject_hint = 80;
        m.hint_term = 5;
        m.applied = 90;
        break;
      case raft::MessageType::Snapshot:
        m.snapshot = raft::SnapshotMeta{90, 6, raft::Membership{{1, 2, 3}, {4}}};
        m.offset = 0;
        m.done = true;
        m.data = "snapshot-bytes";
        m.snapshot_size = 14;
        break;
      case raft::MessageType::Forward:
        m.data = store::encode_change(ch.front());
        break;
      case raft::MessageType::ReadIndex:
      case raft::MessageType::ReadIndexResp:
      case raft::MessageType::Heartbeat:
        m.context = "ctx-1";
        break;
      case raft::MessageType::Vote:
        m.leader_transfer = true;
        break;
      default:
        break;
    }
    out.push_back(m);
  }
  return out;
}

// Segment files produced by LogStorage itself, joined as the WAL target expects.
std::vector<std::string> wal_seeds(const std::vector<store::Change>& ch) {
  const std::string sep("\xffSEP", 4);
  const std::string dir = "/data/raft";
  std::vector<std::string> out;
  for (int variant = 0; variant < 4; ++variant) {
    raft::MemFileSystem mem;
    raft::StorageOptions o;
    o.fs = &mem;
    o.segment_bytes = variant == 1 ? 256 : 4096;
    auto s = raft::LogStorage::open(dir, o).value();
    raft::Index next = 1;
    for (raft::Term term = 1; term <= 3; ++term) {
      (void)s->set_hard_state(raft::HardState{term, 1, next > 1 ? next - 1 : 0});
      std::vector<raft::Entry> batch;
      for (const auto& c : ch) batch.push_back(raft::Entry{term, next++, raft::EntryType::Normal, store::encode_change(c)});
      if (!s->append(batch).ok()) std::abort();
      if (!s->sync().ok()) std::abort();
      if (variant == 2 && term == 2) {
        // A conflicting suffix overwrite (Raft §5.3).
        next -= 2;
        if (!s->append({raft::Entry{term + 1, next++, raft::EntryType::Noop, ""}}).ok()) std::abort();
        if (!s->sync().ok()) std::abort();
      }
    }
    if (variant == 3) {
      raft::Snapshot snap{raft::SnapshotMeta{next - 3, 3, raft::Membership{{1, 2, 3}, {}}}, "state"};
      if (!s->save_snapshot(snap).ok()) std::abort();
    }
    s.reset();
    auto names = mem.list_dir(dir).value();
    std::sort(names.begin(), names.end());  // wal-<seq>-<first index>: sorted by seq
    std::vector<std::string> segs;
    std::string second_first_index(8, '\0');
    std::string snap;
    for (const auto& n : names) {
      if (n.rfind("wal-", 0) == 0) {
        if (segs.size() == 1) {
          uint64_t first = std::stoull(n.substr(21, 16), nullptr, 16);
          for (int i = 0; i < 8; ++i) second_first_index[i] = static_cast<char>(first >> (8 * i));
        }
        segs.push_back(*mem.contents(dir + "/" + n));
      }
      if (n.rfind("snap-", 0) == 0) {
        std::string prefix(16, '\0');
        uint64_t index = std::stoull(n.substr(5, 16), nullptr, 16), term = std::stoull(n.substr(22, 16), nullptr, 16);
        for (int i = 0; i < 8; ++i) {
          prefix[i] = static_cast<char>(index >> (8 * i));
          prefix[8 + i] = static_cast<char>(term >> (8 * i));
        }
        snap = prefix + *mem.contents(dir + "/" + n);
      }
    }
    std::string seed = segs.empty() ? "" : segs[0];
    if (segs.size() > 1 || !snap.empty()) seed += sep + (segs.size() > 1 ? second_first_index + segs[1] : "");
    if (!snap.empty()) seed += sep + snap;
    out.push_back(seed);
    if (!segs.empty()) out.push_back(segs[0].substr(0, segs[0].size() - 7));  // a torn tail
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <corpus dir>\n";
    return 2;
  }
  const fs::path root = argv[1];
  const auto ch = changes();

  write_all(root / "fuzz_stdin_command", kLines);

  std::vector<std::string> change_seeds;
  for (const auto& c : ch) change_seeds.push_back(store::encode_change(c));
  write_all(root / "fuzz_change_decode", change_seeds);

  std::vector<std::string> frames;
  for (const auto& m : messages(ch)) {
    frames.push_back(raft::codec::encode_frame(m));
    frames.push_back(raft::codec::encode(m));
  }
  write_all(root / "fuzz_raft_frame", frames);

  write_all(root / "fuzz_wal_recovery", wal_seeds(ch));
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
