// Errors as values: a Result holds either a value or an error, whose kind code
// branches on and whose message a user can act on.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace util {

/// What kind of failure an error is: the part code branches on (an HTTP
/// status, a DNS rcode, whether a retry is safe), while the message is for
/// people. The values are stored in checkpoints: never renumber them.
enum class ErrorKind : uint8_t {
  Invalid = 0,         ///< bad input: malformed, or breaking a rule of its own (a bad TTL, an unknown field)
  Refused = 1,         ///< refused by policy: not allowed for this key, or not by this node now
  NotFound = 2,        ///< no such record, zone or member
  Conflict = 3,        ///< at odds with the data as it is (a CNAME beside other data, a change already in progress)
  NoQuorum = 4,        ///< no leader was reachable and the change never left: not applied
  OutcomeUnknown = 5,  ///< the change may or may not be applied (a timeout, or a failure after it may have left); retrying is safe
  StorageFailed = 6,   ///< this node's storage failed before the change left it: not applied
  ShuttingDown = 7,    ///< the node is stopping and never sent the change: not applied
  SessionExpired = 8,  ///< the change's client session was forgotten (store/session.h): not applied; retry on a new session
};

/// A short lowercase name of the kind ("outcome unknown"), for logs and replies.
inline const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Invalid: return "invalid";
    case ErrorKind::Refused: return "refused";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::NoQuorum: return "no quorum";
    case ErrorKind::OutcomeUnknown: return "outcome unknown";
    case ErrorKind::StorageFailed: return "storage failed";
    case ErrorKind::ShuttingDown: return "shutting down";
    case ErrorKind::SessionExpired: return "session expired";
  }
  return "unknown kind";
}

/// An error with a message meant for the operator ("file:12: bad TTL '1x'")
/// and its kind.
struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::Invalid;
};

/// Either a T or an Error. Cheap to move; check with ok() before value().
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result for operations that return nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

inline Error make_error(std::string message) { return Error{std::move(message)}; }
inline Error make_error(ErrorKind kind, std::string message) { return Error{std::move(message), kind}; }

}  // namespace util
