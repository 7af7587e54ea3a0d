// Startup seeding: zone files -> one change, SOAs first.
#include "node/zone_loader.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "dns/rr.h"
#include "node/progress_log.h"
#include "zone/zone_file.h"

namespace node {
namespace {

/// Records from which reading a zone file is logged at info level.
constexpr size_t kLargeZoneRecords = 100000;

}  // namespace

const std::string& ZoneLoad::source_of(size_t op) const { return files[op_file[op]]; }

ZoneLoad load_zone_files(const std::vector<std::string>& paths) {
  ZoneLoad load;
  std::vector<zone::ZoneFileResult> parsed;
  parsed.reserve(paths.size());
  size_t total = 0;
  for (const std::string& path : paths) {
    std::error_code size_error;
    const auto bytes = std::filesystem::file_size(path, size_error);
    zone::ZoneFileResult file;
    double seconds = 0;
    {
      ProgressTicker ticker("reading zone file " + path);
      file = zone::read_zone_file(path);
      seconds = ticker.elapsed();
    }
    if (!file.file_unreadable) {
      // A large file's time and rate are worth an operator's eye; a small
      // one's only add lines before every start.
      const bool large = file.records.size() >= kLargeZoneRecords || seconds >= 1.0;
      spdlog::log(large ? spdlog::level::info : spdlog::level::debug, "zone file {}: {} records{} in {:.2f} s ({})", path, file.records.size(),
                   size_error ? std::string() : fmt::format(" ({:.1f} MB)", static_cast<double>(bytes) / 1e6),
                   seconds, rate_text(file.records.size(), seconds, "records"));
    }
    auto& sink = file.file_unreadable ? load.fatal : load.warnings;
    sink.insert(sink.end(), file.errors.begin(), file.errors.end());
    total += file.records.size();
    load.files.push_back(path);
    parsed.push_back(std::move(file));
  }
  load.change.ops.reserve(total);
  load.op_file.reserve(total);
  // Two passes over the parsed records, each moved once: SOAs, then the rest.
  for (bool soa_pass : {true, false}) {
    for (uint32_t f = 0; f < parsed.size(); ++f) {
      for (dns::RR& rr : parsed[f].records) {
        if ((rr.type == dns::rrtype::SOA) != soa_pass) continue;
        load.change.ops.push_back({store::OpKind::Add, std::move(rr)});
        load.op_file.push_back(f);
      }
    }
  }
  return load;
}

std::vector<std::string> rejected_records(const ZoneLoad& load, const store::ApplyResult& result) {
  std::vector<std::string> out;
  for (size_t i = 0; i < result.op_errors.size() && i < load.change.ops.size(); ++i) {
    if (result.op_errors[i].empty()) continue;
    const dns::RR& rr = load.change.ops[i].rr;
    out.push_back(load.source_of(i) + ": rejected " + rr.owner.to_text() + " " + dns::type_to_text(rr.type) + " " +
                  dns::rdata_to_text(rr.type, rr.rdata) + ": " + result.op_errors[i]);
  }
  return out;
}

}  // namespace node
