// SPDX-License-Identifier: Apache-2.0
// Hugging Face tokenizer.json with a BPE model (FORMATS.md §4.6), both flavours:
//  - SentencePiece style (LLaMA-1/2, Mistral): Prepend/Replace normalizer or Metaspace
//    pre-tokenizer, byte fallback, decoder "▁" → space + strip one leading space;
//  - byte-level (GPT-2, LLaMA-3, Qwen2): Split pre-tokenizer with a known regex, then ByteLevel.
// Special (added) tokens are matched as exact strings before normalization. Torch-free.
//
// Simplifications (documented, not silent): added tokens ignore lstrip/rstrip/single_word and
// always match on the raw text; an NFC normalizer is accepted and treated as identity (the input
// is assumed to be NFC already); post-processor tokens after the sequence (EOS) are not added.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/pretokenizer_regex.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

struct HfAddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
};

// One normalizer step (a Sequence is flattened).
struct HfNormalizerStep {
  enum class Kind { kPrepend, kReplace } kind = Kind::kPrepend;
  std::string text;         // Prepend: the prefix; Replace: the pattern
  std::string replacement;  // Replace only
};

// One pre-tokenizer step (a Sequence is flattened).
struct HfPreTokenizerStep {
  enum class Kind { kMetaspace, kByteLevel, kSplit } kind = Kind::kSplit;
  std::string replacement = "\xE2\x96\x81";  // Metaspace
  enum class Prepend { kAlways, kFirst, kNever } prepend = Prepend::kAlways;  // Metaspace
  bool split = true;              // Metaspace: split before every replacement character
  bool add_prefix_space = false;  // ByteLevel
  bool use_regex = false;         // ByteLevel (GPT-2 pattern)
  SplitPattern pattern = SplitPattern::kGpt2;  // Split
};

// How ids become text.
struct HfDecoderSpec {
  bool byte_level = false;   // ByteLevel decoder: invert the byte-level alphabet
  bool byte_fallback = false;  // "<0xHH>" pieces are raw bytes
  std::vector<std::pair<std::string, std::string>> replacements;  // applied in order
  int strip_leading_spaces = 0;  // at the start of the text / after BOS
};

// Everything parsed from tokenizer.json (+ tokenizer_config.json).
struct HfTokenizerSpec {
  std::unique_ptr<BpeModel> model;
  std::vector<HfAddedToken> added_tokens;
  std::vector<HfNormalizerStep> normalizers;
  std::vector<HfPreTokenizerStep> pre_tokenizers;
  HfDecoderSpec decoder;
  std::vector<int32_t> bos_prefix;  // ids the post-processor puts before the text (BOS)
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t vocab_size = 0;  // highest id + 1 over the model and the added tokens
};

// Parses tokenizer.json text; `config_json` is the text of tokenizer_config.json when there is
// one (add_bos_token, bos_token, eos_token). Throws StatusError naming `file_name`: invalid input
// for malformed JSON, missing fields and out-of-range ids; unsupported for other model types,
// unknown normalizers/pre-tokenizers and regexes without a matcher.
HfTokenizerSpec hf_tokenizer_parse(std::string_view json, std::optional<std::string_view> config_json,
                                   const std::string& file_name);

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(HfTokenizerSpec spec);

  // Added tokens (leftmost, longest) are split out first; the rest goes through the normalizers,
  // the pre-tokenizers and the BPE model. With add_bos the post-processor's BOS prefix comes first.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // Special added tokens give ""; byte-level pieces are mapped back to bytes; SentencePiece-style
  // pieces get the decoder's replacements (▁ → space), byte fallback, and the leading-space strip
  // after BOS or at the start (prev < 0).
  std::string decode_piece(int32_t prev, int32_t token) const override;

  int32_t vocab_size() const override { return spec_.vocab_size; }
  int32_t bos_id() const override { return spec_.bos_id; }
  int32_t eos_id() const override { return spec_.eos_id; }
  std::string kind() const override;

  const HfTokenizerSpec& spec() const { return spec_; }
  // Pre-tokens of `text` (no added-token handling), for tests and diagnostics.
  std::vector<std::string> pre_tokenize(std::string_view text, bool first_segment = true) const;

 private:
  void encode_segment(std::string_view text, bool first_segment, std::vector<int32_t>& out) const;

  HfTokenizerSpec spec_;
  std::vector<int32_t> added_of_id_;  // index into added_tokens by id, -1 if not an added token
  // Added tokens grouped by first byte, longest first.
  std::vector<std::vector<int32_t>> added_by_first_byte_;
};

}  // namespace ostq
