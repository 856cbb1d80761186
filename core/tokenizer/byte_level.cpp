// SPDX-License-Identifier: Apache-2.0
// The GPT-2 byte ↔ printable code point tables (byte_level.h).
#include "core/tokenizer/byte_level.h"

#include <array>

#include "core/tokenizer/unicode_class.h"

namespace ostq {

namespace {

struct ByteLevelTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 0x144> from_cp{};  // code points below U+0144 only; -1 = not in alphabet
  ByteLevelTables() {
    from_cp.fill(-1);
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool same = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_cp[b] = same ? b : 0x100 + extra++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

uint32_t byte_level_code_point(uint8_t b) { return tables().to_cp[b]; }

std::string byte_level_encode(std::string_view bytes) {
  const auto& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, t.to_cp[b]);
  return out;
}

std::string byte_level_decode(std::string_view mapped) {
  const auto& t = tables();
  std::string out;
  out.reserve(mapped.size());
  size_t pos = 0;
  while (pos < mapped.size()) {
    const Utf8Char c = utf8_decode(mapped, pos);
    if (c.valid && c.cp < t.from_cp.size() && t.from_cp[c.cp] >= 0) {
      out += static_cast<char>(t.from_cp[c.cp]);
    } else {
      out.append(mapped.substr(pos, c.len));
    }
    pos += c.len;
  }
  return out;
}

}  // namespace ostq
