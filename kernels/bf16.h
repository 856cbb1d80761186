// SPDX-License-Identifier: Apache-2.0
// bf16 ↔ fp32 on the host, bit for bit as LibTorch does it (round to nearest even; a NaN stays a
// quiet NaN). Shared by the reference, the CPU variants and the kernel tests.
#pragma once

#include <cstdint>
#include <cstring>

namespace ostq::kernels {

inline float bf16_to_float(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace ostq::kernels
