// SPDX-License-Identifier: Apache-2.0
// GGUF streaming writer (see GgufWriter in gguf_format.h).
#include <algorithm>
#include <memory>

#include "core/io/gguf_format.h"
#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

namespace {

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_str(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}

std::string quoted(const std::string& s) { return "\"" + s.substr(0, 120) + "\""; }

}  // namespace

GgufWriter::GgufWriter(std::string path, uint32_t alignment) : path_(std::move(path)), alignment_(alignment) {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
    throw_invalid(path_ + ": GGUF alignment " + std::to_string(alignment_) + " is not a power of two");
  }
}

GgufWriter::~GgufWriter() = default;

void GgufWriter::add_kv(const std::string& key, GgufValue value) {
  if (file_) throw StatusError(Status::internal(path_ + ": GGUF key " + quoted(key) + " added after begin()"));
  if (key.empty()) throw_invalid(path_ + ": empty GGUF metadata key");
  for (const GgufKv& kv : kvs_) {
    if (kv.key == key) throw_invalid(path_ + ": duplicate GGUF metadata key " + quoted(key));
  }
  const bool array = value.type == GgufType::kArray;
  const GgufType elem = array ? value.array_type : value.type;
  const uint64_t n = array ? value.count : 1;
  const bool consistent = elem == GgufType::kString
                              ? (array ? value.strings.size() == n : true)
                              : elem != GgufType::kArray && value.bytes.size() == n * gguf_type_size(elem) &&
                                    gguf_type_size(elem) > 0;
  if (!consistent) throw StatusError(Status::internal(path_ + ": inconsistent GGUF value for " + quoted(key)));
  kvs_.push_back({key, std::move(value)});
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& torch_shape) {
  if (file_) throw StatusError(Status::internal(path_ + ": GGUF tensor " + quoted(name) + " added after begin()"));
  const std::string named = path_ + ": tensor " + quoted(name);
  if (name.empty() || name.size() > kGgufMaxName) {
    throw_invalid(named + ": GGUF tensor names have 1 to " + std::to_string(kGgufMaxName) + " bytes");
  }
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) throw_invalid(named + ": duplicate name");
  }
  if (torch_shape.empty() || torch_shape.size() > kGgufMaxDims) {
    throw_invalid(named + ": GGUF tensors have 1 to 4 dimensions");
  }
  GgufTensorInfo t;
  t.name = name;
  t.type = type;
  t.numel = 1;
  for (auto it = torch_shape.rbegin(); it != torch_shape.rend(); ++it) {
    if (*it <= 0) throw_invalid(named + ": non-positive dimension " + std::to_string(*it));
    t.dims.push_back(static_cast<uint64_t>(*it));
    t.numel *= static_cast<uint64_t>(*it);
  }
  if (t.dims[0] % ggml_block_size(type) != 0) {
    throw_invalid(named + ": " + ggml_type_name(type) + " needs the last axis (" + std::to_string(t.dims[0]) +
                  ") to be a multiple of " + std::to_string(ggml_block_size(type)));
  }
  t.nbytes = ggml_nbytes(type, t.numel);
  t.offset = data_bytes_;
  data_bytes_ += gguf_align_up(t.nbytes, alignment_);
  tensors_.push_back(std::move(t));
}

std::string GgufWriter::header_bytes() const {
  std::string out;
  put_u32(out, kGgufMagic);
  put_u32(out, kGgufVersion);
  put_u64(out, tensors_.size());
  put_u64(out, kvs_.size());
  for (const GgufKv& kv : kvs_) {
    put_str(out, kv.key);
    put_u32(out, static_cast<uint32_t>(kv.value.type));
    if (kv.value.type == GgufType::kString) {
      put_str(out, kv.value.str);
      continue;
    }
    if (kv.value.type == GgufType::kArray) {
      put_u32(out, static_cast<uint32_t>(kv.value.array_type));
      put_u64(out, kv.value.count);
      for (const std::string& s : kv.value.strings) put_str(out, s);
    }
    out.append(reinterpret_cast<const char*>(kv.value.bytes.data()), kv.value.bytes.size());
  }
  for (const GgufTensorInfo& t : tensors_) {
    put_str(out, t.name);
    put_u32(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put_u64(out, d);
    put_u32(out, static_cast<uint32_t>(t.type));
    put_u64(out, t.offset);
  }
  out.resize(gguf_align_up(out.size(), alignment_), '\0');
  return out;
}

uint64_t GgufWriter::file_size() const { return header_bytes().size() + data_bytes_; }

void GgufWriter::begin() {
  const std::string header = header_bytes();
  file_ = std::make_unique<AtomicFile>(path_, header.size() + data_bytes_);
  file_->write(header);
}

void GgufWriter::write_tensor(const void* data, uint64_t nbytes) {
  if (!file_ || next_tensor_ >= tensors_.size()) {
    throw StatusError(Status::internal(path_ + ": GGUF write_tensor without a declared tensor"));
  }
  const GgufTensorInfo& t = tensors_[next_tensor_++];
  if (nbytes != t.nbytes) {
    throw StatusError(Status::internal(path_ + ": tensor " + quoted(t.name) + " has " + std::to_string(nbytes) +
                                       " bytes, declared " + std::to_string(t.nbytes)));
  }
  file_->write(data, nbytes);
  static const char kZeros[256] = {};
  for (uint64_t pad = gguf_align_up(nbytes, alignment_) - nbytes; pad > 0;) {
    const uint64_t n = std::min<uint64_t>(pad, sizeof kZeros);
    file_->write(kZeros, n);
    pad -= n;
  }
}

void GgufWriter::commit() {
  if (!file_ || next_tensor_ != tensors_.size()) {
    throw StatusError(Status::internal(path_ + ": GGUF commit before every tensor was written"));
  }
  file_->commit();
}

}  // namespace ostq
