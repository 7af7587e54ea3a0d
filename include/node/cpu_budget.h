// How many CPUs this process may really use (its affinity mask and its
// cgroup's CPU quota), for sizing the worker pools.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace node {

/// The CPUs a cgroup v2 `cpu.max` file allows ("QUOTA PERIOD" in
/// microseconds), rounded up to whole CPUs; nullopt for "max" (no limit) or
/// text that is not a quota.
std::optional<unsigned> cpus_from_cpu_max(std::string_view text);

/// The tightest quota on the cgroup v2 group named in `proc_self_cgroup`
/// (the text of /proc/self/cgroup, its "0::/path" line) and on each of its
/// ancestors, read from `cpu.max` under `cgroup_root` (a mount of cgroup2,
/// normally /sys/fs/cgroup). nullopt when no level sets one, or on a
/// cgroup v1 system.
std::optional<unsigned> cgroup_cpu_quota(std::string_view proc_self_cgroup, const std::string& cgroup_root);

/// The default worker count: the CPUs the affinity mask allows, lowered to
/// the quota when one is set, at least 1 and at most `cap`.
unsigned default_worker_count(unsigned affinity_cpus, std::optional<unsigned> quota_cpus, unsigned cap);

/// CPUs this process may run on now: sched_getaffinity(2), lowered to the
/// cgroup v2 quota of its group. At least 1.
unsigned usable_cpus();

}  // namespace node
