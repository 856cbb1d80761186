// SPDX-License-Identifier: Apache-2.0
// Tokenizer interface shared by the llama2.c (tokenizer.bin), SentencePiece (tokenizer.model) and
// Hugging Face (tokenizer.json) implementations. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/status.h"

namespace ostq {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`; with add_bos the model's BOS id comes first (when it has one).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Bytes that token `token` contributes to the output when it follows `prev` (streaming decode;
  // e.g. the leading space of a piece after BOS is dropped, byte pieces become raw bytes).
  // prev < 0 means "start of the text" and strips like BOS. BOS/EOS and other special tokens
  // contribute ""; an id outside the vocabulary contributes "". The bytes of one character may
  // be split over several tokens, so a streaming caller must buffer incomplete UTF-8.
  virtual std::string decode_piece(int32_t prev, int32_t token) const = 0;
  // Concatenated decode_piece over the sequence (the first token's prev is -1, the start of the
  // text, which strips like BOS); decode(encode(x, add_bos)) == x for the llama2.c and
  // tokenizer.json encoders (SentencePiece may normalize whitespace).
  std::string decode(const std::vector<int32_t>& ids) const;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the vocabulary has none
  virtual int32_t eos_id() const = 0;
  // "llama2.c tokenizer.bin", "sentencepiece", "tokenizer.json (bpe, byte-fallback)", ...
  virtual std::string kind() const = 0;
};

// Loads by file name: *.bin (llama2.c, needs vocab_size from the checkpoint), *.model
// (SentencePiece), *.json (Hugging Face tokenizer.json). Errors name the file and the problem.
// For *.model / *.json a vocab_size > 0 is the model's: a tokenizer with more ids is rejected
// (a model may have more rows than the tokenizer has ids). *.json also reads
// tokenizer_config.json beside it when present (add_bos_token, bos_token, eos_token).
Result<std::unique_ptr<Tokenizer>> tokenizer_load(const std::string& path, int32_t vocab_size);

enum class TokenizerFormat {
  kLlama2cBin,     // llama2.c tokenizer.bin (FORMATS.md §2)
  kSentencePiece,  // SentencePiece ModelProto (§3)
  kHfJson,         // Hugging Face tokenizer.json (§4.6)
};

// Parses a tokenizer held in memory (fuzzers, tests); `name` stands for the file in messages.
// Never throws. vocab_size as for tokenizer_load().
Result<std::unique_ptr<Tokenizer>> tokenizer_load_from_memory(TokenizerFormat format,
                                                              std::string_view bytes,
                                                              const std::string& name,
                                                              int32_t vocab_size);

// The tokenizer that belongs to a model: for a directory, tokenizer.json then tokenizer.model in
// it; for a llama2.c file, a tokenizer.bin / tok*.bin / tokenizer.model / tok*.model beside it.
// Returns "" when none is found.
std::string tokenizer_find_for_model(const std::string& model_path);
// As above, but for a llama2.c file only candidates that fit `vocab_size` (> 0) are returned:
// a *.bin must parse with exactly that many entries, a *.model must have that many pieces. The
// one-argument form reads vocab_size from the checkpoint header.
std::string tokenizer_find_for_model(const std::string& model_path, int32_t vocab_size);

}  // namespace ostq
