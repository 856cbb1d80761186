// SPDX-License-Identifier: Apache-2.0
// The merge loop shared by every BPE encoder here. Torch-free, header-only (templated on the pair
// lookup so that the llama2.c score rule and the Hugging Face rank rule inline their lookups).
//
// Note [BPE merge order]
// llama2.c (run.c encode) and Hugging Face tokenizers (models/bpe/word.rs merge_all) both repeat:
// "merge the adjacent pair with the best key; on equal keys the leftmost pair". llama2.c rescans
// the whole sequence for every merge (O(n^2)); here a doubly linked list over the initial symbols
// plus a min-heap of (key, left position) gives the same merges in O(n log n). A symbol keeps the
// position of its leftmost initial symbol, so list order equals position order and "leftmost" is
// "smallest position". A heap entry is stale when its left symbol died or the pair it saw changed;
// like word.rs we re-look-up the current pair and drop the entry unless it still merges into the
// same id (for llama2.c the key depends only on that id, so the surviving entry is exact).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ostq {

struct BpeCandidate {
  double key = 0;      // lower merges first (llama2.c: -score; Hugging Face: merge rank)
  int32_t merged = -1; // id of the merged symbol
};

// Merges `ids` in place. lookup(left_id, right_id, BpeCandidate*) returns whether the pair merges.
template <typename Lookup>
void bpe_merge(std::vector<int32_t>& ids, const Lookup& lookup) {
  const size_t n = ids.size();
  if (n < 2) return;
  struct Entry {
    double key;
    uint32_t pos;
    int32_t merged;
  };
  // std heap functions build a max-heap; "greater" puts the lowest (key, pos) on top.
  const auto later = [](const Entry& a, const Entry& b) {
    return a.key > b.key || (a.key == b.key && a.pos > b.pos);
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  std::vector<Entry> heap;
  heap.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  BpeCandidate c;
  for (size_t i = 0; i + 1 < n; ++i) {
    if (lookup(ids[i], ids[i + 1], &c)) heap.push_back({c.key, static_cast<uint32_t>(i), c.merged});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  const auto push = [&](int32_t left, int32_t right) {
    if (lookup(ids[left], ids[right], &c)) {
      heap.push_back({c.key, static_cast<uint32_t>(left), c.merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Entry top = heap.back();
    heap.pop_back();
    const int32_t left = static_cast<int32_t>(top.pos);
    if (!alive[left]) continue;
    const int32_t right = next[left];
    if (right < 0) continue;
    if (!lookup(ids[left], ids[right], &c) || c.merged != top.merged) continue;  // stale
    ids[left] = top.merged;
    alive[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    if (prev[left] >= 0) push(prev[left], left);
    if (next[left] >= 0) push(left, next[left]);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) ids[out++] = ids[i];
  ids.resize(out);
}

}  // namespace ostq
