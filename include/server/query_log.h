// The optional one-line-per-query log (--query-log).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "server/responder.h"

namespace server {

/// Logs "udp 127.0.0.1:5353 www.example.com. A -> NOERROR 64B" at info.
void log_query(const char* transport, const std::string& peer, const uint8_t* query, size_t query_len,
               const ResponseInfo& info, size_t response_len);

}  // namespace server
