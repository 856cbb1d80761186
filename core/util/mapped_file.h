// SPDX-License-Identifier: Apache-2.0
// Read-only memory map of a whole file. Weights are served straight from the map (no copy) when
// their dtype and alignment allow it; the map lives as long as any shared_ptr to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ostq {

class MappedFile {
 public:
  // Throws StatusError (io error) naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ostq
