// SPDX-License-Identifier: Apache-2.0
// A SentencePiece-style vocabulary (pieces with "▁" for space, scores, piece types): what the
// SentencePiece and llama2.c tokenizers hold and what the tokenizer.json writer consumes.
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ostq {

// SentencePiece's ModelProto.SentencePiece.Type.
enum class PieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct SentencePieceVocab {
  std::vector<std::string> pieces;  // by id; "▁" (U+2581) stands for space
  std::vector<float> scores;        // by id; higher merges first
  std::vector<PieceType> types;     // by id
  int32_t unk_id = 0;               // -1 when absent
  int32_t bos_id = 1;
  int32_t eos_id = 2;
};

}  // namespace ostq
