// SPDX-License-Identifier: Apache-2.0
#include "core/util/atomic_dir.h"

#include <unistd.h>

#include <filesystem>

#include "core/util/status.h"

namespace ostq {

void write_directory_atomically(const std::string& dir, const std::function<void(const std::string& tmp)>& fill) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    throw_invalid(dir + ": output directory exists and is not empty");
  }
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec)) throw_io(tmp + ": cannot create directory: " + ec.message());
  try {
    fill(tmp);
    if (fs::exists(dir, ec)) fs::remove(dir, ec);  // the empty directory checked above
    fs::rename(tmp, dir, ec);
    if (ec) throw_io(dir + ": cannot move the written model into place: " + ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace ostq
