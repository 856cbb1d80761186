// SPDX-License-Identifier: Apache-2.0
// Small file helpers shared by readers and writers. Every writer goes through AtomicFile so that a
// failed or cancelled write never leaves a half-written file at the final path.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ostq {

// Whole file as bytes; throws StatusError (io) naming the file.
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
std::string path_join(const std::string& dir, const std::string& name);
std::string path_dirname(const std::string& path);
std::string path_filename(const std::string& path);

// Writes to "<path>.tmp-<pid>" and renames onto <path> in commit(); the destructor removes the
// temporary file when commit() was not reached. Checks free space when the size is known.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path, uint64_t expected_bytes = 0);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  // Flushes, fsyncs and renames; throws StatusError (io) on failure (e.g. disk full).
  void commit();

 private:
  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Throws StatusError (io) when the file system holding `dir` has fewer than `bytes` free.
void ensure_free_space(const std::string& dir, uint64_t bytes);

}  // namespace ostq
