// SPDX-License-Identifier: Apache-2.0
// Text generation with the KV cache: greedy (temperature 0) or sampled (temperature, top-p, seed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/forward.h"
#include "core/tokenizer/tokenizer.h"

namespace ostq {

struct GenerateOptions {
  std::string prompt;        // empty: start from BOS alone
  int64_t steps = 256;       // positions, prompt included (llama2.c semantics); capped at the context
  double temperature = 0.0;  // 0 = greedy (argmax)
  double top_p = 0.9;        // nucleus sampling when temperature > 0; 1 = plain sampling
  uint64_t seed = 42;
  ForwardHooks* hooks = nullptr;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // prompt (with BOS) followed by the generated ids
  int64_t prompt_tokens = 0;
  std::string text;             // decoded text after BOS: prompt echo + continuation
  double seconds = 0.0;
  double tokens_per_s = 0.0;    // generated tokens per second (prefill excluded)
};

// on_text receives each decoded piece as soon as it is known (prompt pieces first); returning
// false stops with a Cancelled status. Stops early at BOS or EOS.
Result<GenerateResult> generate(const Model& model, const Tokenizer& tokenizer, const GenerateOptions& options,
                                const std::function<bool(const std::string&)>& on_text = {});

}  // namespace ostq
