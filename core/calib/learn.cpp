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
#include <limits>
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
  s.validation_windows = std::max<int64_t>(0, o.validation_windows);
  s.validate_every = s.validation_windows > 0 ? std::max<int64_t>(1, o.validate_every) : 0;
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
  std::string out = buf;
  if (validation_windows > 0) {
    out += ", validation on " + std::to_string(validation_windows) + " held-out windows every " +
           std::to_string(validate_every) + " steps";
  }
  return out;
}

std::string learn_log_csv(const std::vector<StepRecord>& log) {
  std::string out = "step,loss,lr_rotation,lr_scale,grad_norm,orthogonality_error,seconds,validation_loss\n";
  char buf[256];
  for (const StepRecord& r : log) {
    std::snprintf(buf, sizeof(buf), "%lld,%.9g,%.9g,%.9g,%.9g,%.3g,%.4f,", static_cast<long long>(r.step), r.loss,
                  r.lr_rotation, r.lr_scale, r.grad_norm, r.orthogonality_error, r.seconds);
    out += buf;
    if (!std::isnan(r.validation_loss)) {
      std::snprintf(buf, sizeof(buf), "%.9g", r.validation_loss);
      out += buf;
    }
    out += "\n";
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

// One micro-batch: forward both models, loss in chunks, and (when `backward`) backward: gradients
// accumulate into the parameters. Returns the micro-batch's loss sum (before dividing by `norm`).
double micro_step(const TrainableTransforms& tt, const at::Tensor& tokens, const LearnSettings& s, int64_t vocab,
                  double norm, bool backward = true) {
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
    if (backward) (loss / norm).backward();
    total += loss.item<double>();
  }
  if (backward) student.backward(leaf.grad());
  return total;
}

// Positions that carry a loss in a window of T tokens (cross-entropy has no label at the last).
int64_t loss_positions(const LearnSettings& s, int64_t T) { return s.loss == LossKind::kCrossEntropy ? T - 1 : T; }

// The training loss, as a mean per position, on held-out windows [V, T]: no graph, no gradients.
double held_out_loss(const TrainableTransforms& tt, const at::Tensor& windows, const LearnSettings& s, int64_t vocab) {
  at::NoGradGuard no_grad;
  const int64_t V = windows.size(0);
  double sum = 0.0;
  for (int64_t j0 = 0; j0 < V; j0 += s.micro_batch) {
    sum += micro_step(tt, windows.narrow(0, j0, std::min(s.micro_batch, V - j0)), s, vocab, 1.0, /*backward=*/false);
  }
  const double loss = sum / static_cast<double>(V * loss_positions(s, windows.size(1)));
  if (!std::isfinite(loss)) throw_invalid("the held-out loss is not finite (" + std::to_string(loss) + ")");
  return loss;
}

// The transforms with the lowest held-out loss seen so far (validation), restored at the end.
struct BestTransforms {
  TensorState state;
  double loss = std::numeric_limits<double>::infinity();
  int64_t step = -1;  // 0 = the initialisation
  void offer(const TrainableTransforms& tt, double held_out, int64_t at_step) {
    if (held_out >= loss) return;  // ties keep the earlier step
    state = tt.state();
    loss = held_out;
    step = at_step;
  }
};

nlohmann::json settings_fingerprint(const LearnSettings& s, const QuantConfig& config, uint64_t data_hash,
                                    const at::Tensor& windows) {
  nlohmann::json f = {{"method", learned_method_name(s.method)},
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
  if (s.validation_windows > 0) {  // absent when off: checkpoints of runs without validation stay valid
    f["validation_windows"] = s.validation_windows;
    f["validate_every"] = s.validate_every;
  }
  return f;
}

// JSON has no NaN: a missing measurement is null.
nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }
double number_or_nan(const nlohmann::json& v) {
  return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::json log_to_json(const std::vector<StepRecord>& log) {
  nlohmann::json a = nlohmann::json::array();
  for (const StepRecord& r : log) {
    a.push_back({r.step, r.loss, r.lr_rotation, r.lr_scale, r.grad_norm, r.orthogonality_error, r.seconds,
                 number_or_null(r.validation_loss)});
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
    if (e.size() > 7) r.validation_loss = number_or_nan(e.at(7));
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

    // Validation: the last V windows are held out of training.
    const int64_t V = s.validation_windows, N = windows.size(0) - V, T = windows.size(1);
    if (N <= 0) {
      throw_invalid("validation holds out " + std::to_string(V) + " of the " + std::to_string(windows.size(0)) +
                    " calibration windows: none would be left to train on");
    }
    const at::Tensor train_windows = windows.narrow(0, 0, N);
    const at::Tensor held_out = V > 0 ? windows.narrow(0, N, V) : at::Tensor();
    if (loss_positions(s, T) <= 0) throw_invalid("calibration windows are too short");
    BestTransforms best;

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
      if (V > 0) {
        result.initial_validation_loss = number_or_nan(meta.value("initial_validation_loss", nlohmann::json()));
        best.state = strip_prefix(ck.tensors, "best.");
        best.loss = meta.at("best_validation_loss").get<double>();
        best.step = meta.at("best_step").get<int64_t>();
      }
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
      if (V > 0) {
        add_prefixed(ck.tensors, "best.", best.state);
        meta["initial_validation_loss"] = number_or_null(result.initial_validation_loss);
        meta["best_validation_loss"] = best.loss;
        meta["best_step"] = best.step;
      }
      ck.meta_json = meta.dump();
      checkpoint_save(ck_path, ck);
    };

    const int64_t positions = loss_positions(s, T);
    const int64_t vocab = fp.config.vocab_size;
    if (V > 0 && first_step == 0) {
      report_progress(o.progress, 0.0, "init", "held-out loss of the initialisation");
      result.initial_validation_loss = held_out_loss(tt, held_out, s, vocab);
      best.offer(tt, result.initial_validation_loss, 0);
    }
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
        at::Tensor tokens = train_windows.index_select(0, torch::tensor(idx, torch::kLong));
        loss_sum += micro_step(tt, tokens, s, vocab, norm);
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
      if (V > 0 && ((step + 1) % s.validate_every == 0 || step + 1 == s.steps)) {
        rec.validation_loss = held_out_loss(tt, held_out, s, vocab);
        best.offer(tt, rec.validation_loss, step + 1);
      }
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
      ts.validation_loss = rec.validation_loss;
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
        if (!std::isnan(rec.validation_loss)) {
          std::snprintf(buf, sizeof(buf), " held-out %.5f", rec.validation_loss);
          p.detail += buf;
        }
        p.train = ts;
        if (!o.progress(p)) {
          save_checkpoint(step + 1);  // cancel = pause: resumable from here
          throw StatusError(Status::cancelled("calibration cancelled at step " + std::to_string(step + 1) +
                                              (ck_path.empty() ? "" : "; checkpoint in " + o.checkpoint_dir)));
        }
      }
    }
    result.selected_step = s.steps;
    if (V > 0) {
      const double last = result.log.back().validation_loss;
      if (best.step != s.steps) tt.load_state(best.state);
      result.selected_step = best.step;
      char buf[300];
      std::snprintf(buf, sizeof(buf),
                    "validation on %lld held-out windows: loss %.5g at the initialisation, %.5g at the last step, "
                    "kept step %lld (%.5g)",
                    static_cast<long long>(V), result.initial_validation_loss, last,
                    static_cast<long long>(best.step), best.loss);
      result.validation_summary = buf;
    }
    result.transforms = tt.transform_set();
    result.transforms.notes.push_back("learned: " + s.describe() + ", " + std::to_string(N) + " windows of " +
                                      std::to_string(T) + " tokens" +
                                      (V > 0 ? "; " + result.validation_summary : std::string()));
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return result;
  });
}

}  // namespace ostq
