// SPDX-License-Identifier: Apache-2.0
// Perplexity on a text file (OSTQUANT_SPEC.md §11.1): the text tokenized once with one BOS in
// front, cut into non-overlapping windows of `seqlen` tokens (remainder dropped), NLL over
// positions 1 … seqlen-1 of each window, PPL = exp(mean NLL over all predicted tokens).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/forward.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/progress.h"

namespace ostq {

// How the file becomes one string before tokenization.
enum class TextProtocol {
  kPlain,  // the whole file as-is (llama.cpp style; the shared/data reference numbers)
  kRows,   // WikiText rows as the usual HF loader gives them: each line with its "\n",
           // whitespace-only lines as "", joined with "\n\n"
};
const char* text_protocol_name(TextProtocol p);
Result<TextProtocol> text_protocol_parse(const std::string& name);  // "plain" | "rows"

// The default window: min(2048, model context) (§11.1; shorter-context models use their context).
int64_t default_window_length(const ModelConfig& config);

struct PerplexityOptions {
  int64_t seqlen = 0;        // 0: min(2048, model context)
  TextProtocol protocol = TextProtocol::kPlain;
  int64_t max_windows = 0;   // 0: all windows
  int64_t first_window = 0;  // skip this many windows (e.g. the calibration part)
  int64_t batch = 1;         // windows per forward; does not change the result
  ForwardHooks* hooks = nullptr;
  ProgressFn progress;
};

struct PerplexityResult {
  double ppl = 0.0;
  double mean_nll = 0.0;        // nats per predicted token
  int64_t tokens = 0;           // tokens in the text, BOS included
  int64_t predicted = 0;        // tokens scored
  int64_t windows = 0;
  int64_t seqlen = 0;
  double seconds = 0.0;         // forward + loss time (tokenization excluded)
  double tokens_per_s = 0.0;    // window tokens processed per second
  double tokenize_seconds = 0.0;
  std::string protocol;
  std::vector<double> window_mean_nll;
};

// Reads and validates (UTF-8, non-empty) the text at `path`, tokenizes it and evaluates.
Result<PerplexityResult> perplexity_evaluate_file(const Model& model, const Tokenizer& tokenizer,
                                                  const std::string& path, const PerplexityOptions& options);

// Evaluates an already tokenized stream (BOS included by the caller).
Result<PerplexityResult> perplexity_evaluate_tokens(const Model& model, const std::vector<int32_t>& tokens,
                                                    const PerplexityOptions& options);

// The file as one string per `protocol`; throws StatusError naming the file when it is empty or
// not UTF-8.
std::string load_eval_text(const std::string& path, TextProtocol protocol);

}  // namespace ostq
