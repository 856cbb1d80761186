// SPDX-License-Identifier: Apache-2.0
// The training loop of learn.h. One step: for each micro-batch, teacher forward (no grad),
// student forward with STE fake quantizers, loss over the vocabulary in chunks of positions
// (backward per chunk into the final hidden state, then one backward through the model), then
// global clipping, the optimiser steps and the learning-rate schedule.
#include "core/calib/learn.h"

#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/calib/checkpoint.h"
#include "core/calib/optimizers.h"
#include "core/calib/trainable.h"
#include "core/calib/womi.h"
#include "core/util/file_util.h"

namespace ostq {

const char* learned_method_name(LearnedMethod m) {
  return m == LearnedMethod::kSpinQuant ? "spinquant" : "ostquant";
}

const char* rotation_init_name(RotationInit init) {
  switch (init) {
    case RotationInit::kAuto: return "auto";
    case RotationInit::kWomi: return "womi";
    case RotationInit::kHadamard: return "hadamard";
  }
  return "?";
}

Result<RotationInit> rotation_init_parse(const std::string& text) {
  for (RotationInit i : {RotationInit::kAuto, RotationInit::kWomi, RotationInit::kHadamard}) {
    if (text == rotation_init_name(i)) return i;
  }
  return Status::invalid_input("unknown rotation init '" + text + "' (womi, hadamard, auto)");
}

LearnSettings resolve_learn_settings(const LearnOptions& o, const QuantConfig& config) {
  LearnSettings s;
  const bool spin = o.method == LearnedMethod::kSpinQuant;
  s.method = o.method;
  s.steps = o.steps;
  s.batch = o.batch > 0 ? o.batch : spin ? 8 : (config.quantizes_activations() ? 32 : 16);
  s.micro_batch = std::clamp<int64_t>(o.micro_batch > 0 ? o.micro_batch : s.batch, 1, s.batch);
  s.lr_rotation = o.lr_rotation > 0 ? o.lr_rotation : spin ? kSpinQuantRotationLr : kOstQuantRotationLr;
  s.lr_scale = spin ? 0.0 : (o.lr_scale > 0 ? o.lr_scale : kOstQuantScaleLr);
  s.grad_clip = o.grad_clip;
  s.loss = o.loss.value_or(spin ? LossKind::kCrossEntropy : LossKind::kKlTop);
  s.topk = o.topk;
  s.learn_scales = !spin && o.learn_scales;
  if (spin) {
    s.init = RotationInit::kHadamard;  // SpinQuant starts from random Hadamards
  } else if (o.init == RotationInit::kAuto) {
    s.init = config.quantizes_activations() ? RotationInit::kWomi : RotationInit::kHadamard;
  } else {
    s.init = o.init;
  }
  s.weight_fake_quant = o.weight_fake_quant.value_or(config.weight.enabled() && !config.quantizes_activations());
  s.seed = o.seed;
  s.online_ffn_hadamard = o.online_ffn_hadamard;
  return s;
}

std::string LearnSettings::describe() const {
  char buf[400];
  std::snprintf(buf, sizeof(buf),
                "%s: %lld steps × %lld windows (micro-batch %lld), init %s, loss %s%s, lr rot %.4g%s, %s, "
                "clip %.3g, weight fake-quant %s%s, seed %llu",
                learned_method_name(method), static_cast<long long>(steps), static_cast<long long>(batch),
                static_cast<long long>(micro_batch), rotation_init_name(init), loss_kind_name(loss),
                loss == LossKind::kKlTop ? (" k=" + std::to_string(topk)).c_str() : "", lr_rotation,
                learn_scales ? (" / scale " + std::to_string(lr_scale).substr(0, 9)).c_str() : " (no scales)",
                method == LearnedMethod::kSpinQuant ? "Cayley SGD, cosine" : "Riemannian Adam + Adam, linear decay",
                grad_clip, weight_fake_quant ? "on" : "off", online_ffn_hadamard ? "" : ", no online H_ff",
                static_cast<unsigned long long>(seed));
  return buf;
}

std::string learn_log_csv(const std::vector<StepRecord>& log) {
  std::string out = "step,loss,lr_rotation,lr_scale,grad_norm,orthogonality_error,seconds\n";
  char buf[256];
  for (const StepRecord& r : log) {
    std::snprintf(buf, sizeof(buf), "%lld,%.9g,%.9g,%.9g,%.9g,%.3g,%.4f\n", static_cast<long long>(r.step), r.loss,
                  r.lr_rotation, r.lr_scale, r.grad_norm, r.orthogonality_error, r.seconds);
    out += buf;
  }
  return out;
}

namespace {

// Deterministic shuffled order: the sample at global position p (step·batch + j) is
// order(epoch = p / N)[p % N]; each epoch is a Fisher–Yates shuffle seeded by (seed, epoch).
class WindowOrder {
 public:
  WindowOrder(int64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  int64_t at(int64_t position) {
    const int64_t epoch = position / n_;
    if (epoch != epoch_) {
      perm_.resize(static_cast<size_t>(n_));
      for (int64_t i = 0; i < n_; ++i) perm_[i] = i;
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
      for (int64_t i = n_ - 1; i > 0; --i) std::swap(perm_[i], perm_[rng() % static_cast<uint64_t>(i + 1)]);
      epoch_ = epoch;
    }
    return perm_[position % n_];
  }

 private:
  int64_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

// Positions per loss chunk: keeps one chunk's fp32 logits (plus softmax temporaries) near 32 MB.
int64_t loss_chunk_positions(int64_t vocab) { return std::max<int64_t>(16, (32LL << 20) / (4 * vocab * 3)); }

// One micro-batch: forward both models, loss in chunks, backward. Gradients accumulate into the
// parameters. Returns the micro-batch's loss sum (before dividing by `norm`).
double micro_step(const TrainableTransforms& tt, const at::Tensor& tokens, const LearnSettings& s, int64_t vocab,
                  double norm) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  at::Tensor teacher = s.loss == LossKind::kCrossEntropy ? at::Tensor() : tt.teacher_hidden(tokens);
  at::Tensor student = tt.student_hidden(tokens);  // [B, T, d] with graph
  at::Tensor leaf = student.detach().requires_grad_(true);
  const int64_t d = leaf.size(2), P = B * T;
  at::Tensor flat_s = leaf.view({P, d});
  at::Tensor flat_t = teacher.defined() ? teacher.reshape({P, d}) : at::Tensor();
  at::Tensor labels;
  if (s.loss == LossKind::kCrossEntropy) {  // next token; the last position of a window has none
    labels = torch::full({B, T}, -1, torch::kLong);
    labels.narrow(1, 0, T - 1).copy_(tokens.narrow(1, 1, T - 1));
    labels = labels.view({P});
  }
  const int64_t chunk = loss_chunk_positions(vocab);
  double total = 0.0;
  for (int64_t p0 = 0; p0 < P; p0 += chunk) {
    const int64_t n = std::min(chunk, P - p0);
    at::Tensor logits = tt.student_logits(flat_s.narrow(0, p0, n));
    at::Tensor loss;
    switch (s.loss) {
      case LossKind::kKlTop:
        loss = kl_top_loss_sum(logits, teacher_topk(tt.teacher_logits(flat_t.narrow(0, p0, n)), s.topk));
        break;
      case LossKind::kKl: loss = kl_full_loss_sum(logits, tt.teacher_logits(flat_t.narrow(0, p0, n))); break;
      case LossKind::kCrossEntropy: loss = cross_entropy_loss_sum(logits, labels.narrow(0, p0, n)); break;
    }
    (loss / norm).backward();
    total += loss.item<double>();
  }
  student.backward(leaf.grad());
  return total;
}

nlohmann::json settings_fingerprint(const LearnSettings& s, const QuantConfig& config, uint64_t data_hash,
                                    const at::Tensor& windows) {
  return {{"method", learned_method_name(s.method)},
          {"bits", config.describe()},
          {"steps", s.steps},
          {"batch", s.batch},
          {"micro_batch", s.micro_batch},
          {"lr_rotation", s.lr_rotation},
          {"lr_scale", s.lr_scale},
          {"loss", loss_kind_name(s.loss)},
          {"topk", s.topk},
          {"init", rotation_init_name(s.init)},
          {"learn_scales", s.learn_scales},
          {"weight_fake_quant", s.weight_fake_quant},
          {"online_ffn_hadamard", s.online_ffn_hadamard},
          {"grad_clip", s.grad_clip},
          {"seed", s.seed},
          {"windows", {windows.size(0), windows.size(1)}},
          {"data_hash", std::to_string(data_hash)}};
}

nlohmann::json log_to_json(const std::vector<StepRecord>& log) {
  nlohmann::json a = nlohmann::json::array();
  for (const StepRecord& r : log) {
    a.push_back({r.step, r.loss, r.lr_rotation, r.lr_scale, r.grad_norm, r.orthogonality_error, r.seconds});
  }
  return a;
}

std::vector<StepRecord> log_from_json(const nlohmann::json& a) {
  std::vector<StepRecord> log;
  for (const auto& e : a) {
    StepRecord r;
    r.step = e.at(0).get<int64_t>();
    r.loss = e.at(1).get<double>();
    r.lr_rotation = e.at(2).get<double>();
    r.lr_scale = e.at(3).get<double>();
    r.grad_norm = e.at(4).get<double>();
    r.orthogonality_error = e.at(5).get<double>();
    r.seconds = e.at(6).get<double>();
    log.push_back(r);
  }
  return log;
}

// One checkpoint holds several named states: each under its own key prefix.
void add_prefixed(TensorState& out, const std::string& prefix, const TensorState& state) {
  for (const auto& [k, v] : state) out[prefix + k] = v;
}

TensorState strip_prefix(const TensorState& all, const std::string& prefix) {
  TensorState out;
  for (const auto& [k, v] : all) {
    if (k.compare(0, prefix.size(), prefix) == 0) out[k.substr(prefix.size())] = v;
  }
  return out;
}

// Rotation and scale optimisers behind one interface (OSTQuant: Riemannian Adam + Adam, linear
// decay; SpinQuant: Cayley SGD, cosine, no scales).
struct Optimisers {
  std::unique_ptr<RiemannianAdam> radam;
  std::unique_ptr<CayleySgd> cayley;
  std::unique_ptr<Adam> adam;

  Optimisers(const TrainableTransforms& tt, const LearnSettings& s) {
    if (s.method == LearnedMethod::kSpinQuant) {
      cayley = std::make_unique<CayleySgd>(tt.rotations(), /*momentum=*/0.0, s.seed);
    } else {
      radam = std::make_unique<RiemannianAdam>(tt.rotations());
    }
    if (!tt.scales().empty()) adam = std::make_unique<Adam>(tt.scales());
  }
  double lr(double lr0, int64_t t, const LearnSettings& s) const {
    return s.method == LearnedMethod::kSpinQuant ? cosine_lr(lr0, t, s.steps) : linear_decay_lr(lr0, t, s.steps);
  }
  void step(double lr_rot, double lr_scale) {
    if (radam) radam->step(lr_rot);
    if (cayley) cayley->step(lr_rot);
    if (adam) adam->step(lr_scale);
  }
  void save(TensorState& out) const {
    if (radam) add_prefixed(out, "opt_rot.", radam->state_dict());
    if (cayley) add_prefixed(out, "opt_rot.", cayley->state_dict());
    if (adam) add_prefixed(out, "opt_scale.", adam->state_dict());
  }
  void load(const TensorState& in) {
    if (radam) radam->load_state_dict(strip_prefix(in, "opt_rot."));
    if (cayley) cayley->load_state_dict(strip_prefix(in, "opt_rot."));
    if (adam) adam->load_state_dict(strip_prefix(in, "opt_scale."));
  }
};

TransformSet initial_transforms(const Model& fp, const QuantConfig& config, const LearnSettings& s) {
  const bool qk = config.quantizes_kv();
  TransformSet t = s.init == RotationInit::kWomi ? transform_set_womi(fp, s.seed, qk)
                                                 : transform_set_random_hadamard(fp.config, s.seed, qk);
  t.ffn_rotation = s.online_ffn_hadamard;
  return t;
}

}  // namespace

uint64_t windows_hash(const at::Tensor& windows) {
  at::Tensor w = windows.contiguous();
  const auto* p = reinterpret_cast<const uint8_t*>(w.data_ptr());
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < static_cast<size_t>(w.numel()) * w.element_size(); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

Result<LearnResult> learn_transforms(const Model& fp, const QuantConfig& config, const at::Tensor& windows,
                                     const LearnOptions& o) {
  return status_guard([&]() -> LearnResult {
    const auto t_start = std::chrono::steady_clock::now();
    LearnResult result;
    const LearnSettings s = resolve_learn_settings(o, config);
    result.settings = s;
    if (!windows.defined() || windows.dim() != 2 || windows.size(0) == 0) {
      throw_invalid("learning transforms needs calibration windows (int64 [N, T], N > 0)");
    }
    if (s.steps <= 0) throw_invalid("steps must be positive");
    if (s.loss == LossKind::kKlTop && s.topk <= 0) throw_invalid("KL-Top k must be positive");
    if (s.lr_rotation <= 0 || (s.learn_scales && s.lr_scale <= 0)) throw_invalid("learning rates must be positive");

    report_progress(o.progress, 0.0, "init", std::string(rotation_init_name(s.init)) + " rotations");
    result.initial = initial_transforms(fp, config, s);
    TrainableSpec spec;
    spec.learn_scales = s.learn_scales;
    spec.shared_r_ov = s.method == LearnedMethod::kSpinQuant;
    spec.quantizers = config;
    spec.weight_fake_quant = s.weight_fake_quant;
    TrainableTransforms tt(fp, result.initial, spec);
    Optimisers opt(tt, s);
    const std::vector<at::Tensor> params = tt.parameters();

    const uint64_t data_hash = windows_hash(windows);
    const nlohmann::json fingerprint = settings_fingerprint(s, config, data_hash, windows);
    const std::string ck_path = o.checkpoint_dir.empty() ? "" : path_join(o.checkpoint_dir, "checkpoint.pt");
    int64_t first_step = 0;
    if (o.resume && !ck_path.empty() && file_exists(ck_path)) {
      TrainingCheckpoint ck = checkpoint_load(ck_path);
      nlohmann::json meta = nlohmann::json::parse(ck.meta_json, nullptr, false);
      if (meta.is_discarded() || !meta.contains("fingerprint") || !meta.contains("step")) {
        throw_invalid(ck_path + ": checkpoint metadata is unreadable");
      }
      if (meta["fingerprint"] != fingerprint) {
        throw_invalid(ck_path + ": checkpoint was made with different settings or data (" + meta["fingerprint"].dump() +
                      "), this run: " + fingerprint.dump());
      }
      tt.load_state(strip_prefix(ck.tensors, "param."));
      opt.load(ck.tensors);
      first_step = meta["step"].get<int64_t>();
      result.log = log_from_json(meta["log"]);
      result.resumed_from_step = first_step;
      result.notes.push_back("resumed from " + ck_path + " at step " + std::to_string(first_step));
    }
    auto save_checkpoint = [&](int64_t steps_done) {
      if (ck_path.empty()) return;
      std::error_code ec;
      std::filesystem::create_directories(o.checkpoint_dir, ec);
      if (ec) throw StatusError(Status::io_error(o.checkpoint_dir + ": cannot create the checkpoint directory: " + ec.message()));
      TrainingCheckpoint ck;
      add_prefixed(ck.tensors, "param.", tt.state());
      opt.save(ck.tensors);
      nlohmann::json meta = {{"step", steps_done}, {"fingerprint", fingerprint}, {"log", log_to_json(result.log)}};
      ck.meta_json = meta.dump();
      checkpoint_save(ck_path, ck);
    };

    const int64_t N = windows.size(0), T = windows.size(1);
    const int64_t positions = s.loss == LossKind::kCrossEntropy ? T - 1 : T;
    if (positions <= 0) throw_invalid("calibration windows are too short");
    WindowOrder order(N, s.seed);
    const auto t_train = std::chrono::steady_clock::now();
    for (int64_t step = first_step; step < s.steps; ++step) {
      const auto t0 = std::chrono::steady_clock::now();
      for (const at::Tensor& p : params) {
        if (p.grad().defined()) p.mutable_grad().zero_();
      }
      const double norm = static_cast<double>(s.batch * positions);
      double loss_sum = 0.0;
      for (int64_t j0 = 0; j0 < s.batch; j0 += s.micro_batch) {
        const int64_t n = std::min(s.micro_batch, s.batch - j0);
        std::vector<int64_t> idx;
        for (int64_t j = 0; j < n; ++j) idx.push_back(order.at(step * s.batch + j0 + j));
        at::Tensor tokens = windows.index_select(0, torch::tensor(idx, torch::kLong));
        loss_sum += micro_step(tt, tokens, s, fp.config.vocab_size, norm);
      }
      const double loss = loss_sum / norm;
      if (!std::isfinite(loss)) {
        throw_invalid("training diverged at step " + std::to_string(step + 1) + " (loss " + std::to_string(loss) +
                      "): lower the learning rates");
      }
      StepRecord rec;
      rec.step = step + 1;
      rec.loss = loss;
      project_rotation_gradients(tt.rotations());  // what the optimisers use; the same in both student forms
      rec.grad_norm = clip_grad_norm(params, s.grad_clip);
      rec.lr_rotation = opt.lr(s.lr_rotation, step, s);
      rec.lr_scale = s.learn_scales ? opt.lr(s.lr_scale, step, s) : 0.0;
      {
        at::NoGradGuard no_grad;
        opt.step(rec.lr_rotation, rec.lr_scale);
      }
      for (const at::Tensor& r : tt.rotations()) rec.orthogonality_error = std::max(rec.orthogonality_error, orthogonality_error(r));
      rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      result.log.push_back(rec);
      if (o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0 && step + 1 < s.steps) save_checkpoint(step + 1);

      TrainStep ts;
      ts.step = step + 1;
      ts.total = s.steps;
      ts.loss = rec.loss;
      ts.lr_rotation = rec.lr_rotation;
      ts.lr_scale = rec.lr_scale;
      ts.grad_norm = rec.grad_norm;
      ts.orthogonality_error = rec.orthogonality_error;
      ts.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
      const double per_step = ts.elapsed_seconds / static_cast<double>(step + 1 - first_step);
      ts.tokens_per_second = static_cast<double>(s.batch * T) / std::max(rec.seconds, 1e-9);
      ts.eta_seconds = per_step * static_cast<double>(s.steps - step - 1);
      if (o.progress) {
        Progress p;
        p.fraction = static_cast<double>(step + 1) / static_cast<double>(s.steps);
        p.stage = "train";
        char buf[200];
        std::snprintf(buf, sizeof(buf), "step %lld/%lld loss %.5f |g| %.3g %.0f tok/s ETA %.0fs",
                      static_cast<long long>(ts.step), static_cast<long long>(ts.total), ts.loss, ts.grad_norm,
                      ts.tokens_per_second, ts.eta_seconds);
        p.detail = buf;
        p.train = ts;
        if (!o.progress(p)) {
          save_checkpoint(step + 1);  // cancel = pause: resumable from here
          throw StatusError(Status::cancelled("calibration cancelled at step " + std::to_string(step + 1) +
                                              (ck_path.empty() ? "" : "; checkpoint in " + o.checkpoint_dir)));
        }
      }
    }
    result.transforms = tt.transform_set();
    result.transforms.notes.push_back("learned: " + s.describe() + ", " + std::to_string(N) + " windows of " +
                                      std::to_string(T) + " tokens");
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return result;
  });
}

}  // namespace ostq
