// The CPUs a process may use: affinity mask and cgroup v2 quota.
#include "node/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

namespace node {
namespace {

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<unsigned long long> parse_number(std::string_view s) {
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

/// CPUs in this thread's affinity mask, or hardware_concurrency when the
/// kernel will not say (both at least 1).
unsigned affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

std::optional<unsigned> cpus_from_cpu_max(std::string_view text) {
  // cpu.max: "$MAX $PERIOD", where $MAX is "max" or microseconds per period
  // (Documentation/admin-guide/cgroup-v2.rst, "cpu.max").
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = text.substr(0, space);
  if (quota_text == "max") return std::nullopt;
  auto quota = parse_number(quota_text);
  auto period = parse_number(text.substr(space + 1));
  if (!quota || !period || *period == 0 || *quota == 0) return std::nullopt;
  // Rounded up: 1.5 CPUs of quota keep two threads busy half the time each.
  const unsigned long long cpus = (*quota + *period - 1) / *period;
  return static_cast<unsigned>(std::min<unsigned long long>(cpus, 1u << 16));
}

std::optional<unsigned> cgroup_cpu_quota(std::string_view proc_self_cgroup, const std::string& cgroup_root) {
  // The unified hierarchy's line is "0::/path" (cgroups(7)).
  std::string path;
  bool found = false;
  size_t pos = 0;
  while (pos < proc_self_cgroup.size()) {
    size_t nl = proc_self_cgroup.find('\n', pos);
    if (nl == std::string_view::npos) nl = proc_self_cgroup.size();
    const std::string_view line = proc_self_cgroup.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.substr(0, 3) == "0::") {
      path = std::string(line.substr(3));
      found = true;
      break;
    }
  }
  if (!found || path.empty() || path.front() != '/') return std::nullopt;
  // A limit on any ancestor bounds its descendants too: take the tightest.
  std::optional<unsigned> tightest;
  while (true) {
    if (auto text = read_small_file(cgroup_root + (path == "/" ? "" : path) + "/cpu.max")) {
      if (auto cpus = cpus_from_cpu_max(*text); cpus && (!tightest || *cpus < *tightest)) tightest = cpus;
    }
    if (path == "/") break;
    const size_t slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return tightest;
}

unsigned default_worker_count(unsigned affinity, std::optional<unsigned> quota_cpus, unsigned cap) {
  unsigned n = affinity;
  if (quota_cpus) n = std::min(n, *quota_cpus);
  return std::clamp(n, 1u, std::max(1u, cap));
}

unsigned usable_cpus() {
  std::optional<unsigned> quota;
  if (auto self = read_small_file("/proc/self/cgroup")) quota = cgroup_cpu_quota(*self, "/sys/fs/cgroup");
  return default_worker_count(affinity_cpus(), quota, 1u << 16);
}

}  // namespace node
