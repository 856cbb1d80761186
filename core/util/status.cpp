// SPDX-License-Identifier: Apache-2.0
#include "core/util/status.h"

#include <new>
#include <stdexcept>

namespace ostq {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidInput: return "invalid input";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status status_from_current_exception() {
  try {
    throw;
  } catch (const StatusError& e) {
    return e.status();
  } catch (const std::bad_alloc&) {
    return Status::io_error("out of memory");
  } catch (const std::exception& e) {
    // c10::Error derives from std::exception; reaching here means a check inside torch or the
    // standard library failed on data we did not validate: a bug on our side.
    return Status::internal(e.what());
  } catch (...) {
    return Status::internal("unknown exception");
  }
}

}  // namespace ostq
