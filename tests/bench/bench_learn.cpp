// SPDX-License-Identifier: Apache-2.0
// Where a training step of the learned-transform job spends its time, against a plain FP forward
// of the same windows measured in the same run:
//   bench_learn [MODEL|synth] [windows] [seqlen] [bits] [repeats]
// MODEL: a llama2.c / HF model (e.g. ../shared/models/stories260K.bin); "synth": the stories110M
// shape (2 layers, to keep it short). Prints medians and ratios to the FP forward.
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "bench_util.h"
#include "core/calib/losses.h"
#include "core/calib/trainable.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/quant/quant_config.h"

using namespace ostq;

int main(int argc, char** argv) {
  const std::string source = argc > 1 ? argv[1] : "synth";
  const int64_t windows = argc > 2 ? std::stoll(argv[2]) : 4;
  const int64_t seqlen = argc > 3 ? std::stoll(argv[3]) : 256;
  const std::string bits = argc > 4 ? argv[4] : "4-4-4";
  const int repeats = argc > 5 ? std::stoi(argv[5]) : 3;
  std::shared_ptr<Model> m;
  if (source == "synth") {
    SynthOptions s = ostq_bench::stories110m_shape();
    s.n_layers = 2;
    m = synth_model(s);
  } else {
    Result<std::shared_ptr<Model>> r = model_load(source);
    if (!r.is_ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      return 1;
    }
    m = r.value();
  }
  runtime_init();
  const ModelConfig& c = m->config;
  QuantConfig config = quant_config_parse(bits, c.head_dim).value();
  at::Generator gen = at::detail::createCPUGenerator(1);
  at::Tensor tokens = torch::randint(3, c.vocab_size, {windows, seqlen}, gen, torch::kLong);
  TrainableTransforms tt(*m, transform_set_random_hadamard(c, 42, config.quantizes_kv()), TrainableSpec{});
  ActivationQuantHooks ste(config, /*ste=*/true);
  ForwardHooks plain;

  const double fp = ostq_bench::median_seconds(repeats, [&] {
    torch::NoGradGuard g;
    model_forward(*m, tokens);
  });
  const double teacher = ostq_bench::median_seconds(repeats, [&] { tt.teacher_logits(tt.teacher_hidden(tokens)); });
  const double student_plain = ostq_bench::median_seconds(repeats, [&] {
    torch::NoGradGuard g;
    tt.student_logits(tt.student_hidden(tokens, plain));
  });
  const double student_fwd = ostq_bench::median_seconds(repeats, [&] { tt.student_hidden(tokens, ste); });
  const double student_step = ostq_bench::median_seconds(repeats, [&] {
    at::Tensor h = tt.student_hidden(tokens, ste);
    at::Tensor t = tt.teacher_hidden(tokens);
    at::Tensor loss = kl_top_loss_sum(tt.student_logits(h.view({-1, c.dim})),
                                      teacher_topk(tt.teacher_logits(t.view({-1, c.dim})), 1000));
    loss.backward();
  });
  std::printf("bench_learn %s: %lld windows x %lld tokens, %s, %d threads\n", source.c_str(),
              static_cast<long long>(windows), static_cast<long long>(seqlen), bits.c_str(), at::get_num_threads());
  std::printf("  FP forward (baseline)            %8.4f s  1.00x\n", fp);
  std::printf("  teacher forward + head           %8.4f s  %5.2fx\n", teacher, teacher / fp);
  std::printf("  student forward, no quantizers   %8.4f s  %5.2fx\n", student_plain, student_plain / fp);
  std::printf("  student forward, STE quantizers  %8.4f s  %5.2fx\n", student_fwd, student_fwd / fp);
  std::printf("  full step (both + KL-Top + bwd)  %8.4f s  %5.2fx  %.0f tokens/s\n", student_step, student_step / fp,
              static_cast<double>(windows * seqlen) / student_step);
  return 0;
}
