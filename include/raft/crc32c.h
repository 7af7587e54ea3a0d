// CRC-32C (Castagnoli), the checksum on every WAL record and snapshot file.
#pragma once

#include <cstdint>
#include <string_view>

namespace raft {

/// Extends `crc` (0 to start) over `data`. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace raft
