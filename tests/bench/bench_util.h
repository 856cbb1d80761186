// SPDX-License-Identifier: Apache-2.0
// Shared by the benchmark executables: median timing with a warm-up, and the synthetic
// stories110M shape every benchmark measures on.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/model/synth.h"

namespace ostq_bench {

// Runs fn once to warm up (caches, lazily built tables), then `repeats` times; the median seconds.
template <typename Fn>
double median_seconds(int repeats, Fn&& fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// d 768, 12 layers, 12 heads, FFN 2048, vocab 32000, context 1024 (seeded random weights).
inline ostq::SynthOptions stories110m_shape() {
  ostq::SynthOptions s;
  s.dim = 768;
  s.n_layers = 12;
  s.n_heads = 12;
  s.hidden_dim = 2048;
  s.vocab_size = 32000;
  s.max_seq_len = 1024;
  return s;
}

}  // namespace ostq_bench
