// Running under a service manager: readiness and stopping notices for
// systemd (sd_notify's datagram), and log lines shaped for the journal.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/formatter.h>

#include "util/result.h"

namespace node {

/// Sends `state` ("READY=1", "STOPPING=1", "STATUS=...", newline-separated)
/// to the service manager when $NOTIFY_SOCKET names one (systemd's
/// Type=notify, sd_notify(3)); does nothing otherwise. Returns whether it
/// was sent. The protocol is one datagram on a Unix socket, so it is written
/// here rather than linking libsystemd for it.
bool notify_service_manager(std::string_view state);

/// Whether standard error is connected to the journal: $JOURNAL_STREAM names
/// the device and inode of stderr (systemd.exec(5)).
bool stderr_is_journal();

/// How log lines look: "text" (a timestamp, the level, the node), "journal"
/// (a syslog priority prefix "<N>" the journal turns into the entry's
/// priority, no timestamp: the journal adds its own), or "auto" (journal when
/// stderr_is_journal()).
enum class LogFormat { Auto, Text, Journal };
util::Result<LogFormat> parse_log_format(std::string_view text);

/// The formatter for the journal: "<N>node ID: message".
std::unique_ptr<spdlog::formatter> journal_formatter(const std::string& node_id);

}  // namespace node
