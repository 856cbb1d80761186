// SPDX-License-Identifier: Apache-2.0
// Status / Result<T>: how errors cross the core boundary.
//
// Bad input (a truncated file, a wrong header, an unsupported architecture) is InvalidInput or
// Unsupported with a message that names the file and the problem; Cancelled is a normal outcome of
// a progress callback returning false; Internal means a bug. Inside the core, parsers may throw
// StatusError; every public entry point converts exceptions with status_guard() so nothing escapes
// into a worker thread or the Qt event loop.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ostq {

enum class StatusCode { kOk, kInvalidInput, kIoError, kUnsupported, kCancelled, kInternal };

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status invalid_input(std::string m) { return {StatusCode::kInvalidInput, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status cancelled(std::string m = "cancelled") { return {StatusCode::kCancelled, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  bool is_cancelled() const { return code_ == StatusCode::kCancelled; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid input: <message>" — what a front end shows.
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Thrown inside the core only; converted to Status by status_guard().
class StatusError : public std::exception {
 public:
  explicit StatusError(Status s) : status_(std::move(s)) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return status_.message().c_str(); }

 private:
  Status status_;
};

[[noreturn]] inline void throw_invalid(std::string message) {
  throw StatusError(Status::invalid_input(std::move(message)));
}
[[noreturn]] inline void throw_io(std::string message) {
  throw StatusError(Status::io_error(std::move(message)));
}
[[noreturn]] inline void throw_unsupported(std::string message) {
  throw StatusError(Status::unsupported(std::move(message)));
}
[[noreturn]] inline void throw_cancelled() { throw StatusError(Status::cancelled()); }
// For code that throws inside the core (and the front ends): a failed status becomes a StatusError.
inline void throw_if_error(const Status& status) {
  if (!status.is_ok()) throw StatusError(status);
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.is_ok()) status_ = Status::internal("Result constructed from an OK status without a value");
  }

  bool is_ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

// Converts the current exception (inside a catch block) into a Status.
Status status_from_current_exception();

// Runs fn() and converts any exception into a Status. fn returns T (wrapped in Result<T>) or void.
template <typename Fn>
auto status_guard(Fn&& fn) {
  using R = decltype(fn());
  if constexpr (std::is_void_v<R>) {
    try {
      fn();
      return Status::ok();
    } catch (...) {
      return status_from_current_exception();
    }
  } else {
    try {
      return Result<R>(fn());
    } catch (...) {
      return Result<R>(status_from_current_exception());
    }
  }
}

}  // namespace ostq
