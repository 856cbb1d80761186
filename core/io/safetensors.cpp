// SPDX-License-Identifier: Apache-2.0
// safetensors reader (validation per Note [safetensors validation]), directory store and writer.
#include "core/io/safetensors.h"
#include "core/io/safetensors_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

using namespace safetensors_detail;

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // same bound as the reference reader

const char* json_type(const json& j) {
  if (j.is_number_unsigned() || j.is_number_integer()) return "integer";
  return j.type_name();
}

// Parses JSON text and reports a duplicate key of the top-level object (nlohmann keeps only the
// last one silently). Throws "<file>: <problem>" on any syntax error.
json parse_json_object(std::string_view text, const std::string& file, const char* what,
                       bool reject_duplicate_keys) {
  std::string duplicate;
  std::unordered_set<std::string> seen;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (reject_duplicate_keys && ev == json::parse_event_t::key && depth == 1 &&
        duplicate.empty() && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  // nlohmann treats a NUL byte as the end of input and would ignore whatever follows it.
  if (text.find('\0') != std::string_view::npos) {
    throw_invalid(file + ": " + what + " is not valid JSON (contains a NUL byte)");
  }
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    throw_invalid(file + ": " + what + " is not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw_invalid(file + ": " + what + " is not a JSON object");
  if (!duplicate.empty())
    throw_invalid(file + ": duplicate entry " + quote_name(duplicate) + " in " + what);
  return j;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

TensorInfo parse_entry(const std::string& name, const json& e, uint64_t data_start,
                       uint64_t buffer_len, const std::string& file) {
  const std::string where = file + ": tensor " + quote_name(name);
  auto fail = [&](const std::string& m) { throw_invalid(where + ": " + m); };
  if (!e.is_object()) fail(std::string("entry is a JSON ") + json_type(e) + ", expected an object");

  TensorInfo t;
  t.name = name;
  auto it = e.find("dtype");
  if (it == e.end()) fail("missing \"dtype\"");
  if (!it->is_string())
    fail(std::string("\"dtype\" is a JSON ") + json_type(*it) + ", expected a string");
  t.dtype = dtype_from_name(it->get_ref<const std::string&>(), where);

  it = e.find("shape");
  if (it == e.end()) fail("missing \"shape\"");
  if (!it->is_array())
    fail(std::string("\"shape\" is a JSON ") + json_type(*it) + ", expected an array");
  for (const auto& d : *it) {
    if (d.is_number_integer() && !d.is_number_unsigned()) {
      fail("negative dimension " + std::to_string(d.get<int64_t>()) + " in \"shape\"");
    }
    if (!d.is_number_unsigned()) fail("\"shape\" entries must be non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail("dimension too large");
    t.shape.push_back(static_cast<int64_t>(v));
  }
  uint64_t numel = 0;
  uint64_t expected = 0;
  shape_sizes(t.shape, t.dtype, &numel, &expected, fail);

  it = e.find("data_offsets");
  if (it == e.end()) fail("missing \"data_offsets\"");
  if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
      !(*it)[1].is_number_unsigned()) {
    fail("\"data_offsets\" must be [begin, end] with non-negative integers");
  }
  const uint64_t begin = (*it)[0].get<uint64_t>();
  const uint64_t end = (*it)[1].get<uint64_t>();
  if (end < begin) {
    fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
         "] end before begin");
  }
  if (end > buffer_len) {
    fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
         "] run past the end of the data buffer (" + std::to_string(buffer_len) +
         " bytes; file truncated?)");
  }
  if (end - begin != expected) {
    fail("data_offsets span " + std::to_string(end - begin) + " bytes but " + dtype_name(t.dtype) +
         " shape needs " + std::to_string(numel) + " × " + std::to_string(dtype_size(t.dtype)) +
         " = " + std::to_string(expected) + " bytes");
  }
  t.data_offset = data_start + begin;
  t.nbytes = expected;
  return t;
}

// See Note [safetensors validation]: sorted by offset, tensors must tile [0, buffer_len) exactly.
void check_tiling(const std::vector<TensorInfo>& sorted, uint64_t data_start, uint64_t buffer_len,
                  const std::string& file) {
  uint64_t pos = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : sorted) {
    const uint64_t begin = t.data_offset - data_start;
    if (begin < pos) {
      throw_invalid(file + ": tensors " + quote_name(prev->name) + " and " + quote_name(t.name) +
                    " overlap (bytes " + std::to_string(begin) + ".." + std::to_string(pos) +
                    " of the data buffer)");
    }
    if (begin > pos) {
      throw_invalid(file + ": " + std::to_string(begin - pos) + " unused bytes before tensor " +
                    quote_name(t.name) + " at data offset " + std::to_string(pos) +
                    " (tensors must cover the data buffer without holes)");
    }
    pos = begin + t.nbytes;
    if (t.nbytes > 0) prev = &t;  // the tensor ending at pos (begin < pos implies one exists)
  }
  if (pos != buffer_len) {
    throw_invalid(file + ": " + std::to_string(buffer_len - pos) +
                  " unused bytes after the last tensor (data buffer is " +
                  std::to_string(buffer_len) + " bytes, tensors end at " + std::to_string(pos) +
                  ")");
  }
}

}  // namespace

// ---- Header ----

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorInfo* SafetensorsHeader::find(std::string_view name) const {
  if (index_.size() == tensors.size()) {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors[it->second];
  }
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void SafetensorsHeader::rebuild_index() {
  index_.clear();
  for (size_t i = 0; i < tensors.size(); ++i) index_.emplace(tensors[i].name, i);
}

SafetensorsHeader safetensors_parse(const uint8_t* data, size_t file_size,
                                    const std::string& file_name) {
  const std::string& file = file_name;
  if (file_size < 8) {
    throw_invalid(file + ": file too small for a safetensors header (" + std::to_string(file_size) +
                  " bytes, need at least 8)");
  }
  const uint64_t n = read_u64_le(data);
  if (n > kMaxHeaderBytes) {
    throw_invalid(file + ": header length " + std::to_string(n) +
                  " exceeds the 100 MB limit (not a safetensors file?)");
  }
  if (n > file_size - 8) {
    throw_invalid(file + ": header length " + std::to_string(n) + " exceeds the file size (" +
                  std::to_string(file_size) + " bytes; truncated file?)");
  }
  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t buffer_len = file_size - h.data_start;
  const std::string_view text(reinterpret_cast<const char*>(data + 8), n);
  const json j = parse_json_object(text, file, "header", /*reject_duplicate_keys=*/true);

  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw_invalid(file + ": \"__metadata__\" is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          throw_invalid(file + ": \"__metadata__\" value for " + quote_name(mk) + " is a JSON " +
                        json_type(mv) + ", expected a string");
        }
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    h.tensors.push_back(parse_entry(key, value, h.data_start, buffer_len, file));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.data_offset != b.data_offset) return a.data_offset < b.data_offset;
    return a.nbytes < b.nbytes;  // an empty tensor sorts before a full one at the same offset
  });
  check_tiling(h.tensors, h.data_start, buffer_len, file);
  h.rebuild_index();
  return h;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  auto map = MappedFile::open(path);
  SafetensorsHeader header = safetensors_parse(map->data(), map->size(), path);
  return SafetensorsFile(std::move(map), std::move(header));
}

// ---- Index and store ----

SafetensorsIndex safetensors_index_parse(std::string_view json_text, const std::string& file_name) {
  const std::string& file = file_name;
  const json j = parse_json_object(json_text, file, "index", /*reject_duplicate_keys=*/false);
  SafetensorsIndex index;
  auto meta = j.find("metadata");
  if (meta != j.end() && meta->is_object()) {
    auto ts = meta->find("total_size");
    if (ts != meta->end() && ts->is_number_unsigned()) index.total_size = ts->get<uint64_t>();
  }
  auto wm = j.find("weight_map");
  if (wm == j.end()) throw_invalid(file + ": missing \"weight_map\"");
  if (!wm->is_object()) {
    throw_invalid(file + ": \"weight_map\" is a JSON " + json_type(*wm) + ", expected an object");
  }
  if (wm->empty()) throw_invalid(file + ": \"weight_map\" is empty");
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string()) {
      throw_invalid(file + ": weight_map entry for " + quote_name(name) + " is a JSON " +
                    json_type(shard) + ", expected a shard file name");
    }
    const auto& s = shard.get_ref<const std::string&>();
    if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos ||
        s.find('\0') != std::string::npos) {
      throw_invalid(file + ": weight_map entry for " + quote_name(name) + " names shard " +
                    quote_name(s) + ", which is not a plain file name");
    }
    index.weight_map.emplace(name, s);
  }
  return index;
}

TensorLocation SafetensorsStore::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? TensorLocation{} : it->second;
}

std::vector<std::string> SafetensorsStore::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& f : files_) {
    for (const auto& t : f->header().tensors) out.push_back(t.name);
  }
  return out;
}

uint64_t SafetensorsStore::total_bytes() const {
  uint64_t sum = 0;
  for (const auto& f : files_) {
    for (const auto& t : f->header().tensors) sum += t.nbytes;
  }
  return sum;
}

void SafetensorsStore::add_file(SafetensorsFile file) {
  files_.push_back(std::make_unique<SafetensorsFile>(std::move(file)));
  const SafetensorsFile* f = files_.back().get();
  for (const auto& t : f->header().tensors) {
    auto [it, inserted] = index_.emplace(t.name, TensorLocation{f, &t});
    if (!inserted) {
      throw_invalid(f->path() + ": tensor " + quote_name(t.name) + " also appears in " +
                    it->second.file->path());
    }
  }
}

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> list_files(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (it->is_regular_file(ec2)) names.push_back(it->path().filename().string());
  }
  if (ec) throw_io(dir + ": cannot list directory: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

SafetensorsStore SafetensorsStore::open_dir(const std::string& dir) {
  if (!is_directory(dir)) throw_io(dir + ": not a directory");
  SafetensorsStore store;
  store.dir_ = dir;
  const std::string single = path_join(dir, kSingleName);
  const std::string index_path = path_join(dir, kIndexName);

  if (file_exists(single)) {
    store.add_file(SafetensorsFile::open(single));
    return store;
  }

  if (file_exists(index_path)) {
    const SafetensorsIndex index = safetensors_index_parse(read_file(index_path), index_path);
    std::set<std::string> shards;
    for (const auto& [name, shard] : index.weight_map) shards.insert(shard);
    for (const auto& shard : shards) {
      const std::string p = path_join(dir, shard);
      if (!file_exists(p)) {
        throw_invalid(index_path + ": shard " + quote_name(shard) +
                      " listed in weight_map does not exist (" + p + ")");
      }
    }
    for (const auto& shard : shards) {
      // Opening each shard registers its tensors; a name stored in two shards fails here.
      store.add_file(SafetensorsFile::open(path_join(dir, shard)));
    }
    for (const auto& [name, shard] : index.weight_map) {
      const TensorLocation loc = store.find(name);
      if (!loc) {
        throw_invalid(index_path + ": tensor " + quote_name(name) + " is mapped to shard " +
                      quote_name(shard) + ", which does not contain it");
      }
      const std::string actual = path_filename(loc.file->path());
      if (actual != shard) {
        throw_invalid(index_path + ": tensor " + quote_name(name) + " is mapped to shard " +
                      quote_name(shard) + " but is stored in " + quote_name(actual));
      }
    }
    for (const auto& f : store.files_) {
      for (const auto& t : f->header().tensors) {
        if (index.weight_map.count(t.name) == 0) {
          throw_invalid(f->path() + ": tensor " + quote_name(t.name) + " is not listed in " +
                        index_path);
        }
      }
    }
    return store;
  }

  const std::vector<std::string> files = list_files(dir);
  std::vector<std::string> st;
  std::vector<std::string> pickles;
  for (const auto& f : files) {
    if (ends_with(f, ".safetensors")) st.push_back(f);
    // Not every *.bin is a pickle: llama2.c's tokenizer.bin is not.
    if ((f.rfind("pytorch_model", 0) == 0 && ends_with(f, ".bin")) || ends_with(f, ".pt") ||
        ends_with(f, ".pth") || f == "pytorch_model.bin.index.json") {
      pickles.push_back(f);
    }
  }
  if (st.size() == 1) {
    store.add_file(SafetensorsFile::open(path_join(dir, st[0])));
    return store;
  }
  if (st.size() > 1) {
    throw_invalid(dir + ": " + std::to_string(st.size()) + " .safetensors files (" + st[0] + ", " +
                  st[1] + ", …) but no " + kIndexName + " to say which tensor is where");
  }
  if (!pickles.empty()) {
    throw_unsupported(dir + ": only PyTorch pickle checkpoints found (" + pickles[0] +
                      "); pickle files are not loaded. Convert the model to safetensors, e.g. "
                      "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, "
                      "safe_serialization=True) in Python");
  }
  throw_invalid(dir + ": no model weights found (expected " + kSingleName + " or " + kIndexName +
                ")");
}

}  // namespace ostq
