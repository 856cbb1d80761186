// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the safetensors reader (safetensors.cpp) and writer (safetensors_writer.cpp).
// Not part of the public API.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/io/dtype.h"

namespace ostq::safetensors_detail {

inline constexpr const char* kSingleName = "model.safetensors";
inline constexpr const char* kIndexName = "model.safetensors.index.json";

// A name as shown inside an error message: quoted and cut to a readable length.
inline std::string quote_name(std::string_view s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return "\"" + std::string(s) + "\"";
  return "\"" + std::string(s.substr(0, kMax)) + "…\"";
}

inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

// numel and byte count of a shape; throws through `fail` on overflow.
template <typename Fail>
void shape_sizes(const std::vector<int64_t>& shape, DType dtype, uint64_t* numel, uint64_t* nbytes,
                 Fail&& fail) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("negative dimension " + std::to_string(d));
    if (mul_overflows(n, static_cast<uint64_t>(d), &n)) fail("element count overflows 64 bits");
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail("element count overflows 64 bits");
  }
  if (mul_overflows(n, dtype_size(dtype), nbytes)) fail("byte size overflows 64 bits");
  *numel = n;
}

}  // namespace ostq::safetensors_detail
