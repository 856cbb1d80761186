// SPDX-License-Identifier: Apache-2.0
// GGUF metadata values and the validating parser (Note [GGUF validation]). The writer is in
// gguf_writer.cpp, the block codecs in gguf_quants.cpp.
#include "core/io/gguf_format.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/util/status.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF numbers are stored little-endian");

namespace ostq {

namespace {

struct GgmlTypeEntry {
  GgmlType type;
  const char* name;
  uint64_t block;  // elements per block
  uint64_t bytes;  // bytes per block
};

constexpr GgmlTypeEntry kGgmlTypes[] = {
    {GgmlType::kF32, "F32", 1, 4},        {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", 32, 18},    {GgmlType::kQ4_1, "Q4_1", 32, 20},
    {GgmlType::kQ5_0, "Q5_0", 32, 22},    {GgmlType::kQ5_1, "Q5_1", 32, 24},
    {GgmlType::kQ8_0, "Q8_0", 32, 34},    {GgmlType::kBF16, "BF16", 1, 2},
};

const GgmlTypeEntry& ggml_entry(GgmlType t) {
  for (const auto& e : kGgmlTypes) {
    if (e.type == t) return e;
  }
  throw StatusError(Status::internal("invalid GgmlType " + std::to_string(static_cast<uint32_t>(t))));
}


template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One element of a numeric buffer as double / int64.
double element_double(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::kF32: return load<float>(p);
    case GgufType::kF64: return load<double>(p);
    case GgufType::kU64: return static_cast<double>(load<uint64_t>(p));
    default: break;
  }
  return 0.0;  // integers go through element_int
}

int64_t element_int(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::kU8: case GgufType::kBool: return load<uint8_t>(p);
    case GgufType::kI8: return load<int8_t>(p);
    case GgufType::kU16: return load<uint16_t>(p);
    case GgufType::kI16: return load<int16_t>(p);
    case GgufType::kU32: return load<uint32_t>(p);
    case GgufType::kI32: return load<int32_t>(p);
    case GgufType::kI64: return load<int64_t>(p);
    case GgufType::kU64: {
      const uint64_t v = load<uint64_t>(p);
      return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(v);
    }
    default: return 0;  // floats: see element_double
  }
}

bool type_is_int(GgufType t) { return gguf_type_size(t) > 0 && t != GgufType::kBool && t != GgufType::kF32 && t != GgufType::kF64; }

template <typename T>
GgufValue numeric(GgufType type, const T* v, size_t n, bool array) {
  GgufValue out;
  out.type = array ? GgufType::kArray : type;
  out.array_type = array ? type : GgufType::kU8;
  out.count = array ? n : 1;
  out.bytes.resize(n * sizeof(T));
  if (n > 0) std::memcpy(out.bytes.data(), v, n * sizeof(T));
  return out;
}

std::string quoted(std::string_view s) {
  constexpr size_t kMax = 120;
  return "\"" + std::string(s.substr(0, kMax)) + (s.size() > kMax ? "…\"" : "\"");
}

// Bounds-checked little-endian reads over the file; every failure names the file and offset.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& file) : data_(data), size_(size), file_(file) {}
  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }
  [[noreturn]] void fail(const std::string& what) const { throw_invalid(file_ + ": " + what); }
  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > remaining()) {
      fail(what + " at byte " + std::to_string(pos_) + " needs " + std::to_string(n) + " bytes but only " +
           std::to_string(remaining()) + " remain (file truncated?)");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint32_t u32(const std::string& what) { return load<uint32_t>(take(4, what)); }
  uint64_t u64(const std::string& what) { return load<uint64_t>(take(8, what)); }
  std::string str(const std::string& what) {
    const uint64_t n = u64(what + " length");
    const uint8_t* p = take(n, what + " (" + std::to_string(n) + " bytes)");
    return std::string(reinterpret_cast<const char*>(p), n);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

GgufType check_value_type(Cursor& c, uint32_t raw, const std::string& where) {
  if (raw > static_cast<uint32_t>(GgufType::kF64)) c.fail(where + " has unknown value type " + std::to_string(raw));
  return static_cast<GgufType>(raw);
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& where) {
  GgufValue v;
  v.type = type;
  if (type == GgufType::kString) {
    v.str = c.str(where + " string");
    return v;
  }
  if (type != GgufType::kArray) {
    const size_t n = gguf_type_size(type);
    const uint8_t* p = c.take(n, where + " value");
    v.bytes.assign(p, p + n);
    return v;
  }
  v.array_type = check_value_type(c, c.u32(where + " array type"), where + " array");
  if (v.array_type == GgufType::kArray) c.fail(where + " is an array of arrays (not supported by llama.cpp)");
  v.count = c.u64(where + " array length");
  // Every element takes at least 8 bytes (a string's length) or its scalar size: check the count
  // against the bytes left before allocating anything.
  const uint64_t min_elem = v.array_type == GgufType::kString ? 8 : gguf_type_size(v.array_type);
  if (v.count > c.remaining() / min_elem) {
    c.fail(where + " array length " + std::to_string(v.count) + " cannot fit in the " +
           std::to_string(c.remaining()) + " bytes left in the file (truncated or corrupt)");
  }
  if (v.array_type == GgufType::kString) {
    v.strings.reserve(v.count);
    for (uint64_t i = 0; i < v.count; ++i) v.strings.push_back(c.str(where + " element " + std::to_string(i)));
  } else {
    const uint8_t* p = c.take(v.count * min_elem, where + " array data");
    v.bytes.assign(p, p + v.count * min_elem);
  }
  return v;
}

GgufTensorInfo read_tensor_info(Cursor& c, uint64_t index) {
  GgufTensorInfo t;
  t.name = c.str("tensor info " + std::to_string(index) + " name");
  const std::string named = "tensor " + quoted(t.name);
  if (t.name.size() > kGgufMaxName) c.fail(named + ": name longer than " + std::to_string(kGgufMaxName) + " bytes");
  const uint32_t n_dims = c.u32(named + " n_dims");
  if (n_dims > kGgufMaxDims) {
    c.fail(named + ": n_dims " + std::to_string(n_dims) + " exceeds " + std::to_string(kGgufMaxDims));
  }
  t.numel = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    const uint64_t d = c.u64(named + " dims");
    if (d == 0) c.fail(named + ": dimension " + std::to_string(i) + " is 0");
    if (__builtin_mul_overflow(t.numel, d, &t.numel) ||
        t.numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      c.fail(named + ": element count overflows 64 bits");
    }
    t.dims.push_back(d);
  }
  const uint32_t raw = c.u32(named + " type");
  if (!ggml_type_known(raw)) {
    throw_unsupported(c.file() + ": " + named + " has unknown or unsupported ggml type " + std::to_string(raw));
  }
  t.type = static_cast<GgmlType>(raw);
  const uint64_t block = ggml_block_size(t.type);
  if (t.dims.empty() ? block != 1 : t.dims[0] % block != 0) {
    c.fail(named + ": dims[0] = " + std::to_string(t.dims.empty() ? 1 : t.dims[0]) + " is not a multiple of the " +
           ggml_type_name(t.type) + " block size " + std::to_string(block));
  }
  t.nbytes = ggml_nbytes(t.type, t.numel);
  t.offset = c.u64(named + " offset");
  return t;
}

uint32_t alignment_of(const GgufHeader& h, const std::string& file) {
  const GgufValue* v = h.find("general.alignment");
  if (v == nullptr) return kGgufDefaultAlignment;
  if (v->type != GgufType::kU32) {
    throw_invalid(file + ": general.alignment has type " + gguf_type_name(v->type) + ", expected U32");
  }
  const auto a = static_cast<uint32_t>(v->as_int());
  if (a == 0 || (a & (a - 1)) != 0) {
    throw_invalid(file + ": general.alignment " + std::to_string(a) + " is not a power of two");
  }
  return a;
}

}  // namespace

// ---- Types and values ----

const char* gguf_type_name(GgufType t) {
  static const char* const kNames[] = {"U8",  "I8",     "U16",   "I16", "U32", "I32", "F32",
                                       "BOOL", "STRING", "ARRAY", "U64", "I64", "F64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? kNames[i] : "?";
}

size_t gguf_type_size(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

const char* ggml_type_name(GgmlType t) { return ggml_entry(t).name; }
uint64_t ggml_block_size(GgmlType t) { return ggml_entry(t).block; }
uint64_t ggml_block_bytes(GgmlType t) { return ggml_entry(t).bytes; }
uint64_t ggml_nbytes(GgmlType t, uint64_t numel) {
  const GgmlTypeEntry& e = ggml_entry(t);
  return numel / e.block * e.bytes;
}

bool ggml_type_known(uint32_t raw) {
  for (const auto& e : kGgmlTypes) {
    if (static_cast<uint32_t>(e.type) == raw) return true;
  }
  return false;
}

GgufValue GgufValue::u32(uint32_t v) { return numeric(GgufType::kU32, &v, 1, false); }
GgufValue GgufValue::i32(int32_t v) { return numeric(GgufType::kI32, &v, 1, false); }
GgufValue GgufValue::u64(uint64_t v) { return numeric(GgufType::kU64, &v, 1, false); }
GgufValue GgufValue::f32(float v) { return numeric(GgufType::kF32, &v, 1, false); }
GgufValue GgufValue::f64(double v) { return numeric(GgufType::kF64, &v, 1, false); }
GgufValue GgufValue::boolean(bool v) {
  const uint8_t b = v ? 1 : 0;
  return numeric(GgufType::kBool, &b, 1, false);
}
GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type = GgufType::kString;
  out.str = std::move(v);
  return out;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.array_type = GgufType::kString;
  out.count = v.size();
  out.strings = std::move(v);
  return out;
}
GgufValue GgufValue::f32_array(const std::vector<float>& v) { return numeric(GgufType::kF32, v.data(), v.size(), true); }
GgufValue GgufValue::i32_array(const std::vector<int32_t>& v) { return numeric(GgufType::kI32, v.data(), v.size(), true); }

bool GgufValue::is_integer() const { return type_is_int(type); }
bool GgufValue::is_number() const { return is_integer() || type == GgufType::kF32 || type == GgufType::kF64; }
int64_t GgufValue::as_int() const { return is_integer() && bytes.size() >= gguf_type_size(type) ? element_int(type, bytes.data()) : 0; }
double GgufValue::as_double() const {
  if (!is_number() || bytes.size() < gguf_type_size(type)) return 0.0;
  return is_integer() && type != GgufType::kU64 ? static_cast<double>(element_int(type, bytes.data()))
                                                : element_double(type, bytes.data());
}
bool GgufValue::as_bool() const { return type == GgufType::kBool && !bytes.empty() && bytes[0] != 0; }

std::vector<double> GgufValue::array_as_double() const {
  std::vector<double> out;
  const size_t n = gguf_type_size(array_type);
  if (type != GgufType::kArray || n == 0 || array_type == GgufType::kBool) return out;
  for (size_t i = 0; i + n <= bytes.size(); i += n) {
    out.push_back(type_is_int(array_type) && array_type != GgufType::kU64
                      ? static_cast<double>(element_int(array_type, bytes.data() + i))
                      : element_double(array_type, bytes.data() + i));
  }
  return out;
}

std::vector<int64_t> GgufValue::array_as_int() const {
  std::vector<int64_t> out;
  const size_t n = gguf_type_size(array_type);
  if (type != GgufType::kArray || !type_is_int(array_type)) return out;
  for (size_t i = 0; i + n <= bytes.size(); i += n) out.push_back(element_int(array_type, bytes.data() + i));
  return out;
}

std::vector<int64_t> GgufTensorInfo::torch_shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

// ---- Parser ----

const GgufValue* GgufHeader::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kvs[it->second].value;
}

const GgufTensorInfo* GgufHeader::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

void GgufHeader::rebuild_index() {
  kv_index_.clear();
  tensor_index_.clear();
  for (size_t i = 0; i < kvs.size(); ++i) kv_index_.emplace(kvs[i].key, i);
  for (size_t i = 0; i < tensors.size(); ++i) tensor_index_.emplace(tensors[i].name, i);
}

GgufHeader gguf_parse(const uint8_t* data, size_t size, const std::string& file_name) {
  const std::string& file = file_name;
  Cursor c(data, size, file);
  if (size < 4 || load<uint32_t>(data) != kGgufMagic) {
    c.fail("not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  c.take(4, "magic");
  GgufHeader h;
  h.version = c.u32("version");
  if (h.version != 2 && h.version != 3) {
    throw_unsupported(file + ": GGUF version " + std::to_string(h.version) + " (versions 2 and 3 are supported)");
  }
  const uint64_t n_tensors = c.u64("tensor count");
  const uint64_t n_kv = c.u64("metadata count");
  // A key-value takes at least 8 + 4 + 1 bytes, a tensor info at least 8 + 4 + 4 + 8.
  if (n_kv > c.remaining() / 13) {
    c.fail("metadata count " + std::to_string(n_kv) + " cannot fit in a " + std::to_string(size) + "-byte file");
  }
  if (n_tensors > c.remaining() / 24) {
    c.fail("tensor count " + std::to_string(n_tensors) + " cannot fit in a " + std::to_string(size) + "-byte file");
  }
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    kv.key = c.str("metadata key " + std::to_string(i));
    const std::string where = "metadata " + quoted(kv.key);
    if (kv.key.empty()) c.fail("metadata key " + std::to_string(i) + " is empty");
    const GgufType t = check_value_type(c, c.u32(where + " type"), where);
    kv.value = read_value(c, t, where);
    h.kvs.push_back(std::move(kv));
  }
  for (uint64_t i = 0; i < n_tensors; ++i) h.tensors.push_back(read_tensor_info(c, i));
  h.rebuild_index();
  for (const GgufKv& kv : h.kvs) {
    if (h.find(kv.key) != &kv.value) c.fail("duplicate metadata key " + quoted(kv.key));
  }
  for (const GgufTensorInfo& t : h.tensors) {
    if (h.find_tensor(t.name) != &t) c.fail("duplicate tensor " + quoted(t.name));
  }

  h.alignment = alignment_of(h, file);
  h.data_start = gguf_align_up(c.pos(), h.alignment);
  if (h.data_start > size) {
    c.fail("the tensor data section would start at byte " + std::to_string(h.data_start) + ", past the end of the " +
           std::to_string(size) + "-byte file (truncated?)");
  }
  const uint64_t data_len = size - h.data_start;
  std::vector<const GgufTensorInfo*> sorted;
  for (GgufTensorInfo& t : h.tensors) {
    const std::string named = "tensor " + quoted(t.name);
    if (t.offset % h.alignment != 0) {
      c.fail(named + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(h.alignment));
    }
    if (t.offset > data_len || t.nbytes > data_len - t.offset) {
      c.fail(named + " (" + ggml_type_name(t.type) + ", " + std::to_string(t.nbytes) + " bytes at data offset " +
             std::to_string(t.offset) + ") runs past the end of the file (data section is " +
             std::to_string(data_len) + " bytes; truncated?)");
    }
    t.offset += h.data_start;
    sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->offset < sorted[i - 1]->offset + sorted[i - 1]->nbytes) {
      c.fail("tensors " + quoted(sorted[i - 1]->name) + " and " + quoted(sorted[i]->name) + " overlap");
    }
  }
  return h;
}

}  // namespace ostq
