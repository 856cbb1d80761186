// SPDX-License-Identifier: Apache-2.0
#include "core/engine/generate.h"

#include <torch/types.h>

#include "core/engine/runtime.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

namespace ostq {

namespace {

// Next token from fp32 logits [V].
int32_t sample_next(const at::Tensor& logits, const GenerateOptions& o, std::mt19937_64& rng) {
  if (o.temperature <= 0.0) return static_cast<int32_t>(logits.argmax().item<int64_t>());
  at::Tensor probs = torch::softmax(logits.to(at::kDouble) / o.temperature, -1).contiguous();
  const double* p = probs.data_ptr<double>();
  const int64_t V = probs.numel();
  std::vector<int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  // Nucleus: the smallest prefix of the sorted vocabulary whose mass reaches top_p.
  double mass = 0.0;
  int64_t keep = V;
  if (o.top_p > 0.0 && o.top_p < 1.0) {
    for (int64_t i = 0; i < V; ++i) {
      mass += p[order[i]];
      if (mass >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  } else {
    mass = 1.0;
  }
  double r = std::uniform_real_distribution<double>(0.0, mass)(rng);
  for (int64_t i = 0; i < keep; ++i) {
    r -= p[order[i]];
    if (r <= 0.0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace

Result<GenerateResult> generate(const Model& model, const Tokenizer& tokenizer, const GenerateOptions& o,
                                const std::function<bool(const std::string&)>& on_text) {
  return status_guard([&]() -> GenerateResult {
    torch::NoGradGuard no_grad;
    const ModelConfig& c = model.config;
    BlasThreadsForModel blas_threads(c.dim, c.hidden_dim);
    GenerateResult result;
    std::vector<int32_t> prompt = tokenizer.encode(o.prompt, /*add_bos=*/true);
    if (prompt.empty()) {
      if (c.bos_id < 0) throw_invalid("this model has no BOS token: give a --prompt to start from");
      prompt.push_back(c.bos_id);
    }
    const int64_t steps = std::min<int64_t>(o.steps, c.max_seq_len);
    if (static_cast<int64_t>(prompt.size()) > steps) {
      throw_invalid("prompt has " + std::to_string(prompt.size()) + " tokens, more than --steps " +
                    std::to_string(steps));
    }
    check_token_ids(c, prompt);
    result.tokens = prompt;
    result.prompt_tokens = static_cast<int64_t>(prompt.size());
    auto emit = [&](int32_t prev, int32_t next) {
      std::string piece = tokenizer.decode_piece(prev, next);
      result.text += piece;
      if (on_text && !on_text(piece)) throw_cancelled();
    };
    for (size_t i = 1; i < prompt.size(); ++i) emit(prompt[i - 1], prompt[i]);

    std::mt19937_64 rng(o.seed);
    KvCache cache = kv_cache_create(model, 1, steps);
    ForwardOptions fo{&cache, o.hooks, LogitsMode::kLast};
    auto t0 = std::chrono::steady_clock::now();
    // Prefill the whole prompt at once, then one position per step.
    at::Tensor logits = model_forward(model, torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()),
                                                           torch::kLong).view({1, -1}), fo);
    auto t_prefill = std::chrono::steady_clock::now();
    int64_t generated = 0;
    while (static_cast<int64_t>(result.tokens.size()) <= steps) {
      int32_t next = sample_next(logits.view({-1}), o, rng);
      if (next == c.bos_id || next == c.eos_id) break;
      emit(result.tokens.back(), next);
      result.tokens.push_back(next);
      ++generated;
      if (static_cast<int64_t>(result.tokens.size()) > steps || cache.length >= steps) break;
      logits = model_forward(model, torch::full({1, 1}, static_cast<int64_t>(next), torch::kLong), fo);
    }
    auto t1 = std::chrono::steady_clock::now();
    result.seconds = std::chrono::duration<double>(t1 - t0).count();
    double decode_s = std::chrono::duration<double>(t1 - t_prefill).count();
    result.tokens_per_s = decode_s > 0 ? static_cast<double>(generated) / decode_s : 0.0;
    return result;
  });
}

}  // namespace ostq
