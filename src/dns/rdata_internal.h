// Helpers shared by the rdata codecs of this module; not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dns::detail {

/// End offset of the uncompressed wire name starting at `pos` in `rdata`,
/// or npos when it is truncated, uses a pointer, or is too long.
size_t wire_name_end(std::string_view rdata, size_t pos);

uint16_t read16(std::string_view s, size_t pos);
uint32_t read32(std::string_view s, size_t pos);

}  // namespace dns::detail
