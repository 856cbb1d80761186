// SPDX-License-Identifier: Apache-2.0
// Hugging Face BPE word encoding (models/bpe/model.rs merge_word + word.rs merge_all).
#include "core/tokenizer/bpe_model.h"

#include "core/tokenizer/bpe_merge.h"
#include "core/tokenizer/piece_text.h"
#include "core/tokenizer/unicode_class.h"

namespace ostq {

BpeModel::BpeModel(std::vector<std::string> pieces, std::vector<bool> present, BpeOptions options)
    : pieces_(std::move(pieces)), options_(std::move(options)) {
  // Built after pieces_ is final: the index holds views into its strings.
  index_.reserve(pieces_.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (i < present.size() && present[i]) index_.emplace(pieces_[i], static_cast<int32_t>(i));
  }
  for (int b = 0; b < 256; ++b) byte_ids_[b] = find(byte_piece_name(static_cast<unsigned char>(b)));
}

void BpeModel::add_merge(int32_t left, int32_t right, int32_t merged) {
  merges_.emplace(pair_key(left, right), Merge{static_cast<uint32_t>(merges_.size()), merged});
}

int32_t BpeModel::find(std::string_view piece) const {
  const auto it = index_.find(piece);
  return it == index_.end() ? -1 : it->second;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const int32_t id = find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  bool pending_unk = false;
  const auto flush_unk = [&]() {
    if (pending_unk) ids.push_back(options_.unk_id);
    pending_unk = false;
  };
  std::string key;
  size_t pos = 0;
  while (pos < word.size()) {
    const Utf8Char c = utf8_decode(word, pos);
    const std::string_view ch = word.substr(pos, c.len);
    const bool first = pos == 0;
    pos += c.len;
    key.clear();
    if (!first) key = options_.continuing_subword_prefix;
    key.append(ch);
    if (pos == word.size()) key.append(options_.end_of_word_suffix);
    const int32_t id = find(key);
    if (id >= 0) {
      flush_unk();
      ids.push_back(id);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : key) all = all && byte_ids_[b] >= 0;
      if (all) {
        flush_unk();
        for (unsigned char b : key) ids.push_back(byte_ids_[b]);
        continue;
      }
    }
    if (options_.unk_id >= 0) {
      if (!options_.fuse_unk) flush_unk();
      pending_unk = true;
    }
  }
  flush_unk();
  bpe_merge(ids, [this](int32_t a, int32_t b, BpeCandidate* cand) {
    const auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return false;
    cand->key = it->second.rank;
    cand->merged = it->second.merged;
    return true;
  });
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace ostq
