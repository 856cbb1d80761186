// SPDX-License-Identifier: Apache-2.0
#include "core/eval/calibration.h"

#include <torch/types.h>

#include <random>

#include "core/util/status.h"

namespace ostq {

std::vector<int32_t> tokenize_text_file(const Tokenizer& tokenizer, const std::string& path, TextProtocol protocol) {
  std::string text = load_eval_text(path, protocol);
  return tokenizer.encode(text, /*add_bos=*/true);
}

namespace {

void check_range(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen) {
  if (begin < 0 || end > static_cast<int64_t>(tokens.size()) || begin > end) {
    throw StatusError(Status::internal("calibration token range out of bounds"));
  }
  if (seqlen < 2) throw_invalid("calibration windows need at least 2 tokens");
  if (end - begin < seqlen) {
    throw_invalid("calibration text has " + std::to_string(end - begin) + " tokens: fewer than one window of " +
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

at::Tensor consecutive_windows(const std::vector<int32_t>& tokens, int64_t begin, int64_t end, int64_t seqlen,
                               int64_t count) {
  check_range(tokens, begin, end, seqlen);
  const int64_t n = std::min(count, (end - begin) / seqlen);
  std::vector<int64_t> ids(tokens.begin() + begin, tokens.begin() + begin + n * seqlen);
  return torch::tensor(ids, torch::kLong).view({n, seqlen});
}

}  // namespace ostq
