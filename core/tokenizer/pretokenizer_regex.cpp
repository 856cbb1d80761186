// SPDX-License-Identifier: Apache-2.0
// Matchers for the GPT-2 / LLaMA-3 / Qwen2 Split regexes. Each alternative is coded in pattern
// order and returns the match a backtracking engine (Oniguruma, as used by Hugging Face) finds at
// the current position, or 0 when it fails; the first non-empty alternative wins.
#include "core/tokenizer/pretokenizer_regex.h"

#include <cstdint>

#include "core/tokenizer/unicode_class.h"

namespace ostq {

namespace {

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The text as code points; alternatives work on character indices [0, n).
class Matcher {
 public:
  explicit Matcher(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
      const Utf8Char c = utf8_decode(text, pos);
      cps_.push_back(c.cp);
      offsets_.push_back(pos);
      pos += c.len;
    }
    offsets_.push_back(text.size());
  }

  size_t size() const { return cps_.size(); }
  size_t offset(size_t i) const { return offsets_[i]; }

  bool letter(size_t i) const { return i < size() && unicode_is_letter(cps_[i]); }
  bool number(size_t i) const { return i < size() && unicode_is_number(cps_[i]); }
  bool space(size_t i) const { return i < size() && unicode_is_whitespace(cps_[i]); }
  bool newline(size_t i) const { return i < size() && (cps_[i] == '\r' || cps_[i] == '\n'); }
  bool is(size_t i, uint32_t cp) const { return i < size() && cps_[i] == cp; }
  // [^\s\p{L}\p{N}]
  bool symbol(size_t i) const { return i < size() && !space(i) && !letter(i) && !number(i); }
  // Case-insensitive as Unicode simple case folding: besides ASCII, U+017F (long s) folds to 's'.
  bool folds_to(size_t i, char lower) const {
    return i < size() && (cps_[i] == static_cast<uint32_t>(lower) ||
                          cps_[i] == static_cast<uint32_t>(lower - 'a' + 'A') ||
                          (lower == 's' && cps_[i] == 0x17F));
  }

  template <typename Pred>
  size_t run(size_t i, Pred pred) const {  // end of the run of pred-characters from i
    while (i < size() && pred(i)) ++i;
    return i;
  }

  // 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive. Returns the match length.
  size_t contraction(size_t i, bool fold) const {
    if (!is(i, '\'')) return 0;
    const auto ch = [&](size_t k, char c) { return fold ? folds_to(k, c) : is(k, c); };
    if (ch(i + 1, 's') || ch(i + 1, 't') || ch(i + 1, 'm') || ch(i + 1, 'd')) return 2;
    if ((ch(i + 1, 'r') || ch(i + 1, 'v')) && ch(i + 2, 'e')) return 3;
    if (ch(i + 1, 'l') && ch(i + 2, 'l')) return 3;
    return 0;
  }

  // " ?X+" for a class X: optional leading space, then one or more X.
  template <typename Pred>
  size_t space_then_run(size_t i, Pred pred) const {
    if (is(i, ' ') && pred(i + 1)) return run(i + 1, pred) - i;
    if (pred(i)) return run(i, pred) - i;
    return 0;
  }

  // \s+(?!\S) then \s+ : whitespace not followed by a non-space, else all of it.
  size_t trailing_space(size_t i) const {
    if (!space(i)) return 0;
    const size_t j = run(i, [&](size_t k) { return space(k); });
    if (j == size() || j - i >= 2) return j == size() ? j - i : j - 1 - i;
    return j - i;  // the \s+ alternative
  }

  size_t match_gpt2(size_t i) const {
    if (size_t m = contraction(i, false)) return m;
    if (size_t m = space_then_run(i, [&](size_t k) { return letter(k); })) return m;
    if (size_t m = space_then_run(i, [&](size_t k) { return number(k); })) return m;
    if (size_t m = space_then_run(i, [&](size_t k) { return symbol(k); })) return m;
    return trailing_space(i);
  }

  size_t match_llama3(size_t i, size_t max_digits) const {
    if (size_t m = contraction(i, true)) return m;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!newline(i) && !letter(i) && !number(i) && i < size() && letter(i + 1)) {
      return run(i + 1, [&](size_t k) { return letter(k); }) - i;
    }
    if (letter(i)) return run(i, [&](size_t k) { return letter(k); }) - i;
    // \p{N}{1,max_digits}
    if (number(i)) {
      size_t j = i;
      while (j - i < max_digits && number(j)) ++j;
      return j - i;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n]*"
    if (size_t m = space_then_run(i, [&](size_t k) { return symbol(k); })) {
      return run(i + m, [&](size_t k) { return newline(k); }) - i;
    }
    if (!space(i)) return 0;
    // \s*[\r\n]+ : up to the last line break inside the whitespace run.
    const size_t j = run(i, [&](size_t k) { return space(k); });
    for (size_t k = j; k > i; --k) {
      if (newline(k - 1)) return k - i;
    }
    return trailing_space(i);
  }

 private:
  std::vector<uint32_t> cps_;
  std::vector<size_t> offsets_;
};

}  // namespace

std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::string_view split_pattern_regex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2: return kGpt2Regex;
    case SplitPattern::kLlama3: return kLlama3Regex;
    case SplitPattern::kQwen2: return kQwen2Regex;
  }
  return {};
}

std::vector<std::string_view> split_pretokens(std::string_view text, SplitPattern pattern) {
  const Matcher m(text);
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < m.size()) {
    size_t len = 0;
    switch (pattern) {
      case SplitPattern::kGpt2: len = m.match_gpt2(i); break;
      case SplitPattern::kLlama3: len = m.match_llama3(i, 3); break;
      case SplitPattern::kQwen2: len = m.match_llama3(i, 1); break;
    }
    if (len == 0) len = 1;  // unreachable for these patterns (\s+ or a symbol run always matches)
    out.push_back(text.substr(m.offset(i), m.offset(i + len) - m.offset(i)));
    i += len;
  }
  return out;
}

}  // namespace ostq
