// SPDX-License-Identifier: Apache-2.0
// DType names and sizes, and the bit-exact fp16/bf16 conversions (see Note [half conversions]).
#include "core/io/dtype.h"

#include <cstring>

#include "core/util/status.h"

namespace ostq {

namespace {

struct DTypeEntry {
  DType type;
  const char* name;
  const char* torch_name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", "float64", 8}, {DType::kF32, "F32", "float32", 4},
    {DType::kF16, "F16", "float16", 2}, {DType::kBF16, "BF16", "bfloat16", 2},
    {DType::kI64, "I64", "int64", 8},   {DType::kI32, "I32", "int32", 4},
    {DType::kI16, "I16", "int16", 2},   {DType::kI8, "I8", "int8", 1},
    {DType::kU8, "U8", "uint8", 1},     {DType::kBool, "BOOL", "bool", 1},
    {DType::kU16, "U16", "uint16", 2},  {DType::kU32, "U32", "uint32", 4},
    {DType::kU64, "U64", "uint64", 8},
};

const DTypeEntry& entry(DType t) {
  for (const auto& e : kDTypes) {
    if (e.type == t) return e;
  }
  throw StatusError(Status::internal("invalid DType value " + std::to_string(static_cast<int>(t))));
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
void convert_loop(const uint8_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<T>(src + i * sizeof(T)));
}

}  // namespace

size_t dtype_size(DType t) { return entry(t).size; }
const char* dtype_name(DType t) { return entry(t).name; }
const char* dtype_torch_name(DType t) { return entry(t).torch_name; }

bool dtype_is_float(DType t) {
  return t == DType::kF64 || t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

std::optional<DType> dtype_try_from_name(std::string_view name) {
  for (const auto& e : kDTypes) {
    if (name == e.name) return e.type;
  }
  return std::nullopt;
}

DType dtype_from_name(std::string_view name, const std::string& what) {
  if (auto t = dtype_try_from_name(name)) return *t;
  std::string supported;
  for (const auto& e : kDTypes) supported += std::string(supported.empty() ? "" : " ") + e.name;
  std::string shown(name.substr(0, 64));
  // Types the safetensors spec defines but this tool does not handle (F8_E4M3, F8_E5M2, F6_*, …).
  const bool known = name.rfind("F8", 0) == 0 || name.rfind("F6", 0) == 0 || name == "F4" ||
                     name == "E8M0" || name == "C64";
  if (known) {
    throw_unsupported(
        what + ": dtype " + shown +
        " (8-bit or smaller float / complex) is not supported; supported dtypes: " + supported);
  }
  throw_unsupported(what + ": unknown dtype \"" + shown + "\"; supported dtypes: " + supported);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN, payload kept
  if (exp == 0) {
    if (mant == 0) return bits_float(sign);  // ±0
    // Subnormal m·2^-24: shift until the implicit bit appears, lowering the exponent.
    exp = 1;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    mant &= 0x3ffu;
  }
  // Rebias 15 → 127. exp may be ≤ 0 here for subnormals; unsigned wrap cancels out in the sum.
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // inf or NaN
    if (x == 0x7f800000u) return sign | 0x7c00u;
    uint32_t m = (x >> 13) & 0x3ffu;
    if (m == 0) m = 0x200u;  // keep it a NaN
    return static_cast<uint16_t>(sign | 0x7c00u | m);
  }
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // ≥ 65520 (halfway above 65504) rounds to inf
  if (x < 0x38800000u) {                        // below 2^-14: fp16 subnormal or zero
    if (x < 0x33000000u) return sign;           // ≤ 2^-25 (a tie with 0 rounds to even 0)
    const uint32_t e = x >> 23;                 // 102 … 112
    const uint32_t m = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // value in units of 2^-24 is m >> shift
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;  // may carry into the smallest normal
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = x - 0x38000000u;  // rebias 127 → 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

float bf16_to_fp32(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN: truncate, but never into inf
    uint16_t r = static_cast<uint16_t>(x >> 16);
    if ((r & 0x7fu) == 0) r |= 0x40u;
    return r;
  }
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void convert_to_fp32(const void* src, DType type, float* dst, size_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  switch (type) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, s, n * sizeof(float));
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load<uint16_t>(s + 2 * i));
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load<uint16_t>(s + 2 * i));
      return;
    case DType::kF64:
      convert_loop<double>(s, dst, n);
      return;
    case DType::kI64:
      convert_loop<int64_t>(s, dst, n);
      return;
    case DType::kI32:
      convert_loop<int32_t>(s, dst, n);
      return;
    case DType::kI16:
      convert_loop<int16_t>(s, dst, n);
      return;
    case DType::kI8:
      convert_loop<int8_t>(s, dst, n);
      return;
    case DType::kU8:
      convert_loop<uint8_t>(s, dst, n);
      return;
    case DType::kU16:
      convert_loop<uint16_t>(s, dst, n);
      return;
    case DType::kU32:
      convert_loop<uint32_t>(s, dst, n);
      return;
    case DType::kU64:
      convert_loop<uint64_t>(s, dst, n);
      return;
    case DType::kBool:
      for (size_t i = 0; i < n; ++i) dst[i] = s[i] != 0 ? 1.0f : 0.0f;
      return;
  }
  throw StatusError(Status::internal("convert_to_fp32: invalid DType"));
}

void convert_from_fp32(const float* src, DType type, void* dst, size_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      if (n > 0) std::memcpy(d, src, n * sizeof(float));
      return;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        const double v = src[i];
        std::memcpy(d + 8 * i, &v, 8);
      }
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t v = fp32_to_fp16(src[i]);
        std::memcpy(d + 2 * i, &v, 2);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        const uint16_t v = fp32_to_bf16(src[i]);
        std::memcpy(d + 2 * i, &v, 2);
      }
      return;
    default:
      throw_unsupported(std::string("convert_from_fp32: cannot store floats as ") +
                        dtype_name(type));
  }
}

}  // namespace ostq
