// SPDX-License-Identifier: Apache-2.0
#include "core/quant/methods.h"

#include <torch/types.h>

#include <chrono>
#include <cstdio>

#include "core/quant/smoothquant.h"
#include "core/util/status.h"

namespace ostq {

const char* quant_method_name(QuantMethod m) {
  switch (m) {
    case QuantMethod::kRtn: return "rtn";
    case QuantMethod::kSmoothQuant: return "smoothquant";
    case QuantMethod::kGptq: return "gptq";
    case QuantMethod::kQuaRot: return "quarot";
    case QuantMethod::kSpinQuant: return "spinquant";
    case QuantMethod::kOstQuant: return "ostquant";
  }
  return "?";
}

bool method_learns_transforms(QuantMethod m) { return m == QuantMethod::kSpinQuant || m == QuantMethod::kOstQuant; }

std::string MethodSpec::name() const {
  std::string n = quant_method_name(method);
  if (init != RotationInit::kAuto) n += std::string(":") + rotation_init_name(init);
  if (!learn_scales) n += ":noscales";
  if (loss) n += std::string(":") + loss_kind_name(*loss);
  if (weight_fake_quant) n += ":wfq";
  if (gptq_weights && method != QuantMethod::kGptq) n += "+gptq";
  return n;
}

Result<MethodSpec> method_spec_parse(const std::string& text) {
  MethodSpec m;
  std::string base = text;
  const std::string suffix = "+gptq";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    m.gptq_weights = true;
    base.resize(base.size() - suffix.size());
  }
  std::vector<std::string> words;
  for (size_t start = 0;;) {
    const size_t colon = base.find(':', start);
    words.push_back(base.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const auto unknown = Status::invalid_input(
      "unknown method '" + text +
      "' (rtn, smoothquant, gptq, quarot, spinquant, ostquant; append +gptq for GPTQ weights, e.g. quarot+gptq; "
      "ostquant variants: ostquant:hadamard|womi:noscales:kl_top|kl|ce:wfq)");
  bool found = false;
  for (QuantMethod q : {QuantMethod::kRtn, QuantMethod::kSmoothQuant, QuantMethod::kGptq, QuantMethod::kQuaRot,
                        QuantMethod::kSpinQuant, QuantMethod::kOstQuant}) {
    if (words[0] == quant_method_name(q)) {
      m.method = q;
      found = true;
    }
  }
  if (!found) return unknown;
  if (m.method == QuantMethod::kGptq) m.gptq_weights = true;
  if (m.method == QuantMethod::kRtn && m.gptq_weights) return unknown;  // "rtn+gptq" is a contradiction
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (m.method != QuantMethod::kOstQuant) {
      return Status::invalid_input("method '" + text + "': variant words (':" + w + "') apply to ostquant only");
    }
    if (w == "noscales") {
      m.learn_scales = false;
    } else if (w == "wfq") {
      m.weight_fake_quant = true;
    } else if (auto init = rotation_init_parse(w); init.is_ok() && init.value() != RotationInit::kAuto) {
      m.init = init.value();
    } else if (auto loss = loss_kind_parse(w); loss.is_ok()) {
      m.loss = loss.value();
    } else {
      return Status::invalid_input("method '" + text + "': unknown variant '" + w +
                                   "' (womi, hadamard, noscales, kl_top, kl, ce, wfq)");
    }
  }
  return m;
}

bool method_needs_calibration(const MethodSpec& method, const QuantConfig& config) {
  return method.method == QuantMethod::kSmoothQuant || method_learns_transforms(method.method) ||
         (method.gptq_weights && config.weight.enabled());
}

std::vector<LayerWeightGrids> rtn_quantize_model(Model& model, const WeightQuantSpec& spec) {
  std::vector<LayerWeightGrids> grids;
  if (!spec.enabled()) return grids;
  at::NoGradGuard no_grad;
  for (LayerWeights& l : model.weights.layers) {
    LayerWeightGrids& layer_grids = grids.emplace_back();
    for (LinearId id : kLinearIds) {
      at::Tensor& w = linear_weight(l, id);
      const at::Tensor w32 = w.to(at::kFloat);
      WeightQuantGrid grid = weight_quant_grid(w32, spec);
      w = weight_quant_apply(w32, grid).to(w.scalar_type()).contiguous();
      layer_grids[static_cast<int>(id)] = std::move(grid);
    }
  }
  return grids;
}

namespace {

// The learning options of a learned method: the shared settings with the spec's variant words.
LearnOptions learn_options(const QuantizeOptions& o) {
  LearnOptions l = o.learn;
  l.method = o.method.method == QuantMethod::kSpinQuant ? LearnedMethod::kSpinQuant : LearnedMethod::kOstQuant;
  if (o.method.init != RotationInit::kAuto) l.init = o.method.init;
  if (!o.method.learn_scales) l.learn_scales = false;
  if (o.method.loss) l.loss = o.method.loss;
  if (o.method.weight_fake_quant) l.weight_fake_quant = true;
  l.seed = o.seed;
  l.online_ffn_hadamard = o.online_ffn_hadamard && o.learn.online_ffn_hadamard;
  l.progress = o.progress;
  return l;
}

// The transforms of each method (none for RTN / GPTQ: they quantize the original weights).
TransformSet method_transforms(const Model& fp, const QuantizeOptions& o, QuantizedModel& q) {
  const ModelConfig& c = fp.config;
  switch (o.method.method) {
    case QuantMethod::kRtn:
    case QuantMethod::kGptq: return {};
    case QuantMethod::kSmoothQuant: {
      TransformSet t = transform_set_identity(c);
      add_smoothquant_scales(fp, o.calibration, o.smooth_alpha, t, o.batch, o.progress);
      return t;
    }
    case QuantMethod::kQuaRot: {
      // R1 residual, R2 per KV head on V/O, R4 = H_ff online; R3 = H_dh only when K is quantized.
      TransformSet t = transform_set_random_hadamard(c, o.seed, o.config.quantizes_kv());
      t.ffn_rotation = o.online_ffn_hadamard;
      return t;
    }
    case QuantMethod::kSpinQuant:
    case QuantMethod::kOstQuant: {
      Result<LearnResult> learned = learn_transforms(fp, o.config, o.calibration, learn_options(o));
      if (!learned.is_ok()) throw StatusError(learned.status());
      auto shared = std::make_shared<LearnResult>(std::move(learned).value());
      q.learned = shared;
      q.notes.insert(q.notes.end(), shared->notes.begin(), shared->notes.end());
      return shared->transforms;
    }
  }
  return {};
}

}  // namespace

Result<QuantizedModel> quantize_model(const Model& fp, const QuantizeOptions& o) {
  return status_guard([&]() -> QuantizedModel {
    auto t0 = std::chrono::steady_clock::now();
    if (method_needs_calibration(o.method, o.config) && (!o.calibration.defined() || o.calibration.size(0) == 0)) {
      throw_invalid(o.method.name() + " needs calibration windows (--calib or part of --data)");
    }
    QuantizedModel q;
    if (o.calibration.defined() && o.calibration.numel() > 0) {
      char hash[17];
      std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(windows_hash(o.calibration)));
      q.calibration_hash = hash;
      q.calibration_windows = o.calibration.size(0);
      q.calibration_seqlen = o.calibration.size(1);
    }
    q.method = o.method.name();
    q.config = o.config;
    q.seed = o.seed;
    report_progress(o.progress, 0.0, "transforms", q.method);
    TransformSet t = method_transforms(fp, o, q);
    // Methods without transforms quantize the original weights (no norm folding: §9 RTN/GPTQ).
    q.model = t.empty() ? std::make_shared<Model>(fp) : merge_transforms(fp, t);
    q.notes.insert(q.notes.end(), t.notes.begin(), t.notes.end());
    if (q.model->online.ffn_dense.defined()) {
      q.notes.push_back("H_ff: no Hadamard of order " + std::to_string(fp.config.hidden_dim) +
                        ": seeded random orthogonal matrix instead");
    }
    if (o.config.weight.enabled()) {
      if (o.method.gptq_weights) {
        GptqOptions g;
        g.spec = o.config.weight;
        g.damp = o.gptq_damp;
        g.block_size = o.gptq_block;
        g.act_order = o.gptq_act_order;
        q.gptq = gptq_quantize_model(*q.model, o.calibration, g, o.batch, o.progress);
        q.weight_grids.assign(q.model->config.n_layers, LayerWeightGrids{});
        for (const GptqLinearReport& r : q.gptq) q.weight_grids[r.layer][static_cast<int>(r.linear)] = r.grid;
        q.notes.push_back("GPTQ on " + std::to_string(o.calibration.size(0)) + " windows of " +
                          std::to_string(o.calibration.size(1)) + " tokens, damp " + std::to_string(o.gptq_damp).substr(0, 4) +
                          ", block " + std::to_string(o.gptq_block) + (o.gptq_act_order ? ", act-order" : ""));
      } else {
        report_progress(o.progress, 0.5, "rtn", o.config.weight.describe());
        q.weight_grids = rtn_quantize_model(*q.model, o.config.weight);
      }
    }
    q.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return q;
  });
}

}  // namespace ostq
