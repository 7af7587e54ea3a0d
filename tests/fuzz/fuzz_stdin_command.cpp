// Fuzz target: any operator line given to parse_command() yields a command or
// an error message, never a crash; a parsed change survives the Raft encoding.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "node/stdin_commands.h"
#include "store/change.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto cmd = node::parse_command(line);
  if (!cmd.ok()) {
    if (cmd.error().message.empty()) std::abort();  // an ERROR: reply must say why
    return 0;
  }
  if (cmd->kind != node::Command::Kind::Change) return 0;
  // What the operator typed is replicated as an encoded change; it must
  // decode on every other node.
  store::Change change;
  change.origin = 1;
  change.client_id = 7;
  change.sequence = 1;
  change.ops.push_back(cmd->op);
  const std::string bytes = store::encode_change(change);
  auto decoded = store::decode_change(bytes);
  if (!decoded.ok()) std::abort();
  if (store::encode_change(decoded.value()) != bytes) std::abort();
  return 0;
}
