// SPDX-License-Identifier: Apache-2.0
#include "core/quant/methods.h"

#include <torch/types.h>

#include <chrono>

#include "core/quant/smoothquant.h"
#include "core/util/status.h"

namespace ostq {

const char* quant_method_name(QuantMethod m) {
  switch (m) {
    case QuantMethod::kRtn: return "rtn";
    case QuantMethod::kSmoothQuant: return "smoothquant";
    case QuantMethod::kGptq: return "gptq";
    case QuantMethod::kQuaRot: return "quarot";
  }
  return "?";
}

std::string MethodSpec::name() const {
  std::string n = quant_method_name(method);
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
  for (QuantMethod q : {QuantMethod::kRtn, QuantMethod::kSmoothQuant, QuantMethod::kGptq, QuantMethod::kQuaRot}) {
    if (base == quant_method_name(q)) {
      m.method = q;
      if (q == QuantMethod::kGptq) m.gptq_weights = true;
      if (q == QuantMethod::kRtn && m.gptq_weights) break;  // "rtn+gptq" is a contradiction
      return m;
    }
  }
  if (base == "spinquant" || base == "ostquant") {
    return Status::unsupported("method '" + base + "' needs learned transforms (the calibration job); not available here yet");
  }
  return Status::invalid_input("unknown method '" + text +
                               "' (rtn, smoothquant, gptq, quarot; append +gptq for GPTQ weights, e.g. quarot+gptq)");
}

bool method_needs_calibration(const MethodSpec& method, const QuantConfig& config) {
  return method.method == QuantMethod::kSmoothQuant || (method.gptq_weights && config.weight.enabled());
}

void rtn_quantize_model(Model& model, const WeightQuantSpec& spec) {
  if (!spec.enabled()) return;
  at::NoGradGuard no_grad;
  for (LayerWeights& l : model.weights.layers) {
    for (LinearId id : kLinearIds) {
      at::Tensor& w = linear_weight(l, id);
      w = fake_quant_weight(w.to(at::kFloat), spec).to(w.scalar_type()).contiguous();
    }
  }
}

namespace {

// The transforms of each method (none for RTN / GPTQ: they quantize the original weights).
TransformSet method_transforms(const Model& fp, const QuantizeOptions& o) {
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
      return transform_set_random_hadamard(c, o.seed, o.config.quantizes_kv());
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
    q.method = o.method.name();
    q.config = o.config;
    q.seed = o.seed;
    report_progress(o.progress, 0.0, "transforms", q.method);
    TransformSet t = method_transforms(fp, o);
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
        q.notes.push_back("GPTQ on " + std::to_string(o.calibration.size(0)) + " windows of " +
                          std::to_string(o.calibration.size(1)) + " tokens, damp " + std::to_string(o.gptq_damp).substr(0, 4) +
                          ", block " + std::to_string(o.gptq_block) + (o.gptq_act_order ? ", act-order" : ""));
      } else {
        report_progress(o.progress, 0.5, "rtn", o.config.weight.describe());
        rtn_quantize_model(*q.model, o.config.weight);
      }
    }
    q.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return q;
  });
}

}  // namespace ostq
