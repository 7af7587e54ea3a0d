// Progress lines for long work: a ticker thread and rate formatting.
#include "node/progress_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

namespace node {

ProgressTicker::ProgressTicker(std::string what, std::chrono::milliseconds every)
    : what_(std::move(what)), start_(std::chrono::steady_clock::now()) {
  thread_ = std::thread([this, every] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, every, [this] { return done_; })) {
      spdlog::info("{}: still working ({:.0f} s)", what_, elapsed());
    }
  });
}

ProgressTicker::~ProgressTicker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

double ProgressTicker::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string rate_text(size_t count, double seconds, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f %s/s", static_cast<double>(count) / std::max(seconds, 1e-3), unit);
  return buf;
}

}  // namespace node
