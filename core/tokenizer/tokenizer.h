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
  virtual std::string decode_piece(int32_t prev, int32_t token) const = 0;
  // Concatenated decode_piece over the sequence (the first token's prev is BOS when add_bos).
  std::string decode(const std::vector<int32_t>& ids) const;

  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the vocabulary has none
  virtual int32_t eos_id() const = 0;
  // "llama2.c tokenizer.bin", "sentencepiece", "tokenizer.json (bpe, byte-fallback)", ...
  virtual std::string kind() const = 0;
};

// Loads by file name: *.bin (llama2.c, needs vocab_size from the checkpoint), *.model
// (SentencePiece), *.json (Hugging Face tokenizer.json). Errors name the file and the problem.
Result<std::unique_ptr<Tokenizer>> tokenizer_load(const std::string& path, int32_t vocab_size);

// The tokenizer that belongs to a model: for a directory, tokenizer.json then tokenizer.model in
// it; for a llama2.c file, a tokenizer.bin / tok*.bin / tokenizer.model / tok*.model beside it.
// Returns "" when none is found.
std::string tokenizer_find_for_model(const std::string& model_path);

}  // namespace ostq
