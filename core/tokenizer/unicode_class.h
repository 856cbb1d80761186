// SPDX-License-Identifier: Apache-2.0
// UTF-8 stepping and the Unicode classes the pre-tokenizer regexes need (\p{L}, \p{N}, \s).
// Letters and numbers come from generated tables (unicode_tables.cpp, Unicode 14 general
// categories L* and N*); whitespace is the White_Space property. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ostq {

struct CodePointRange {
  uint32_t first;
  uint32_t last;  // inclusive
};

namespace unicode_tables {
extern const CodePointRange kLetterRanges[];
extern const size_t kLetterRanges_count;
extern const CodePointRange kNumberRanges[];
extern const size_t kNumberRanges_count;
}  // namespace unicode_tables

// One decoded character: its code point and how many bytes it spans. Malformed UTF-8 (a stray
// continuation byte, a truncated or overlong sequence, a surrogate) decodes as a single byte with
// `valid` false and cp = the byte value + 0xDC00 (a lone-surrogate code point, so it is never a
// letter, number or space).
struct Utf8Char {
  uint32_t cp = 0;
  uint32_t len = 0;
  bool valid = false;
};

// Decodes the character starting at s[pos] (pos < s.size()).
Utf8Char utf8_decode(std::string_view s, size_t pos);
// Appends the UTF-8 encoding of `cp` (cp <= 0x10FFFF).
void utf8_append(std::string& out, uint32_t cp);

bool unicode_is_letter(uint32_t cp);      // \p{L}
bool unicode_is_number(uint32_t cp);      // \p{N}
bool unicode_is_whitespace(uint32_t cp);  // \s (Unicode White_Space)

}  // namespace ostq
