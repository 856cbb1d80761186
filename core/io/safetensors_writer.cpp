// SPDX-License-Identifier: Apache-2.0
// safetensors writer: single files and sharded directories, atomic (see safetensors.h).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/io/safetensors_internal.h"
#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

using namespace safetensors_detail;
using nlohmann::json;

// ---- Writer ----

namespace {

constexpr uint64_t kWriteChunk = uint64_t{64} << 20;

struct ProgressState {
  const WriteProgress* sink = nullptr;
  uint64_t done = 0;
  uint64_t total = 0;
  void report(std::string_view stage) const {
    if (sink == nullptr || !*sink) return;
    const float f = total == 0 ? 1.0f : static_cast<float>(static_cast<double>(done) / total);
    if (!(*sink)(f, stage)) throw_cancelled();
  }
};

void check_tensors(const std::string& path, const std::vector<const TensorToWrite*>& tensors) {
  std::unordered_set<std::string> names;
  for (const TensorToWrite* t : tensors) {
    const std::string where = path + ": tensor " + quote_name(t->name);
    auto fail = [&](const std::string& m) { throw_invalid(where + ": " + m); };
    if (t->name.empty()) throw_invalid(path + ": empty tensor name");
    if (t->name == "__metadata__") fail("reserved name");
    if (!names.insert(t->name).second) fail("duplicate name");
    uint64_t numel = 0;
    uint64_t nbytes = 0;
    shape_sizes(t->shape, t->dtype, &numel, &nbytes, fail);
    if (nbytes != t->nbytes) {
      fail("nbytes is " + std::to_string(t->nbytes) + " but the shape needs " +
           std::to_string(nbytes));
    }
    if (t->nbytes > 0 && t->data == nullptr) fail("data is null");
  }
}

// Header text padded with spaces so that 8 + size is a multiple of 8.
std::string header_text(const std::string& path, const std::vector<const TensorToWrite*>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& m = h["__metadata__"];
    m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  uint64_t offset = 0;
  for (const TensorToWrite* t : tensors) {
    h[t->name] = {{"dtype", dtype_name(t->dtype)},
                  {"shape", t->shape},
                  {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const nlohmann::json::exception& e) {
    throw_invalid(path + ": a tensor name or metadata string is not valid UTF-8 (" + e.what() +
                  ")");
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

// Writes a whole file to a temporary name; the caller commits.
std::unique_ptr<AtomicFile> write_uncommitted(const std::string& path,
                                              const std::vector<const TensorToWrite*>& tensors,
                                              const std::map<std::string, std::string>& metadata,
                                              ProgressState& progress) {
  check_tensors(path, tensors);
  const std::string text = header_text(path, tensors, metadata);
  uint64_t expected = 8 + text.size();
  for (const TensorToWrite* t : tensors) expected += t->nbytes;

  auto file = std::make_unique<AtomicFile>(path, expected);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  file->write(len, sizeof len);
  file->write(text);
  const std::string stage = "writing " + path_filename(path);
  progress.report(stage);
  for (const TensorToWrite* t : tensors) {
    const auto* p = static_cast<const uint8_t*>(t->data);
    for (uint64_t off = 0; off < t->nbytes; off += kWriteChunk) {
      const uint64_t n = std::min(kWriteChunk, t->nbytes - off);
      file->write(p + off, n);
      progress.done += n;
      progress.report(stage);
    }
  }
  if (file->bytes_written() != expected) {
    throw StatusError(Status::internal(path + ": wrote " + std::to_string(file->bytes_written()) +
                                       " bytes, expected " + std::to_string(expected)));
  }
  return file;
}

std::vector<const TensorToWrite*> pointers(const std::vector<TensorToWrite>& tensors) {
  std::vector<const TensorToWrite*> out;
  out.reserve(tensors.size());
  for (const auto& t : tensors) out.push_back(&t);
  return out;
}

std::string shard_name(size_t k, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", k, n);
  return buf;
}

}  // namespace

std::string safetensors_serialize(const std::vector<TensorToWrite>& tensors,
                                  const std::map<std::string, std::string>& metadata, const std::string& what) {
  const std::vector<const TensorToWrite*> ptrs = pointers(tensors);
  check_tensors(what, ptrs);
  const std::string text = header_text(what, ptrs, metadata);
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i)));
  out += text;
  for (const TensorToWrite* t : ptrs) out.append(static_cast<const char*>(t->data), t->nbytes);
  return out;
}

void safetensors_write(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const WriteProgress& progress) {
  ProgressState state{&progress, 0, 0};
  for (const auto& t : tensors) state.total += t.nbytes;
  auto file = write_uncommitted(path, pointers(tensors), metadata, state);
  file->commit();
  state.report("done");
}

void safetensors_write_sharded(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                               uint64_t max_shard_bytes,
                               const std::map<std::string, std::string>& metadata,
                               const WriteProgress& progress) {
  if (max_shard_bytes == 0) throw_invalid(dir + ": max_shard_bytes must be positive");
  if (!is_directory(dir)) throw_io(dir + ": not a directory");
  ProgressState state{&progress, 0, 0};
  std::vector<std::vector<const TensorToWrite*>> shards;
  uint64_t current = 0;
  for (const auto& t : tensors) {
    state.total += t.nbytes;
    if (shards.empty() || (!shards.back().empty() && current + t.nbytes > max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(&t);
    current += t.nbytes;
  }
  const std::string single = path_join(dir, kSingleName);
  const std::string index_path = path_join(dir, kIndexName);

  if (shards.size() <= 1) {
    if (file_exists(index_path)) {
      throw_invalid(dir + ": " + kIndexName + " already exists; write into an empty directory");
    }
    auto file = write_uncommitted(single, pointers(tensors), metadata, state);
    file->commit();
    state.report("done");
    return;
  }
  if (file_exists(single)) {
    throw_invalid(dir + ": " + kSingleName + " already exists and would shadow the shards; " +
                  "write into an empty directory");
  }
  check_tensors(dir, pointers(tensors));  // duplicate names across shards
  ensure_free_space(dir, state.total);

  json weight_map = json::object();
  std::vector<std::unique_ptr<AtomicFile>> pending;
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string name = shard_name(k + 1, shards.size());
    pending.push_back(write_uncommitted(path_join(dir, name), shards[k], metadata, state));
    for (const TensorToWrite* t : shards[k]) weight_map[t->name] = name;
  }
  json index = {{"metadata", {{"total_size", state.total}}}, {"weight_map", std::move(weight_map)}};
  std::string text;
  try {
    text = index.dump(2) + "\n";
  } catch (const json::exception& e) {
    throw_invalid(index_path + ": a tensor name is not valid UTF-8 (" + e.what() + ")");
  }
  AtomicFile index_file(index_path, text.size());
  index_file.write(text);
  for (auto& f : pending) f->commit();
  index_file.commit();
  state.report("done");
}

}  // namespace ostq
