// Progress of long work in the log: a line every few seconds while it runs,
// and the rate once it is done.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace node {

/// While alive, logs "<what>: still working (N s)" every `every` on its own
/// thread, so an operator watching a large zone load sees that it moves.
class ProgressTicker {
 public:
  explicit ProgressTicker(std::string what, std::chrono::milliseconds every = std::chrono::seconds(5));
  ~ProgressTicker();
  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;

  /// Seconds since it started.
  double elapsed() const;

 private:
  std::string what_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// "1234567 records/s" style rate: `count` over `seconds` (at least 1 ms).
std::string rate_text(size_t count, double seconds, const char* unit);

}  // namespace node
