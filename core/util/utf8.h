// SPDX-License-Identifier: Apache-2.0
// UTF-8 validation and decoding helpers (torch-free).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ostq {

// Offset of the first byte that does not start a valid UTF-8 sequence, or npos when all valid.
size_t utf8_first_invalid(std::string_view s);

// Length in bytes of the UTF-8 sequence starting with lead byte c (1 for invalid lead bytes).
inline size_t utf8_sequence_length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

}  // namespace ostq
