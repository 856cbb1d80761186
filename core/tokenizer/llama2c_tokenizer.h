// SPDX-License-Identifier: Apache-2.0
// llama2.c tokenizer.bin (FORMATS.md §2): reader and an encoder that gives exactly the ids of
// llama2.c run.c encode(), in O(n log n) instead of its O(n^2) rescans (see Note [BPE merge order]).
// Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/sentencepiece_vocab.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // Parses a tokenizer.bin image with `vocab_size` entries (the count comes from the checkpoint).
  // Throws StatusError (invalid input) naming `file_name` on a truncated file, a negative or
  // oversized length, trailing bytes (usually a vocab_size mismatch) or fewer than 259 entries.
  static std::unique_ptr<Llama2cTokenizer> parse(std::string_view bytes, int32_t vocab_size,
                                                 const std::string& file_name);

  // The same encoder over a SentencePiece vocabulary ("▁" becomes a space). Byte pieces must sit
  // at ids 3..258 as in LLaMA / llama2.c vocabularies; throws StatusError naming `name` otherwise.
  static std::unique_ptr<Llama2cTokenizer> from_vocab(const SentencePieceVocab& vocab, const std::string& name);

  // As run.c: dummy-prefix " " when the text is non-empty, code points (else bytes + 3), then
  // highest-score merges, ties to the leftmost pair; with add_bos, BOS (1) first. Deviations: a
  // NUL byte is encoded like any other byte (run.c stops at it); without a " " piece no dummy
  // prefix is emitted (run.c would emit id -1).
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // As run.c decode(): after BOS (or at the start, prev < 0) a leading space is dropped; "<0xHH>"
  // is the raw byte. BOS and EOS contribute nothing; an out-of-range id gives "".
  std::string decode_piece(int32_t prev, int32_t token) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  std::string kind() const override { return "llama2.c tokenizer.bin"; }

  // Raw piece bytes as stored (space instead of ▁, "\n<s>\n" for BOS).
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  float score(int32_t id) const { return scores_[static_cast<size_t>(id)]; }
  int32_t max_token_length() const { return max_token_length_; }
  // Id of a piece, -1 when absent (the lowest id when a piece occurs twice).
  int32_t find(std::string_view piece) const;
  // As SentencePiece would store it: space → "▁", ids 0/1/2 → "<unk>"/"<s>"/"</s>" (unknown,
  // control, control), "<0xHH>" pieces are byte pieces, everything else normal.
  SentencePieceVocab vocab() const;

 private:
  Llama2cTokenizer() = default;

  int32_t max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string_view, int32_t> index_;  // views into pieces_
};

}  // namespace ostq
