// SPDX-License-Identifier: Apache-2.0
// Calibration windows (OSTQUANT_SPEC.md §5.3, §8.1): a text file tokenized once, then windows of
// the model's context drawn at seeded random starts from a token range, so calibration and
// evaluation can take disjoint parts of one file.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/perplexity.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

// The file as perplexity tokenizes it (protocol, one BOS in front). Throws naming the file.
std::vector<int32_t> tokenize_text_file(const Tokenizer& tokenizer, const std::string& path, TextProtocol protocol);

// `count` windows of `seqlen` tokens starting at seeded random positions in [begin, end − seqlen]
// (a portable mt19937_64 draw): int64 [count, seqlen]. Throws (invalid) when the range is
// shorter than one window.
at::Tensor sample_windows(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                          int64_t count, uint64_t seed);

// Training windows plus held-out windows on text the training windows never touch (for
// LearnOptions::validation_windows, which takes the last `held_out` rows as held out).
struct CalibrationWindows {
  at::Tensor windows;          // int64 [count, seqlen]: count − held_out training rows, then the held_out rows
  int64_t held_out_begin = 0;  // first token of the held-out text (the range's end when held_out = 0)
  std::string description;     // "96 x 256 tokens at seeded random starts in tokens [0, 70656) + 32 held-out …"
};

// The held-out windows are the last held_out·seqlen tokens of [begin, end), cut into consecutive
// non-overlapping windows; the count − held_out training windows are drawn as sample_windows does
// from what is before them. held_out = 0 gives exactly sample_windows(…, count, seed). Throws
// (invalid, naming `source`: the file(s) the tokens came from) when the range is shorter than a window,
// held_out ≥ count, or the range cannot hold the held-out text plus one window.
CalibrationWindows sample_windows_with_held_out(const std::vector<int32_t>& tokens, int64_t begin, int64_t end,
                                                int64_t seqlen, int64_t count, int64_t held_out, uint64_t seed,
                                                const std::string& source);

// The first `count` consecutive non-overlapping windows of tokens[begin, end): [n, seqlen] with
// n = min(count, (end − begin) / seqlen). For deterministic analyses.
at::Tensor consecutive_windows(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                               int64_t count);

}  // namespace ostq
