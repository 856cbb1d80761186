// SPDX-License-Identifier: Apache-2.0
// Element types of stored tensors (safetensors spelling, FORMATS.md §4.4) and exact scalar
// conversions between fp32 and the two 16-bit float formats. Torch-free.
//
// Note [half conversions]: fp32 → fp16/bf16 rounds to nearest, ties to even, overflows to ±inf and
// keeps NaN a NaN (the upper payload bits are kept; a quiet bit is set when they are all zero), so
// every fp16/bf16 bit pattern survives a 16 → 32 → 16 round trip unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ostq {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kU16, kU32, kU64 };

// Bytes per element (BOOL is one byte).
size_t dtype_size(DType t);
// safetensors spelling: "F64", "F32", "F16", "BF16", "I64", …, "BOOL", "U16", "U32", "U64".
const char* dtype_name(DType t);
// PyTorch spelling as used by config.json `torch_dtype`: "float32", "bfloat16", "int64", "bool", …
const char* dtype_torch_name(DType t);
bool dtype_is_float(DType t);

// nullopt for any name that is not one of the supported spellings above (case-sensitive).
std::optional<DType> dtype_try_from_name(std::string_view name);
// Throws StatusError(unsupported) "<what>: …" for an unknown name or a known-but-unsupported one
// such as F8_E4M3 / F8_E5M2, listing the supported dtypes.
DType dtype_from_name(std::string_view name, const std::string& what);

// IEEE binary16 bit pattern ↔ fp32 (exact; see Note [half conversions]).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// bfloat16 bit pattern ↔ fp32 (exact; see Note [half conversions]).
float bf16_to_fp32(uint16_t b);
uint16_t fp32_to_bf16(float f);

// dst[i] = (float)src[i] for i < n. src holds n elements of `type`, little-endian, and need not be
// aligned (tensors are served straight from a memory map). Integers convert with the usual
// (possibly rounding) int → float conversion; BOOL → 0/1.
void convert_to_fp32(const void* src, DType type, float* dst, size_t n);

// dst[i] = src[i] stored as `type` for i < n (dst need not be aligned). Float types only (F64, F32,
// F16, BF16, rounding as in Note [half conversions]); throws StatusError(unsupported) otherwise.
void convert_from_fp32(const float* src, DType type, void* dst, size_t n);

}  // namespace ostq
