// SPDX-License-Identifier: Apache-2.0
// Cost of one optimizer step of the learned-transform job against the plain work it cannot avoid,
// measured in the same run (issue: "a step costs at most 1.3× a plain teacher forward + student
// forward/backward"):
//   bench_learn [MODEL|synth|synth2] [windows] [seqlen] [bits] [repeats] [both|act|weights]
// synth: the stories110M shape (12 layers, d 768, V 32000), default 1 × 1024 tokens; synth2: the same
// with 2 layers (quick); MODEL: a llama2.c / HF model. Plain baseline = teacher forward (no grad) +
// a forward/backward of the untransformed FP model with its seven linears per layer trainable (the
// cost of any training step on these weights), both with the same head and KL-Top loss. Step =
// teacher + transformed student with STE quantizers + KL-Top + backward + tangent projection +
// clipping + Riemannian Adam / Adam, for both student forms of trainable.h (the job uses the
// activation form unless weights are fake-quantized). Peak resident memory (ru_maxrss) is read
// after each phase alone: plain first, then the activation form, then the weight form; the timings
// then interleave the phases round by round.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "bench_util.h"
#include "core/calib/losses.h"
#include "core/calib/optimizers.h"
#include "core/calib/trainable.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/model/model.h"
#include "core/quant/quant_config.h"

using namespace ostq;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// Every parameter (embedding, layers, norms, head) at 4 bytes, in MiB.
double model_fp32_mb(const Model& m) {
  return static_cast<double>(m.config.parameter_count()) * 4.0 / (1024.0 * 1024.0);
}

// The FP model with its seven linears per layer as fresh leaves requiring grad (embedding, norms
// and head frozen, as in the student).
Model trainable_copy(const Model& m) {
  Model t = m;
  for (LayerWeights& l : t.weights.layers)
    for (LinearId id : kLinearIds) {
      at::Tensor& w = linear_weight(l, id);
      w = w.detach().clone().requires_grad_(true);
    }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string source = argc > 1 ? argv[1] : "synth";
  const int64_t windows = argc > 2 ? std::stoll(argv[2]) : 1;
  const int64_t seqlen = argc > 3 ? std::stoll(argv[3]) : 1024;
  const std::string bits = argc > 4 ? argv[4] : "4-4-4";
  const int repeats = argc > 5 ? std::stoi(argv[5]) : 3;
  const std::string forms = argc > 6 ? argv[6] : "both";  // which student forms to time
  runtime_init();
  std::shared_ptr<Model> m;
  if (source == "synth" || source == "synth2") {
    SynthOptions s = ostq_bench::stories110m_shape();
    if (source == "synth2") s.n_layers = 2;
    m = synth_model(s);
  } else {
    Result<std::shared_ptr<Model>> r = model_load(source);
    if (!r.is_ok()) {
      std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
      return 1;
    }
    m = r.value();
  }
  const ModelConfig& c = m->config;
  const int64_t k = std::min<int64_t>(1000, c.vocab_size);
  QuantConfig config = quant_config_parse(bits, c.head_dim).value();
  at::Generator gen = at::detail::createCPUGenerator(1);
  at::Tensor tokens = torch::randint(3, c.vocab_size, {windows, seqlen}, gen, torch::kLong);
  const double rss_start = peak_rss_mb();
  const bool weight_fq = config.weight.enabled() && !config.quantizes_activations();  // the job's default
  const bool run_act = !weight_fq && forms != "weights", run_w = forms != "act" || weight_fq;

  auto teacher_forward = [&] {
    torch::NoGradGuard g;
    return teacher_topk(model_head(*m, model_forward_hidden(*m, tokens)).view({-1, c.vocab_size}), k);
  };
  ForwardHooks no_hooks;
  auto plain_step = [&](Model& plain) {
    const TeacherTopK t = teacher_forward();
    kl_top_loss_sum(model_head(plain, model_forward_hidden(plain, tokens, &no_hooks)).view({-1, c.vocab_size}), t)
        .backward();
    for (LayerWeights& l : plain.weights.layers)
      for (LinearId id : kLinearIds) linear_weight(l, id).mutable_grad().reset();
  };
  // The optimizer step, exactly the job's sequence of work, in one student form.
  struct Student {
    TrainableTransforms tt;
    RiemannianAdam rot_opt;
    Adam scale_opt;
    std::vector<at::Tensor> params;
    Student(const Model& m, const TransformSet& init, const TrainableSpec& spec)
        : tt(m, init, spec), rot_opt(tt.rotations()), scale_opt(tt.scales()), params(tt.parameters()) {}
  };
  auto make_student = [&](StudentForm form) {
    TrainableSpec spec;
    spec.form = form;
    spec.quantizers = config;
    spec.weight_fake_quant = weight_fq;
    return std::make_unique<Student>(*m, transform_set_random_hadamard(c, 42, config.quantizes_kv()), spec);
  };
  auto student_step = [&](Student& s) {
    TeacherTopK teacher;
    {
      torch::NoGradGuard g;
      teacher = teacher_topk(s.tt.teacher_logits(s.tt.teacher_hidden(tokens).view({-1, c.dim})), k);
    }
    kl_top_loss_sum(s.tt.student_logits(s.tt.student_hidden(tokens).view({-1, c.dim})), teacher).backward();
    project_rotation_gradients(s.tt.rotations());
    clip_grad_norm(s.params, 1.0);
    s.rot_opt.step(1e-3);
    s.scale_opt.step(1e-4);
    for (const at::Tensor& p : s.params) p.mutable_grad().reset();
  };

  // --- peak memory, one phase at a time (ru_maxrss only grows): plain first, then the activation
  // form, then the weight form, each freed before the next ---
  {
    Model plain = trainable_copy(*m);
    plain_step(plain);
  }
  const double rss_plain = peak_rss_mb();
  double rss_act = 0, rss_w = 0;
  if (run_act) {
    student_step(*make_student(StudentForm::kActivations));
    rss_act = peak_rss_mb();
  }
  if (run_w) {
    student_step(*make_student(StudentForm::kWeights));
    rss_w = peak_rss_mb();
  }

  // --- time: the phases interleaved round by round, so that drift in the machine's speed (shared,
  // ±15% between runs) hits the baseline and the steps alike; the ratio is the median of the
  // per-round ratios ---
  Model plain = trainable_copy(*m);
  std::unique_ptr<Student> act = run_act ? make_student(StudentForm::kActivations) : nullptr;
  std::unique_ptr<Student> wgt = run_w ? make_student(StudentForm::kWeights) : nullptr;
  auto seconds = [](auto&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  std::vector<double> t_teacher, t_plain, t_act, t_w, r_act, r_w;
  for (int round = 0; round <= repeats; ++round) {  // round 0 warms up
    const double te = seconds(teacher_forward);
    const double pl = seconds([&] { plain_step(plain); });
    const double ac = act ? seconds([&] { student_step(*act); }) : 0.0;
    const double wf = wgt ? seconds([&] { student_step(*wgt); }) : 0.0;
    if (round == 0) continue;
    t_teacher.push_back(te);
    t_plain.push_back(pl);
    t_act.push_back(ac);
    t_w.push_back(wf);
    r_act.push_back(ac / pl);
    r_w.push_back(wf / pl);
  }

  const double model_mb = model_fp32_mb(*m);
  const double activations = std::max(0.0, rss_plain - rss_start);
  auto over_model = [&](double rss) { return (rss - rss_start - activations) / model_mb; };
  const double tokens_n = static_cast<double>(windows * seqlen);
  std::printf("bench_learn %s: %lld x %lld tokens, %s, KL-Top k=%lld, %d threads, median of %d interleaved rounds\n",
              source.c_str(), static_cast<long long>(windows), static_cast<long long>(seqlen), bits.c_str(),
              static_cast<long long>(k), at::get_num_threads(), repeats);
  std::printf("  teacher forward + head (no grad)            %8.3f s\n", median(t_teacher));
  std::printf("  plain: teacher + FP fwd/bwd (baseline)      %8.3f s  1.00x\n", median(t_plain));
  std::printf("  optimizer step = teacher + STE student + KL-Top + bwd + projection + clip + RAdam/Adam\n"
              "  (ratio = median over rounds of step / plain in the same round):\n");
  if (run_act) {
    std::printf("    activation-form student (the job's)       %8.3f s  %5.2fx  (goal <= 1.30x)  %.0f tokens/s\n",
                median(t_act), median(r_act), tokens_n / median(t_act));
  }
  if (run_w) {
    std::printf("    weight-form student%s %8.3f s  %5.2fx  %.0f tokens/s\n",
                weight_fq ? " (the job's: weight fake-quant)" : " (merged weights)       ", median(t_w), median(r_w),
                tokens_n / median(t_w));
  }
  // The plain phase's peak is the model plus what any training step on these weights holds
  // (activations, weight gradients); a step's peak on top of it is what the transforms,
  // quantizers and optimizer states add.
  std::printf("  model fp32 %.0f MB; peak RSS: at start %.0f MB, plain phase %.0f MB (+%.0f MB activations and\n"
              "  gradients)\n",
              model_mb, rss_start, rss_plain, activations);
  if (run_act) {
    std::printf("    activation-form step %.0f MB = start + %.2fx model + plain's activations (goal < 3x)\n", rss_act,
                over_model(rss_act));
  }
  if (run_w) {
    std::printf("    weight-form step     %.0f MB = start + %.2fx model + plain's activations\n", rss_w, over_model(rss_w));
  }
  return 0;
}
