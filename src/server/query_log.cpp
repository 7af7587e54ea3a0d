// The optional one-line-per-query log (--query-log).
#include "server/query_log.h"

#include <spdlog/spdlog.h>

#include "dns/message.h"
#include "server/query_stats.h"

namespace server {

void log_query(const char* transport, const std::string& peer, const uint8_t* query, size_t query_len,
               const ResponseInfo& info, size_t response_len) {
  bool header_ok = false;
  auto q = dns::parse_query(query, query_len, &header_ok);
  std::string question = "(unparsable)";
  if (q.ok() && q->has_question) {
    question = q->question.name.to_text() + " " + dns::type_to_text(q->question.qtype);
  }
  if (response_len == 0) {
    spdlog::info("query {} {} {} -> dropped", transport, peer, question);
  } else {
    spdlog::info("query {} {} {} -> {}{} {}B", transport, peer, question, rcode_name(info.rcode),
                 info.truncated ? " TC" : "", response_len);
  }
}

}  // namespace server
