// Startup seeding: zone files -> one change, SOAs first.
#include "node/zone_loader.h"

#include "dns/rr.h"
#include "zone/zone_file.h"

namespace node {

ZoneLoad load_zone_files(const std::vector<std::string>& paths) {
  ZoneLoad load;
  std::vector<store::Op> rest;
  std::vector<std::string> rest_sources;
  for (const std::string& path : paths) {
    zone::ZoneFileResult file = zone::read_zone_file(path);
    auto& sink = file.file_unreadable ? load.fatal : load.warnings;
    sink.insert(sink.end(), file.errors.begin(), file.errors.end());
    for (dns::RR& rr : file.records) {
      bool soa = rr.type == dns::rrtype::SOA;
      store::Op op{store::OpKind::Add, std::move(rr)};
      if (soa) {
        load.change.ops.push_back(std::move(op));
        load.op_sources.push_back(path);
      } else {
        rest.push_back(std::move(op));
        rest_sources.push_back(path);
      }
    }
  }
  for (size_t i = 0; i < rest.size(); ++i) {
    load.change.ops.push_back(std::move(rest[i]));
    load.op_sources.push_back(std::move(rest_sources[i]));
  }
  return load;
}

std::vector<std::string> rejected_records(const ZoneLoad& load, const store::ApplyResult& result) {
  std::vector<std::string> out;
  for (size_t i = 0; i < result.op_errors.size() && i < load.change.ops.size(); ++i) {
    if (result.op_errors[i].empty()) continue;
    const dns::RR& rr = load.change.ops[i].rr;
    out.push_back(load.op_sources[i] + ": rejected " + rr.owner.to_text() + " " + dns::type_to_text(rr.type) +
                  " " + dns::rdata_to_text(rr.type, rr.rdata) + ": " + result.op_errors[i]);
  }
  return out;
}

}  // namespace node
