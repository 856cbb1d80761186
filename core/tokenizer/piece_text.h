// SPDX-License-Identifier: Apache-2.0
// Small text helpers for SentencePiece-style pieces: "▁" (U+2581) versus space, and byte-fallback
// pieces "<0xHH>". Torch-free.
#pragma once

#include <string>
#include <string_view>

namespace ostq {

// "▁" in UTF-8.
inline constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";

// The byte HH of a piece that is exactly "<0xHH>" (hex digits of either case), else -1.
int parse_byte_piece(std::string_view piece);
// "<0xHH>" with upper-case hex digits, as SentencePiece and Hugging Face spell byte pieces.
std::string byte_piece_name(unsigned char byte);
// `text` with every occurrence of `from` replaced by `to` (from non-empty).
std::string replace_all(std::string_view text, std::string_view from, std::string_view to);

}  // namespace ostq
