// SPDX-License-Identifier: Apache-2.0
// The Hugging Face BPE model (tokenizers models/bpe): vocabulary, ranked merges, byte fallback
// and unknown-token handling; encodes one pre-tokenized word at a time. Torch-free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ostq {

struct BpeOptions {
  bool byte_fallback = false;   // unknown characters → "<0xHH>" pieces when all are in the vocab
  bool fuse_unk = false;        // consecutive unknown characters → one unk id
  bool ignore_merges = false;   // a word that is a piece is emitted whole (LLaMA-3)
  int32_t unk_id = -1;          // -1: unknown characters are dropped (as tokenizers does)
  std::string continuing_subword_prefix;  // e.g. "##"; empty = none
  std::string end_of_word_suffix;         // e.g. "</w>"; empty = none
};

class BpeModel {
 public:
  // pieces[id] for every id; present[id] false marks a hole (no piece has that id).
  BpeModel(std::vector<std::string> pieces, std::vector<bool> present, BpeOptions options);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the merge of the pair with the next rank; a repeated pair keeps its first rank.
  void add_merge(int32_t left, int32_t right, int32_t merged);

  // Id of `piece`, -1 when absent.
  int32_t find(std::string_view piece) const;
  const std::string& piece(int32_t id) const { return pieces_[static_cast<size_t>(id)]; }
  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  size_t merge_count() const { return merges_.size(); }
  const BpeOptions& options() const { return options_; }

  // Ids of one word (a pre-token), appended to `out`: characters (else byte fallback, else unk),
  // then lowest-rank merges first, ties to the leftmost (see Note [BPE merge order]).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::vector<std::string> pieces_;
  std::unordered_map<std::string_view, int32_t> index_;  // views into pieces_
  struct Merge {
    uint32_t rank;
    int32_t merged;
  };
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of "<0xHH>", -1 when absent
  BpeOptions options_;
};

}  // namespace ostq
