// Zone file readers: RFC 1035 §5 master files and the legacy line format of
// the shipped zone-files/zfX.txt, told apart by content.
#pragma once

#include <string>
#include <vector>

#include "dns/rr.h"

namespace zone {

/// What reading a zone file produced: the records that parsed, and one
/// message per line that did not ("file:line: reason"), which was skipped.
struct ZoneFileResult {
  std::vector<dns::RR> records;
  std::vector<std::string> errors;
  bool file_unreadable = false;  // the file itself could not be opened
};

enum class ZoneFileFormat { Master, Legacy };

/// Guesses the format from the text: "$ORIGIN"/"$TTL", relative names, class
/// or TTL fields mean master; JSON-list values and '#' comments mean legacy.
ZoneFileFormat detect_format(const std::string& text);

/// Reads a file, detecting its format. `default_origin` applies to master
/// files with no $ORIGIN (root if empty).
ZoneFileResult read_zone_file(const std::string& path, const dns::Name& default_origin = dns::Name());

/// Parses master-file text (RFC 1035 §5.1): $ORIGIN, $TTL, $INCLUDE (relative
/// to `base_dir`), '@', relative names, parentheses, comments, class IN, TTL
/// units (RFC 2308 §4 style "1h30m"). `source` names the text in errors.
ZoneFileResult parse_master(const std::string& text, const std::string& source,
                            const dns::Name& origin, const std::string& base_dir);

/// Parses the legacy format: "name [TTL] TYPE value" per line, '#' comments,
/// MX and SOA values as JSON lists, every name absolute. A line starting with
/// white space is appended, stripped, to the line before (a wrapped value).
ZoneFileResult parse_legacy(const std::string& text, const std::string& source);

/// Parses a TTL: seconds, or units w/d/h/m/s ("1h30m"). Rejects overflow.
util::Result<uint32_t> parse_ttl(std::string_view text);

/// Parses one record value in either syntax: master-file rdata text, or the
/// legacy JSON-list form (MX ["exchange", pref], SOA ["mname", "rname",
/// serial?, refresh?, retry?, expire?, minimum?], other types: the fields as
/// list items). An unquoted TXT value is one string, spaces included, as in
/// the legacy files. Used by legacy zone files and stdin commands.
util::Result<std::string> parse_rdata_any(uint16_t type, std::string_view value, const dns::Name& origin);

}  // namespace zone
