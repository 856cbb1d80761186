// SPDX-License-Identifier: Apache-2.0
// GPT-2 style byte-level alphabet (FORMATS.md §4.6): every byte maps to one printable code point
// so that byte strings can be BPE vocabulary keys. Bytes 0x21–0x7E, 0xA1–0xAC and 0xAE–0xFF map
// to themselves; the other 68 bytes map, in increasing order, to U+0100, U+0101, … Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ostq {

// Code point that byte `b` is shown as (space → U+0120 'Ġ', newline → U+010A 'Ċ').
uint32_t byte_level_code_point(uint8_t b);
// UTF-8 of the mapped string of `bytes` (each byte becomes one 1- or 2-byte character).
std::string byte_level_encode(std::string_view bytes);
// Inverse of byte_level_encode. Characters outside the alphabet are kept as their UTF-8 bytes
// (what Hugging Face's ByteLevel decoder does with, e.g., added tokens).
std::string byte_level_decode(std::string_view mapped);

}  // namespace ostq
