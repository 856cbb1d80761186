// SPDX-License-Identifier: Apache-2.0
#include "core/eval/calibration.h"

#include <torch/types.h>

#include <algorithm>
#include <random>

#include "core/util/status.h"

namespace ostq {

std::vector<int32_t> tokenize_text_file(const Tokenizer& tokenizer, const std::string& path, TextProtocol protocol) {
  std::string text = load_eval_text(path, protocol);
  return tokenizer.encode(text, /*add_bos=*/true);
}

namespace {

// `what` names the text in the error for a range shorter than one window.
void check_range(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                 const std::string& what = "calibration text") {
  if (begin < 0 || end > static_cast<int64_t>(tokens.size()) || begin > end) {
    throw StatusError(Status::internal("calibration token range out of bounds"));
  }
  if (seqlen < 2) throw_invalid("calibration windows need at least 2 tokens");
  if (end - begin < seqlen) {
    throw_invalid(what + " has " + std::to_string(end - begin) + " tokens: fewer than one window of " +
                  std::to_string(seqlen));
  }
}

}  // namespace

at::Tensor sample_windows(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                          int64_t count, uint64_t seed) {
  check_range(tokens, begin, end, seqlen);
  std::mt19937_64 rng(seed);
  const uint64_t starts = static_cast<uint64_t>(end - begin - seqlen + 1);
  at::Tensor out = torch::empty({count, seqlen}, torch::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t s = begin + static_cast<int64_t>(rng() % starts);
    for (int64_t j = 0; j < seqlen; ++j) p[i * seqlen + j] = tokens[static_cast<size_t>(s + j)];
  }
  return out;
}

CalibrationWindows sample_windows_with_held_out(const std::vector<int32_t>& tokens, int64_t begin, int64_t end,
                                                int64_t seqlen, int64_t count, int64_t held_out, uint64_t seed,
                                                const std::string& source) {
  check_range(tokens, begin, end, seqlen, source + ": calibration text");
  const std::string random = " tokens at seeded random starts in tokens [" + std::to_string(begin) + ", ";
  held_out = std::max<int64_t>(0, held_out);
  const int64_t split = end - held_out * seqlen;  // first held-out token
  CalibrationWindows out;
  out.held_out_begin = split;
  if (held_out == 0) {
    out.windows = sample_windows(tokens, begin, end, seqlen, count, seed);
    out.description = std::to_string(count) + " x " + std::to_string(seqlen) + random + std::to_string(end) + ")";
    return out;
  }
  if (held_out >= count) {
    throw_invalid(source + ": " + std::to_string(held_out) + " held-out windows leave none of the " +
                  std::to_string(count) + " calibration windows to train on");
  }
  if (split - begin < seqlen) {
    throw_invalid(source + ": " + std::to_string(end - begin) + " tokens of calibration text, too few for " +
                  std::to_string(held_out) + " held-out windows of " + std::to_string(seqlen) +
                  " tokens plus one training window");
  }
  const at::Tensor train = sample_windows(tokens, begin, split, seqlen, count - held_out, seed);
  const at::Tensor held = consecutive_windows(tokens, split, end, seqlen, held_out);
  out.windows = torch::cat({train, held});
  out.description = std::to_string(count - held_out) + " x " + std::to_string(seqlen) + random +
                    std::to_string(split) + ") + " + std::to_string(held_out) +
                    " held-out consecutive windows on tokens [" + std::to_string(split) + ", " +
                    std::to_string(end) + ")";
  return out;
}

at::Tensor consecutive_windows(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                               int64_t count) {
  check_range(tokens, begin, end, seqlen);
  const int64_t n = std::min(count, (end - begin) / seqlen);
  std::vector<int64_t> ids(tokens.begin() + begin, tokens.begin() + begin + n * seqlen);
  return torch::tensor(ids, torch::kLong).view({n, seqlen});
}

}  // namespace ostq
