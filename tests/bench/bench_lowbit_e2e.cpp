// SPDX-License-Identifier: Apache-2.0
// End-to-end perplexity-evaluation throughput on the stories110M shape (d 768, 12 layers, 12 heads,
// d_ff 2048, vocab 32000; seeded random weights) quantized with RTN to 4-4-4 and 4-16-16: the
// kernel path (LowBitExecutor: integer codes through kernels/lowbit.h) against the fp32 model and
// the fake-quant path (dequantized weights + ActivationQuantHooks), medians in one run.
// Usage: bench_lowbit_e2e [windows 2] [seqlen 256] [repeats 3] [threads 0 = all]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_util.h"
#include "core/engine/lowbit_linear.h"
#include "core/engine/runtime.h"
#include "core/eval/perplexity.h"
#include "core/model/synth.h"
#include "core/quant/methods.h"

using namespace ostq;
using ostq_bench::median_seconds;

namespace {

struct Row {
  double seconds = 0.0, ppl = 0.0;
};

// Median seconds of perplexity evaluation over `tokens` (and the PPL it gives).
Row measure(const Model& model, ForwardHooks* hooks, const std::vector<int32_t>& tokens, int64_t windows,
            int64_t seqlen, int repeats) {
  PerplexityOptions o;
  o.seqlen = seqlen;
  o.max_windows = windows;
  o.hooks = hooks;
  Row row;
  row.seconds = median_seconds(repeats, [&] {
    Result<PerplexityResult> r = perplexity_evaluate_tokens(model, tokens, o);
    if (!r.is_ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      std::exit(1);
    }
    row.ppl = r->ppl;
  });
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t windows = argc > 1 ? std::atoll(argv[1]) : 2;
  const int64_t seqlen = argc > 2 ? std::atoll(argv[2]) : 256;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  runtime_init(argc > 4 ? std::atoi(argv[4]) : 0);
  torch::NoGradGuard no_grad;
  std::printf("bench_lowbit_e2e: %s\n", runtime_description().c_str());
  const SynthOptions s = ostq_bench::stories110m_shape();
  std::shared_ptr<Model> fp = synth_model(s);
  at::Generator gen = at::detail::createCPUGenerator(1234);
  const at::Tensor t = torch::randint(3, s.vocab_size, {windows * seqlen}, gen, torch::kInt);
  const std::vector<int32_t> tokens(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + t.numel());
  const double n_tokens = static_cast<double>(windows * seqlen);
  std::printf("model stories110M shape (%s), %lld windows x %lld tokens, median of %d\n", fp->config.summary().c_str(),
              static_cast<long long>(windows), static_cast<long long>(seqlen), repeats);

  const Row fp_row = measure(*fp, nullptr, tokens, windows, seqlen, repeats);
  std::printf("| config | path | tokens/s | ppl | vs fp32 | vs fake-quant |\n|---|---|---:|---:|---:|---:|\n");
  std::printf("| fp32 | dense | %.0f | %.3f | 1.00 | |\n", n_tokens / fp_row.seconds, fp_row.ppl);

  // RTN weights do not depend on the activation bits: quantize once (4-4-4), reuse for 4-16-16.
  QuantizeOptions qo;
  qo.method = method_spec_parse("rtn").value();
  qo.config = quant_config_parse("4-4-4", fp->config.head_dim).value();
  Result<QuantizedModel> q444 = quantize_model(*fp, qo);
  if (!q444.is_ok()) {
    std::fprintf(stderr, "%s\n", q444.status().to_string().c_str());
    return 1;
  }
  QuantizedModel q41616 = q444.value();
  q41616.config = quant_config_parse("4-16-16", fp->config.head_dim).value();
  std::vector<std::string> summaries;
  for (const QuantizedModel* q : {&q444.value(), &q41616}) {
    ActivationQuantHooks fake_hooks(q->config);
    const Row fake = measure(*q->model, &fake_hooks, tokens, windows, seqlen, repeats);
    LowBitExecutor kernel_hooks(*q);
    const Row kernel = measure(*q->model, &kernel_hooks, tokens, windows, seqlen, repeats);
    const char* bits = q->config.bits.c_str();
    std::printf("| %s | fake-quant | %.0f | %.3f | %.2f | 1.00 |\n", bits, n_tokens / fake.seconds, fake.ppl,
                fp_row.seconds / fake.seconds);
    std::printf("| %s | kernels | %.0f | %.3f | %.2f | %.2f |\n", bits, n_tokens / kernel.seconds, kernel.ppl,
                fp_row.seconds / kernel.seconds, fake.seconds / kernel.seconds);
    summaries.push_back(std::string(bits) + ": " + kernel_hooks.summary());
  }
  for (const std::string& line : summaries) std::printf("%s\n", line.c_str());
  return 0;
}
