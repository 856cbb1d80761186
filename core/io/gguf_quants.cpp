// SPDX-License-Identifier: Apache-2.0
// GGUF block codecs (FORMATS.md §6.3): lossless transcodes of integer codes, ggml's reference
// quantizers (quantize_row_q*_ref in ggml-quants.c) and dequantization. All blocks are 32 weights
// with fp16 scales; byte layouts are pinned by the k*Bytes constants.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/io/dtype.h"
#include "core/io/gguf_format.h"
#include "core/util/status.h"

namespace ostq {

namespace {

constexpr int kHalf = kGgmlQK / 2;

void put_fp16(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

float get_fp16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

void check_codes(const int8_t* codes, int lo, int hi, const char* type) {
  for (int j = 0; j < kGgmlQK; ++j) {
    if (codes[j] < lo || codes[j] > hi) {
      throw StatusError(Status::internal(std::string(type) + " code " + std::to_string(codes[j]) + " outside [" +
                                         std::to_string(lo) + ", " + std::to_string(hi) + "]"));
    }
  }
}

// qs[16]: nibble values n[32] in [0, 15]; low nibble of qs[j] = n[j], high = n[j + 16].
void pack_nibbles(const uint8_t* n, uint8_t* qs) {
  for (int j = 0; j < kHalf; ++j) qs[j] = static_cast<uint8_t>(n[j] | (n[j + kHalf] << 4));
}

}  // namespace

void q4_0_pack(const int8_t* codes, float scale, uint8_t* block) {
  check_codes(codes, -8, 7, "Q4_0");
  uint8_t n[kGgmlQK];
  for (int j = 0; j < kGgmlQK; ++j) n[j] = static_cast<uint8_t>(codes[j] + 8);
  put_fp16(block, scale);
  pack_nibbles(n, block + 2);
}

void q4_1_pack(const int8_t* codes, float scale, float zero, uint8_t* block) {
  check_codes(codes, 0, 15, "Q4_1");
  put_fp16(block, scale);
  put_fp16(block + 2, -scale * zero);  // x = d·n + m = s·(n − z)
  pack_nibbles(reinterpret_cast<const uint8_t*>(codes), block + 4);
}

void q8_0_pack(const int8_t* codes, float scale, uint8_t* block) {
  put_fp16(block, scale);
  std::memcpy(block + 2, codes, kGgmlQK);
}

void q4_0_quantize(const float* x, uint8_t* blocks, int64_t n) {
  for (int64_t b = 0; b < n / kGgmlQK; ++b, x += kGgmlQK, blocks += kQ4_0Bytes) {
    // d = (signed value of largest magnitude) / −8, so that value maps to code −8 exactly.
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kGgmlQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[kGgmlQK];
    for (int j = 0; j < kGgmlQK; ++j) {
      q[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f))));
    }
    put_fp16(blocks, d);
    pack_nibbles(q, blocks + 2);
  }
}

void q4_1_quantize(const float* x, uint8_t* blocks, int64_t n) {
  for (int64_t b = 0; b < n / kGgmlQK; ++b, x += kGgmlQK, blocks += kQ4_1Bytes) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < kGgmlQK; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[kGgmlQK];
    for (int j = 0; j < kGgmlQK; ++j) {
      q[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - lo) * id + 0.5f))));
    }
    put_fp16(blocks, d);
    put_fp16(blocks + 2, lo);
    pack_nibbles(q, blocks + 4);
  }
}

void q8_0_quantize(const float* x, uint8_t* blocks, int64_t n) {
  for (int64_t b = 0; b < n / kGgmlQK; ++b, x += kGgmlQK, blocks += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int j = 0; j < kGgmlQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_fp16(blocks, d);
    for (int j = 0; j < kGgmlQK; ++j) blocks[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
  }
}

void ggml_dequantize(GgmlType type, const uint8_t* src, float* dst, uint64_t numel) {
  const uint64_t nb = numel / kGgmlQK;
  switch (type) {
    case GgmlType::kF32: std::memcpy(dst, src, numel * 4); return;
    case GgmlType::kF16: convert_to_fp32(src, DType::kF16, dst, numel); return;
    case GgmlType::kBF16: convert_to_fp32(src, DType::kBF16, dst, numel); return;
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1: {
      const bool has_min = type == GgmlType::kQ4_1;
      const size_t bytes = has_min ? kQ4_1Bytes : kQ4_0Bytes;
      for (uint64_t b = 0; b < nb; ++b, src += bytes, dst += kGgmlQK) {
        const float d = get_fp16(src);
        const float m = has_min ? get_fp16(src + 2) : 0.0f;
        const int offset = has_min ? 0 : 8;
        const uint8_t* qs = src + (has_min ? 4 : 2);
        for (int j = 0; j < kHalf; ++j) {
          dst[j] = static_cast<float>((qs[j] & 0x0F) - offset) * d + m;
          dst[j + kHalf] = static_cast<float>((qs[j] >> 4) - offset) * d + m;
        }
      }
      return;
    }
    case GgmlType::kQ8_0:
      for (uint64_t b = 0; b < nb; ++b, src += kQ8_0Bytes, dst += kGgmlQK) {
        const float d = get_fp16(src);
        for (int j = 0; j < kGgmlQK; ++j) dst[j] = static_cast<float>(static_cast<int8_t>(src[2 + j])) * d;
      }
      return;
    default:
      throw_unsupported(std::string("dequantizing GGUF type ") + ggml_type_name(type) +
                        " (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)");
  }
}

}  // namespace ostq
