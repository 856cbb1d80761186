// SPDX-License-Identifier: Apache-2.0
// Hand-written matchers for the Split pre-tokenizer regexes of byte-level BPE tokenizers. The
// patterns use \p{L} / \p{N}, which std::regex lacks; instead of a regex engine we recognise the
// known patterns verbatim and run an equivalent matcher (same alternatives, same backtracking
// results). Unicode classes: see unicode_class.h. Torch-free.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace ostq {

enum class SplitPattern {
  // GPT-2 (ByteLevel use_regex=true):
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // LLaMA-3 / GPT-4 cl100k:
  //   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  //   \s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2: as kLlama3 with \p{N} (one digit per pre-token) instead of \p{N}{1,3}.
  kQwen2,
};

// The pattern a Split pre-tokenizer regex denotes, or nullopt when it is not one we implement.
std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex);
// The GPT-2 pattern text (what ByteLevel use_regex=true applies).
std::string_view split_pattern_regex(SplitPattern pattern);

// Splits `text` into consecutive pre-tokens (behaviour "Isolated": every match is a piece and
// the pieces cover the text). (?i:) folds ASCII letters and U+017F (the only other code point
// that folds to one of s, t, r, e, v, m, l, d). Malformed UTF-8 bytes count as single symbol
// characters (neither letter, number nor space). Checked against Python's `regex` module on
// random strings of letters, digits, Unicode spaces, numbers and symbols.
std::vector<std::string_view> split_pretokens(std::string_view text, SplitPattern pattern);

}  // namespace ostq
