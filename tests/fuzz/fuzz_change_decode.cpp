// Fuzz target: a Raft log entry's bytes given to decode_change() must yield a
// change that re-encodes stably and applies to a store, or a clean error; a
// retry gets the first outcome, and the store's state restores byte for byte.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/change.h"
#include "store/store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto change = store::decode_change(bytes);
  if (!change.ok()) {
    if (change.error().message.empty()) std::abort();  // a refusal says why
    return 0;
  }
  // Every node decodes the same log entry: the encoding of what was decoded
  // must decode to the same thing again.
  const std::string once = store::encode_change(change.value());
  auto again = store::decode_change(once);
  if (!again.ok()) std::abort();
  if (store::encode_change(again.value()) != once) std::abort();

  // Apply must cope with any decodable change (bad names, odd types, an
  // UPDATE without a zone) and leave a store whose serialization restores.
  store::Store s;
  const store::ApplyResult first = s.apply(change.value(), 1);
  const store::ApplyResult second = s.apply(change.value(), 2);
  // A retry (same client and sequence) gets the first outcome back, op by op.
  if (change.value().sequence != 0 &&
      (!second.duplicate || second.op_errors != first.op_errors || second.rcode != first.rcode)) {
    std::abort();
  }
  const std::string ser = s.serialize();
  store::Store restored;
  if (!restored.restore(ser).ok()) std::abort();
  if (restored.digest() != s.digest()) std::abort();
  if (restored.serialize() != ser) std::abort();  // the dedupe table too
  return 0;
}
