// SPDX-License-Identifier: Apache-2.0
// GGUF v3 (FORMATS.md §6.3), the file format of llama.cpp: metadata values, a streaming writer, a
// validating parser, and the Q4_0 / Q4_1 / Q8_0 block codecs. Torch-free (the parser is fuzzed).
//
// Note [GGUF validation]: gguf_parse rejects, naming the file and the problem: a wrong magic; a
// version other than 2 or 3 (Unsupported; v2 has the v3 layout); any count, string length or
// array length that would run past the end of the file (checked before anything is allocated);
// value types outside 0…12 and arrays of arrays; duplicate keys or tensor names; a tensor name
// longer than 63 bytes; n_dims > 4; a zero or overflowing dimension product; unknown ggml types
// (Unsupported); dims[0] not a multiple of the type's block size; offsets that are not multiples of
// general.alignment (which must be a power of two, U32) or that make tensors overlap or run past
// the end of the file. Holes between tensors are allowed (the format pads to the alignment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ostq {

class AtomicFile;

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr size_t kGgufMaxName = 63;           // GGML_MAX_NAME (64) minus the terminator
inline constexpr uint32_t kGgufMaxDims = 4;

// Metadata value types (the uint32 stored before each value).
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);  // "U32", "STRING", "ARRAY", …
size_t gguf_type_size(GgufType t);       // bytes of one number / BOOL; 0 for STRING and ARRAY
inline uint64_t gguf_align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// ggml tensor types this code knows the block layout of.
enum class GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kBF16 = 30,
};
const char* ggml_type_name(GgmlType t);     // "F32", "Q4_0", …
bool ggml_type_known(uint32_t raw);          // one of the GgmlType values
uint64_t ggml_block_size(GgmlType t);        // elements per block (1 for F32/F16/BF16, 32 for Q*)
uint64_t ggml_block_bytes(GgmlType t);       // bytes per block
// Bytes of `numel` elements; numel must be a multiple of the block size.
uint64_t ggml_nbytes(GgmlType t, uint64_t numel);

// One metadata value. Numbers (scalars and numeric arrays) are kept as their stored little-endian
// bytes so every type round-trips exactly; use the accessors to read them.
struct GgufValue {
  GgufType type = GgufType::kU32;
  GgufType array_type = GgufType::kU8;  // element type when type == kArray
  uint64_t count = 1;                   // array length; 1 for a scalar
  std::string str;                      // kString
  std::vector<std::string> strings;     // kArray of kString
  std::vector<uint8_t> bytes;           // a number, or a numeric array's elements

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue i32_array(const std::vector<int32_t>& v);

  bool is_integer() const;  // scalar U8…I64 (BOOL excluded)
  bool is_number() const;   // is_integer() or F32 / F64
  // Scalar accessors; the caller checks the type first (see gguf_get_* in the exporter).
  int64_t as_int() const;    // integer types (U64 above INT64_MAX saturates)
  double as_double() const;  // any number
  bool as_bool() const;      // kBool
  // Array elements as double (numeric arrays) / int64 (integer arrays); empty otherwise.
  std::vector<double> array_as_double() const;
  std::vector<int64_t> array_as_int() const;
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is contiguous (reversed PyTorch shape)
  uint64_t offset = 0;         // absolute byte offset in the file
  uint64_t numel = 0;
  uint64_t nbytes = 0;
  std::vector<int64_t> torch_shape() const;  // dims reversed
};

struct GgufHeader {
  uint32_t version = kGgufVersion;
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_start = 0;             // absolute offset of the tensor data section
  std::vector<GgufKv> kvs;             // file order
  std::vector<GgufTensorInfo> tensors; // file order
  const GgufValue* find(std::string_view key) const;  // nullptr when absent
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Called by gguf_parse; again after editing kvs / tensors by hand.
  void rebuild_index();

 private:
  std::unordered_map<std::string, size_t> kv_index_, tensor_index_;
};

// Parses and validates the whole file data[0..size) (see Note [GGUF validation]). Throws
// StatusError "<file_name>: <problem>" (invalid input, or unsupported for versions and types).
GgufHeader gguf_parse(const uint8_t* data, size_t size, const std::string& file_name);

// Streams a GGUF v3 file: declare every key and tensor, then begin() writes the header and the
// tensor data follow in declaration order through write_tensor(); commit() renames the file into
// place (AtomicFile: nothing is left at `path` on failure). Errors throw StatusError naming path.
class GgufWriter {
 public:
  explicit GgufWriter(std::string path, uint32_t alignment = kGgufDefaultAlignment);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  void add_kv(const std::string& key, GgufValue value);
  // torch_shape is the PyTorch shape ([out, in] for a linear); its last axis must be a multiple
  // of the type's block size.
  void add_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& torch_shape);
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // Size of the complete file (header, padding, data); known once everything is declared.
  uint64_t file_size() const;
  // Checks free space for file_size() and writes everything before the tensor data.
  void begin();
  // The bytes of the next tensor (exactly tensors()[k].nbytes), followed by alignment padding.
  void write_tensor(const void* data, uint64_t nbytes);
  void commit();

 private:
  std::string header_bytes() const;
  std::string path_;
  uint32_t alignment_;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;  // offsets relative to the data section until begin()
  uint64_t data_bytes_ = 0;
  size_t next_tensor_ = 0;
  std::unique_ptr<AtomicFile> file_;
};

// ---- Block codecs (FORMATS.md §6.3; gguf_quants.cpp). Blocks hold 32 weights, as in ggml. ----

inline constexpr int kGgmlQK = 32;
inline constexpr size_t kQ4_0Bytes = 18;  // { fp16 d; uint8 qs[16]; }
inline constexpr size_t kQ4_1Bytes = 20;  // { fp16 d; fp16 m; uint8 qs[16]; }
inline constexpr size_t kQ8_0Bytes = 34;  // { fp16 d; int8 qs[32]; }

// Lossless transcodes of integer codes on one scale per block (only d and m are rounded to fp16).
// codes[32]: Q4_0 signed in [−8, 7] (nibble = c + 8); Q4_1 unsigned in [0, 15] with
// x = scale·(c − zero) stored as d = scale, m = −scale·zero; Q8_0 signed in [−128, 127].
// Low nibble of qs[j] = element j, high nibble = element j + 16. Throws internal on a code out of range.
void q4_0_pack(const int8_t* codes, float scale, uint8_t* block);
void q4_1_pack(const int8_t* codes, float scale, float zero, uint8_t* block);
void q8_0_pack(const int8_t* codes, float scale, uint8_t* block);

// ggml's reference quantizers (quantize_row_*_ref): x[n] fp32 → n/32 blocks. n % 32 == 0.
void q4_0_quantize(const float* x, uint8_t* blocks, int64_t n);
void q4_1_quantize(const float* x, uint8_t* blocks, int64_t n);
void q8_0_quantize(const float* x, uint8_t* blocks, int64_t n);

// src holds `numel` elements of `type` (F32, F16, BF16, Q4_0, Q4_1, Q8_0; need not be aligned)
// → dst[numel] fp32. Throws StatusError(unsupported) for other types.
void ggml_dequantize(GgmlType type, const uint8_t* src, float* dst, uint64_t numel);

}  // namespace ostq
