// Startup seeding: the records of the -z zone files as one change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/change.h"
#include "store/store.h"

namespace node {

/// The change built from the zone files, and where each op came from.
struct ZoneLoad {
  store::Change change;
  std::vector<std::string> files;       // the paths read, in order
  std::vector<uint32_t> op_file;        // index into files of each op in change.ops
  std::vector<std::string> warnings;    // "file:line: reason" for lines skipped
  std::vector<std::string> fatal;       // files that could not be read at all
  std::optional<std::string> fingerprint;  // of the files' bytes (zone_files_fingerprint), if known

  /// The file that op `op` of `change` came from.
  const std::string& source_of(size_t op) const;
};

/// Reads every file (legacy or master format) into one change: the SOA
/// records first, so their zones exist, then the rest in file order.
ZoneLoad load_zone_files(const std::vector<std::string>& paths);

/// One "file: rejected <record>: <reason>" line per op the store refused.
std::vector<std::string> rejected_records(const ZoneLoad& load, const store::ApplyResult& result);

}  // namespace node
