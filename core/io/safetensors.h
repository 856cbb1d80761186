// SPDX-License-Identifier: Apache-2.0
// safetensors (FORMATS.md §4.4, §4.5): header parsing with full validation, a memory-mapped file,
// a model-directory store over one file or an index of shards, and an atomic writer. Torch-free
// (the parsers are fuzzed).
//
// Note [safetensors validation]: safetensors_parse rejects, naming the file and the problem: a
// header length N > 100 MB or 8 + N > file size; a header that is not a UTF-8 JSON object; an entry
// without dtype / shape / data_offsets or with wrong JSON types; negative or non-integer shape
// entries; end < begin; end − begin ≠ numel · dtype_size (computed without overflow); offsets past
// the byte buffer; overlapping tensors; duplicate names; a non-string `__metadata__` value; and
// unknown or unsupported dtypes (Unsupported). Holes are rejected too, like the reference reader:
// sorted by offset, the tensors must tile the byte buffer exactly, with no gap between tensors and
// no unused bytes after the last one. Data alignment is not required.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/io/dtype.h"
#include "core/util/mapped_file.h"

namespace ostq {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major; [] for a scalar
  uint64_t data_offset = 0;    // absolute byte offset in the file (8 + N + begin)
  uint64_t nbytes = 0;         // numel() · dtype_size(dtype)
  int64_t numel() const;       // product of shape (1 for a scalar)
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;              // sorted by data_offset (the order on disk)
  std::map<std::string, std::string> metadata;  // "__metadata__", may be empty
  uint64_t data_start = 0;                      // 8 + N: where the byte buffer begins

  // nullptr when absent. Uses an index built by safetensors_parse; call rebuild_index() after
  // editing `tensors` by hand.
  const TensorInfo* find(std::string_view name) const;
  void rebuild_index();

 private:
  std::unordered_map<std::string, size_t> index_;
};

// Parses and validates the header of a whole safetensors file held in data[0..file_size) (see
// Note [safetensors validation]). Throws StatusError "<file_name>: <problem>".
SafetensorsHeader safetensors_parse(const uint8_t* data, size_t file_size,
                                    const std::string& file_name);

// One memory-mapped, validated .safetensors file. Tensor pointers stay valid while the object (or
// a copy of mapping()) lives.
class SafetensorsFile {
 public:
  // Throws StatusError: io when the file cannot be opened, invalid input / unsupported when the
  // contents are wrong.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const TensorInfo* find(std::string_view name) const { return header_.find(name); }
  // First byte of the tensor inside the map; not necessarily aligned for its dtype.
  const uint8_t* tensor_data(const TensorInfo& t) const { return map_->data() + t.data_offset; }
  const std::shared_ptr<MappedFile>& mapping() const { return map_; }

 private:
  SafetensorsFile(std::shared_ptr<MappedFile> map, SafetensorsHeader header)
      : map_(std::move(map)), header_(std::move(header)) {}
  std::shared_ptr<MappedFile> map_;
  SafetensorsHeader header_;
};

// model.safetensors.index.json contents (FORMATS.md §4.5).
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name → shard file name
  uint64_t total_size = 0;                        // metadata.total_size, 0 when absent
};

// Parses an index; shard names must be plain file names (no '/', not "." or ".."). Throws
// StatusError "<file_name>: <problem>".
SafetensorsIndex safetensors_index_parse(std::string_view json_text, const std::string& file_name);

// Where a tensor lives inside a SafetensorsStore; both null when absent.
struct TensorLocation {
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
  explicit operator bool() const { return info != nullptr; }
  const uint8_t* data() const { return file->tensor_data(*info); }
};

// All weights of a Hugging Face model directory, found in this order (FORMATS.md §4.1):
//   1. model.safetensors;
//   2. model.safetensors.index.json and every shard it names — each listed tensor must be in the
//      shard it is mapped to, and every tensor of a shard must be listed;
//   3. the only *.safetensors file in the directory.
// A directory with only pickle checkpoints (pytorch_model*.bin, *.pt, *.pth) fails with
// Unsupported and a hint to convert to safetensors; several *.safetensors without an index, or no
// weights at all, fail with InvalidInput. Names are unique across the store.
class SafetensorsStore {
 public:
  static SafetensorsStore open_dir(const std::string& dir);

  TensorLocation find(std::string_view name) const;
  // Every tensor name, file by file in the order above, each file in data order.
  std::vector<std::string> names() const;
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  const std::string& dir() const { return dir_; }
  // Sum of all tensor byte sizes.
  uint64_t total_bytes() const;

 private:
  void add_file(SafetensorsFile file);
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, TensorLocation> index_;
};

// ---- Writer ----

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // nbytes bytes, little-endian, row-major
  uint64_t nbytes = 0;         // must equal numel · dtype_size
};

// Optional progress sink: fraction in [0, 1] and a stage name; returning false cancels (the write
// then throws StatusError(cancelled) and leaves no file behind).
using WriteProgress = std::function<bool(float fraction, std::string_view stage)>;

// Writes one .safetensors file: the header (metadata first, then tensors in the given order) is
// padded with spaces so the byte buffer starts at a multiple of 8, then the tensors back to back
// in the given order. Atomic (AtomicFile). Hugging Face transformers requires
// metadata {"format": "pt"} when any metadata is present. Throws StatusError "<path>: <problem>"
// for an inconsistent tensor (size, duplicate or reserved name), I/O errors or cancellation.
void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const WriteProgress& progress = {});

// The bytes of the .safetensors file safetensors_write would write, in memory (for small files
// written inside a directory that appears atomically as a whole). `what` names it in errors.
std::string safetensors_serialize(const std::vector<TensorToWrite>& tensors,
                                  const std::map<std::string, std::string>& metadata, const std::string& what);

// Writes `tensors` into `dir`: a single model.safetensors when the tensor bytes fit in
// max_shard_bytes, otherwise model-0000k-of-0000N.safetensors shards (filled greedily in the given
// order; a tensor larger than the limit gets a shard of its own) plus model.safetensors.index.json.
// `metadata` goes into every file. Shards are renamed into place only after all of them were
// written (a failure or cancel before that leaves nothing), the index last. Refuses a directory
// that already holds the other layout (model.safetensors vs. an index), which a loader would
// otherwise pick up instead of the new files. max_shard_bytes must be positive.
void safetensors_write_sharded(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                               uint64_t max_shard_bytes,
                               const std::map<std::string, std::string>& metadata = {},
                               const WriteProgress& progress = {});

}  // namespace ostq
