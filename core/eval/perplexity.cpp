// SPDX-License-Identifier: Apache-2.0
#include "core/eval/perplexity.h"

#include <torch/types.h>

#include "core/engine/runtime.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/util/file_util.h"
#include "core/util/utf8.h"

namespace ostq {

const char* text_protocol_name(TextProtocol p) { return p == TextProtocol::kRows ? "rows" : "plain"; }

Result<TextProtocol> text_protocol_parse(const std::string& name) {
  if (name == "plain") return TextProtocol::kPlain;
  if (name == "rows") return TextProtocol::kRows;
  return Status::invalid_input("unknown text protocol '" + name + "' (expected plain or rows)");
}

std::string load_eval_text(const std::string& path, TextProtocol protocol) {
  std::string text = read_file(path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid(path + ": the data file is empty (no text to evaluate)");
  }
  size_t bad = utf8_first_invalid(text);
  if (bad != std::string::npos) {
    throw_invalid(path + ": not valid UTF-8 (first bad byte at offset " + std::to_string(bad) + ")");
  }
  if (protocol == TextProtocol::kPlain) return text;
  std::string joined;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::string row = line.find_first_not_of(" \t\r") == std::string::npos ? "" : line + "\n";
    if (!first) joined += "\n\n";
    joined += row;
    first = false;
  }
  return joined;
}

int64_t default_window_length(const ModelConfig& config) { return std::min<int64_t>(2048, config.max_seq_len); }

Result<PerplexityResult> perplexity_evaluate_tokens(const Model& model, const std::vector<int32_t>& tokens,
                                                    const PerplexityOptions& o) {
  return status_guard([&]() -> PerplexityResult {
    torch::NoGradGuard no_grad;
    const ModelConfig& c = model.config;
    BlasThreadsForModel blas_threads(c.dim, c.hidden_dim);
    PerplexityResult r;
    r.protocol = text_protocol_name(o.protocol);
    r.seqlen = o.seqlen > 0 ? o.seqlen : default_window_length(c);
    if (r.seqlen < 2) throw_invalid("--seqlen must be at least 2");
    if (r.seqlen > c.max_seq_len) {
      throw_invalid("--seqlen " + std::to_string(r.seqlen) + " exceeds the model context of " +
                    std::to_string(c.max_seq_len));
    }
    r.tokens = static_cast<int64_t>(tokens.size());
    int64_t available = r.tokens / r.seqlen - o.first_window;
    if (available <= 0) {
      throw_invalid("the text has " + std::to_string(r.tokens) + " tokens: not enough for one window of " +
                    std::to_string(r.seqlen) + " (try a smaller --seqlen)");
    }
    r.windows = o.max_windows > 0 ? std::min(available, o.max_windows) : available;
    check_token_ids(c, tokens);
    at::Tensor all = torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), torch::kLong);
    const int64_t batch = std::max<int64_t>(1, o.batch);
    double nll_sum = 0.0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t w0 = 0; w0 < r.windows; w0 += batch) {
      const int64_t nb = std::min(batch, r.windows - w0);
      at::Tensor input = all.narrow(0, (o.first_window + w0) * r.seqlen, nb * r.seqlen).view({nb, r.seqlen});
      ForwardOptions fo;
      fo.hooks = o.hooks;
      at::Tensor logits = model_forward(model, input, fo);  // [nb, L, V] fp32
      at::Tensor logp = torch::log_softmax(logits.narrow(1, 0, r.seqlen - 1), -1);
      at::Tensor target = input.narrow(1, 1, r.seqlen - 1).unsqueeze(-1);
      at::Tensor nll = -logp.gather(-1, target).squeeze(-1).to(at::kDouble);  // [nb, L-1]
      at::Tensor per_window = nll.mean(1);
      for (int64_t b = 0; b < nb; ++b) {
        double m = per_window[b].item<double>();
        if (!std::isfinite(m)) throw_invalid("non-finite loss in window " + std::to_string(w0 + b) +
                                             " (the model produced NaN/Inf logits)");
        r.window_mean_nll.push_back(m);
        nll_sum += m * static_cast<double>(r.seqlen - 1);
      }
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double done = static_cast<double>(w0 + nb);
      std::ostringstream detail;
      detail << "window " << (w0 + nb) << "/" << r.windows << ", ppl " << std::exp(nll_sum / (done * (r.seqlen - 1)))
             << ", " << static_cast<int64_t>(done * r.seqlen / std::max(elapsed, 1e-9)) << " tok/s";
      report_progress(o.progress, done / static_cast<double>(r.windows), "evaluate", detail.str());
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.predicted = r.windows * (r.seqlen - 1);
    r.mean_nll = nll_sum / static_cast<double>(r.predicted);
    r.ppl = std::exp(r.mean_nll);
    r.tokens_per_s = static_cast<double>(r.windows * r.seqlen) / std::max(r.seconds, 1e-9);
    return r;
  });
}

Result<PerplexityResult> perplexity_evaluate_file(const Model& model, const Tokenizer& tokenizer,
                                                  const std::string& path, const PerplexityOptions& o) {
  std::vector<int32_t> tokens;
  double tokenize_s = 0.0;
  Status st = status_guard([&] {
    std::string text = load_eval_text(path, o.protocol);
    report_progress(o.progress, 0.0, "tokenize", path);
    auto t0 = std::chrono::steady_clock::now();
    tokens = tokenizer.encode(text, /*add_bos=*/true);
    tokenize_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  if (!st.is_ok()) return st;
  Result<PerplexityResult> r = perplexity_evaluate_tokens(model, tokens, o);
  if (r.is_ok()) r->tokenize_seconds = tokenize_s;
  return r;
}

}  // namespace ostq
