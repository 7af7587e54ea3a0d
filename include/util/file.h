// Whole-file helpers for the project's own small state files.
#pragma once

#include <string>

#include "util/result.h"

namespace util {

/// Replaces `path` with `bytes` so that after a crash the file is either the
/// old version or the new one, never a mix: temp file, fsync, rename, fsync
/// of the directory.
Result<void> write_file_atomically(const std::string& path, const std::string& bytes);

/// Reads a whole file. A missing file is an error whose message says so.
Result<std::string> read_file(const std::string& path);

}  // namespace util
