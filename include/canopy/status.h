// Copyright (c) Canopy authors.
//
// Status and StatusOr<T>: how every Canopy call reports success or failure.
// No exception crosses a public function; errors are values that carry a
// canonical code and a message a person can act on, for example
// "permission device.assign missing on account 'acme-a'".
//
// Thread safety: Status and StatusOr are values; distinct objects may be used
// from different threads, one object needs external synchronisation.

#ifndef CANOPY_STATUS_H_
#define CANOPY_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace canopy {

// Canonical error codes. The numeric values are part of the C API
// (canopy_code_t) and are stable: do not change them, only append.
enum class Code : int {
  kOk = 0,
  kNotFound = 1,            // an id, key, login or role does not exist
  kInvalidArgument = 2,     // malformed input: empty/over-long/invalid UTF-8...
  kAlreadyExists = 3,       // a unique key, login or membership is taken
  kFailedPrecondition = 4,  // the state forbids it: children, cycles, depth...
  kPermissionDenied = 5,    // the actor lacks a permission on a scope
  kCorruption = 6,          // stored bytes are not what Canopy wrote
  kIOError = 7,             // the file system or RocksDB failed
  kNotSupported = 8,        // e.g. a database of a newer storage format
  kInternal = 9,            // a bug in Canopy; please report it
  kAborted = 10,            // a long operation was cancelled by its caller
  kCompacted = 11,          // a change-log revision trimmed by retention
  kUnavailable = 12,        // a service it needs (etcd, for a replica) does not answer,
                            // or a reader's open raced a busy writer: try again
};

// Returns the stable lower-case name of a code, e.g. "permission_denied".
const char* CodeName(Code code);

// A message as it is shown to a person: valid UTF-8 (a byte of input that
// is not, quoted back, is written \xNN) and at most about 1 KiB. A longer
// one (a huge input quoted back) keeps its first 768 and last 192 bytes,
// cut on character boundaries, and says in between how many bytes were
// left out.
std::string ShortMessage(std::string_view message);

class [[nodiscard]] Status {
 public:
  // An OK status. Cheap to create and copy.
  Status() = default;
  Status(Code code, std::string message);

  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status AlreadyExists(std::string msg) {
    return {Code::kAlreadyExists, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status NotSupported(std::string msg) {
    return {Code::kNotSupported, std::move(msg)};
  }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  static Status Aborted(std::string msg) { return {Code::kAborted, std::move(msg)}; }
  static Status Compacted(std::string msg) { return {Code::kCompacted, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // The message without the code name; empty for OK. (Shown to a person,
  // by the C API, the command line and the HTTP API, it is ShortMessage.)
  const std::string& message() const { return message_; }
  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsPermissionDenied() const { return code_ == Code::kPermissionDenied; }

  // Returns a copy whose message is prefixed with `context` and ": ".
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value of T or a non-OK Status. Accessing value() of a non-OK
// StatusOr is a programming error (it aborts).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // Anything that converts to T implicitly (a uint64_t for an id type).
  template <typename U,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<U>, T> &&
                                        !std::is_same_v<std::decay_t<U>, Status> &&
                                        !std::is_same_v<std::decay_t<U>, StatusOr> &&
                                        std::is_convertible_v<U&&, T>>>
  StatusOr(U&& value) : value_(T(std::forward<U>(value))) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Internal("StatusOr built from an OK Status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  const T& value() const& { Check(); return *value_; }
  T& value() & { Check(); return *value_; }
  T&& value() && { Check(); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void Check() const;
  Status status_;
  std::optional<T> value_;
};

namespace internal {
[[noreturn]] void DieOnBadStatusOrAccess(const Status& status);
}  // namespace internal

template <typename T>
void StatusOr<T>::Check() const {
  if (!value_) internal::DieOnBadStatusOrAccess(status_);
}

}  // namespace canopy

// Returns early from the enclosing function when `expr` (a Status) is not OK.
#define CANOPY_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::canopy::Status _canopy_status = (expr);        \
    if (!_canopy_status.ok()) return _canopy_status; \
  } while (0)

#define CANOPY_CONCAT_INNER_(a, b) a##b
#define CANOPY_CONCAT_(a, b) CANOPY_CONCAT_INNER_(a, b)

// `CANOPY_ASSIGN_OR_RETURN(auto x, Fn());` assigns the value of a StatusOr or
// returns its Status from the enclosing function.
#define CANOPY_ASSIGN_OR_RETURN(lhs, expr) \
  CANOPY_ASSIGN_OR_RETURN_IMPL_(CANOPY_CONCAT_(_canopy_or_, __LINE__), lhs, expr)
#define CANOPY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // CANOPY_STATUS_H_
