// SPDX-License-Identifier: Apache-2.0
// SentencePiece *.model (FORMATS.md §3), read without libsentencepiece: Debian's library embeds
// protobuf 3.14 and aborts in a process that also loads LibTorch's protobuf 3.21. BPE models
// only (LLaMA family). Encoding = the identity normalizer (remove_extra_whitespaces,
// add_dummy_prefix) then SentencePiece's BPE (highest-score merge, leftmost on ties, byte
// fallback), which is the llama2.c encoder; decoding follows the llama2.c rules. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/sentencepiece_vocab.h"
#include "core/tokenizer/tokenizer.h"


namespace ostq {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Parses a serialized ModelProto; throws StatusError (invalid input) naming `file_name`.
  static std::unique_ptr<SentencePieceTokenizer> parse(std::string_view bytes,
                                                       const std::string& file_name);
  ~SentencePieceTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;
  // "▁" → space; after BOS (or at the start, prev < 0) one leading space is dropped; byte pieces
  // are raw bytes; control pieces (BOS, EOS) give ""; an out-of-range id gives "".
  std::string decode_piece(int32_t prev, int32_t token) const override;

  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t unk_id() const { return unk_id_; }
  std::string kind() const override { return "sentencepiece"; }

  // The vocabulary as stored ("▁" kept), with scores and types.
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  float score(int32_t id) const { return scores_[static_cast<size_t>(id)]; }
  PieceType type(int32_t id) const { return types_[static_cast<size_t>(id)]; }
  // The whole vocabulary, e.g. for write_tokenizer_json_from_sentencepiece().
  SentencePieceVocab vocab() const;

 private:
  SentencePieceTokenizer();

  std::unique_ptr<Llama2cTokenizer> encoder_;  // the merge loop over this vocabulary
  bool remove_extra_whitespaces_ = true;
  std::string file_name_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<PieceType> types_;
  std::vector<std::string> decoded_;  // what decode_piece returns when no space is stripped
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t unk_id_ = -1;
};

}  // namespace ostq
