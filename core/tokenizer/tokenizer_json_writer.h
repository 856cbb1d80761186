// SPDX-License-Identifier: Apache-2.0
// Writes Hugging Face tokenizer.json files: the SentencePiece-style byte-fallback BPE that HF's
// LlamaConverter produces from a SentencePiece vocabulary, and a synthetic vocabulary of any size
// for synthetic checkpoints (`ostq synth`). Torch-free.
//
// Encoding with a written file (hf_tokenizer.h) equals the llama2.c encoder on the same
// vocabulary: both merge the best pair first, ties to the leftmost; the merge ranks follow the
// merged pieces' scores. They can differ only (a) when two different pieces share a score,
// (b) when one piece has two splits that overlap in the symbol sequence (symbols ab, a, ba can
// form "aba" as ab·a or a·ba: llama2.c merges the leftmost, HF the pair with the lower rank), or (c) when the text contains a
// control piece such as "<s>" verbatim (HF matches added tokens in the text). Verified equal on
// tinystories_val.txt for tok512 and the 32k LLaMA vocabulary (tests/parsers/tst_tokenizers.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tokenizer/sentencepiece_vocab.h"
#include "core/util/status.h"

namespace ostq {

// The merges HF's SentencePieceExtractor derives: for every piece (in id order) every split into
// two pieces of the vocabulary at a code point boundary (sorted by the halves' ids), then all
// stably sorted by the merged piece's score, highest first. Returns (left id, right id) pairs.
std::vector<std::pair<int32_t, int32_t>> sentencepiece_merges(const SentencePieceVocab& vocab);

// tokenizer.json text for `vocab`: normalizer Prepend("▁") + Replace(" " → "▁"), BPE with
// byte_fallback and fuse_unk, control and unknown pieces as special added tokens, a
// TemplateProcessing post-processor that prepends BOS, and the LLaMA-2 decoder. Throws
// StatusError (invalid input) on inconsistent sizes, duplicate pieces or non-finite scores.
std::string tokenizer_json_from_sentencepiece(const SentencePieceVocab& vocab);
// The same, written to `path` through AtomicFile.
Status write_tokenizer_json_from_sentencepiece(const SentencePieceVocab& vocab, const std::string& path);

// A deterministic SentencePiece-style vocabulary of exactly `vocab_size` (>= 300) pieces:
// <unk>, <s>, </s>, the 256 byte pieces <0x00>…<0xFF>, merged pieces built from two existing
// pieces (common English words with "▁", then systematic pairs) with scores 0, -1, -2, …, and
// last the single characters ("▁", letters, punctuation, digits) with the lowest scores.
// Throws StatusError (invalid input) when vocab_size is below 300 or above 2^22.
SentencePieceVocab sentencepiece_vocab_synthetic(int32_t vocab_size);
// tokenizer.json of sentencepiece_vocab_synthetic(vocab_size), written to `path`.
Status write_synthetic_tokenizer_json(int32_t vocab_size, const std::string& path);

// The vocabulary of a SentencePiece *.model or llama2.c *.bin file (vocab_size is needed for
// *.bin), e.g. to convert it to tokenizer.json. Errors name the file.
Result<SentencePieceVocab> sentencepiece_vocab_load(const std::string& path, int32_t vocab_size);

}  // namespace ostq
