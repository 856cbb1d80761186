// SPDX-License-Identifier: Apache-2.0
// Hugging Face tokenizer.json: the encode/decode pipeline over a parsed HfTokenizerSpec.
#include "core/tokenizer/hf_tokenizer.h"

#include <algorithm>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/piece_text.h"

namespace ostq {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Metaspace "MergedWithNext": a new piece starts at every occurrence of `delim`.
void split_before(const std::string& s, const std::string& delim, std::vector<std::string>& out) {
  size_t start = 0;
  size_t hit = s.find(delim, delim.size() > 0 ? 1 : 0);
  while (!delim.empty() && hit != std::string::npos) {
    if (hit > start) out.push_back(s.substr(start, hit - start));
    start = hit;
    hit = s.find(delim, hit + delim.size());
  }
  if (start < s.size()) out.push_back(s.substr(start));
}

}  // namespace

HfTokenizer::HfTokenizer(HfTokenizerSpec spec) : spec_(std::move(spec)) {
  added_of_id_.assign(static_cast<size_t>(spec_.vocab_size), -1);
  added_by_first_byte_.resize(256);
  for (size_t i = 0; i < spec_.added_tokens.size(); ++i) {
    const HfAddedToken& t = spec_.added_tokens[i];
    if (t.id >= 0 && t.id < spec_.vocab_size) added_of_id_[t.id] = static_cast<int32_t>(i);
    if (!t.content.empty()) {
      added_by_first_byte_[static_cast<uint8_t>(t.content[0])].push_back(static_cast<int32_t>(i));
    }
  }
  for (auto& group : added_by_first_byte_) {
    std::stable_sort(group.begin(), group.end(), [this](int32_t a, int32_t b) {
      return spec_.added_tokens[a].content.size() > spec_.added_tokens[b].content.size();
    });
  }
}

std::string HfTokenizer::kind() const {
  if (spec_.decoder.byte_level) return "tokenizer.json (bpe, byte-level)";
  if (spec_.model->options().byte_fallback) return "tokenizer.json (bpe, byte-fallback)";
  return "tokenizer.json (bpe)";
}

std::vector<std::string> HfTokenizer::pre_tokenize(std::string_view text, bool first_segment) const {
  std::vector<std::string> pieces;
  if (!text.empty()) pieces.emplace_back(text);
  for (const HfPreTokenizerStep& step : spec_.pre_tokenizers) {
    std::vector<std::string> next;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const std::string& p = pieces[i];
      switch (step.kind) {
        case HfPreTokenizerStep::Kind::kMetaspace: {
          std::string q = replace_all(p, " ", step.replacement);
          const bool prepend =
              step.prepend == HfPreTokenizerStep::Prepend::kAlways ||
              (step.prepend == HfPreTokenizerStep::Prepend::kFirst && first_segment && i == 0);
          if (prepend && !starts_with(q, step.replacement)) q.insert(0, step.replacement);
          if (step.split) {
            split_before(q, step.replacement, next);
          } else {
            next.push_back(std::move(q));
          }
          break;
        }
        case HfPreTokenizerStep::Kind::kByteLevel: {
          std::string q = step.add_prefix_space && !starts_with(p, " ") ? " " + p : p;
          if (step.use_regex) {
            for (std::string_view part : split_pretokens(q, SplitPattern::kGpt2)) {
              next.push_back(byte_level_encode(part));
            }
          } else {
            next.push_back(byte_level_encode(q));
          }
          break;
        }
        case HfPreTokenizerStep::Kind::kSplit:
          for (std::string_view part : split_pretokens(p, step.pattern)) next.emplace_back(part);
          break;
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

void HfTokenizer::encode_segment(std::string_view text, bool first_segment,
                                 std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized(text);
  for (const HfNormalizerStep& step : spec_.normalizers) {
    if (step.kind == HfNormalizerStep::Kind::kPrepend) {
      if (!normalized.empty()) normalized.insert(0, step.text);
    } else {
      normalized = replace_all(normalized, step.text, step.replacement);
    }
  }
  for (const std::string& word : pre_tokenize(normalized, first_segment)) {
    spec_.model->encode_word(word, out);
  }
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos) out = spec_.bos_prefix;
  size_t segment = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t match = -1;
    for (int32_t idx : added_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const std::string& c = spec_.added_tokens[idx].content;
      if (text.compare(pos, c.size(), c) == 0) {
        match = idx;
        break;  // longest first
      }
    }
    if (match < 0) {
      ++pos;
      continue;
    }
    encode_segment(text.substr(segment, pos - segment), segment == 0, out);
    out.push_back(spec_.added_tokens[match].id);
    pos += spec_.added_tokens[match].content.size();
    segment = pos;
  }
  encode_segment(text.substr(segment), segment == 0, out);
  return out;
}

std::string HfTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= spec_.vocab_size) return {};
  if (added_of_id_[token] >= 0) {
    const HfAddedToken& t = spec_.added_tokens[added_of_id_[token]];
    return t.special ? std::string() : t.content;
  }
  const std::string& piece = spec_.model->piece(token);
  const HfDecoderSpec& d = spec_.decoder;
  if (d.byte_level) return byte_level_decode(piece);
  if (d.byte_fallback) {
    const int byte = parse_byte_piece(piece);
    if (byte >= 0) return std::string(1, static_cast<char>(byte));
  }
  std::string s = piece;
  for (const auto& [from, to] : d.replacements) s = replace_all(s, from, to);
  const bool at_start = prev < 0 || (spec_.bos_id >= 0 && prev == spec_.bos_id);
  if (at_start) {
    size_t n = 0;
    while (n < s.size() && static_cast<int>(n) < d.strip_leading_spaces && s[n] == ' ') ++n;
    s.erase(0, n);
  }
  return s;
}

}  // namespace ostq
