// SPDX-License-Identifier: Apache-2.0
// LowBitExecutor: see lowbit_linear.h for the three paths. Activations reach the kernels as fp32
// [m, k_padded] row-major (m = B·T tokens); outputs come back fp32 [m, n] and are cast to the
// model dtype, as at::linear would return them.
#include "core/engine/lowbit_linear.h"

#include <torch/types.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "core/engine/lowbit_pack.h"
#include "core/export/quantized_linear.h"
#include "core/quant/methods.h"
#include "kernels/lowbit.h"

namespace ostq {

const char* lowbit_path_name(LowBitPath path) {
  switch (path) {
    case LowBitPath::kIntGemm: return "int_gemm";
    case LowBitPath::kWeightOnly: return "weight_only";
    case LowBitPath::kDense: return "dense";
  }
  return "?";
}

// The last quantized site tensor, so q/k/v (and gate/up) quantize their shared input once.
// Holding `src` keeps its TensorImpl alive, so is_same() cannot match a recycled address.
struct LowBitExecutor::ActCache {
  int64_t layer = -1;
  Site site = Site::kAttnInput;
  at::Tensor src;
  at::Tensor codes;         // uint8 [m, k_padded]
  at::Tensor scale, zero;   // fp32 [m, k_padded / group]
  int64_t group = 0;
};

namespace {

// The activation site a linear reads.
Site input_site(LinearId id) {
  switch (id) {
    case LinearId::kQ:
    case LinearId::kK:
    case LinearId::kV: return Site::kAttnInput;
    case LinearId::kO: return Site::kOProjInput;
    case LinearId::kGate:
    case LinearId::kUp: return Site::kFfnInput;
    case LinearId::kDown: return Site::kDownProjInput;
  }
  return Site::kAttnInput;
}

constexpr Site kLinearInputSites[] = {Site::kAttnInput, Site::kOProjInput, Site::kFfnInput, Site::kDownProjInput};

std::string bits_label(char kind, int bits) { return kind + std::to_string(bits); }

// x [..., k] → fp32 contiguous [m, k_padded] (zero columns appended, Note [lowbit padding]).
at::Tensor kernel_input(const at::Tensor& x, const LowBitPackedLinear& p) {
  at::Tensor x2 = x.reshape({-1, p.k}).to(at::kFloat).contiguous();
  if (p.k_padded > p.k) x2 = at::constant_pad_nd(x2, {0, p.k_padded - p.k});
  return x2;
}

// y fp32 [m, n] → [..., n] in x's dtype.
at::Tensor kernel_output(const at::Tensor& y, const at::Tensor& x, int64_t n) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  return y.view(shape).to(x.scalar_type());
}

at::Tensor float_bias(const at::Tensor& b) { return b.defined() ? b.to(at::kFloat).contiguous() : at::Tensor(); }

}  // namespace

LowBitExecutor::LowBitExecutor(const QuantizedModel& q, const LowBitOptions& options)
    : config_(q.config), cache_(std::make_unique<ActCache>()) {
  if (!q.model) throw StatusError(Status::internal("LowBitExecutor: quantized model without a model"));
  const Model& model = *q.model;
  const at::Device device =
      model.weights.layers.empty() ? model.weights.embedding.device() : model.weights.layers[0].wq.device();
  ops_ = options.ops;
  if (ops_ == nullptr) {
    if (device.is_cuda()) {
      std::string why;
      ops_ = kernels::lowbit_cuda(&why);
      if (ops_ == nullptr) throw_unsupported("no CUDA low-bit kernels for a model on " + device.str() + ": " + why);
    } else {
      ops_ = &kernels::lowbit_cpu_best();
    }
  }
  if ((ops_->memory == kernels::MemorySpace::kCuda) != device.is_cuda()) {
    throw_invalid(std::string("low-bit kernels '") + ops_->name + "' cannot run a model on " + device.str());
  }

  const bool grids = has_weight_grids(q);
  const int64_t L = model.config.n_layers;
  plan_.resize(static_cast<size_t>(L * 7));
  packed_.resize(plan_.size());
  owned_.assign(static_cast<size_t>(L), {});
  for (int64_t li = 0; li < L; ++li) {
    std::array<bool, 7> can_int{};
    for (LinearId id : kLinearIds) {
      const size_t idx = static_cast<size_t>(li * 7 + static_cast<int>(id));
      LowBitLinearPlan& pl = plan_[idx];
      pl.layer = li;
      pl.id = id;
      const ActQuantSpec& act = config_.site(input_site(id));
      if (!grids) {
        pl.label = "no grids";
        pl.reason = "no weight grids (weights not quantized, or a bundle saved without grids)";
        continue;
      }
      const QuantizedLinear ql = quantized_linear(q, li, id);
      std::string why;
      std::optional<LowBitPackedLinear> p = lowbit_pack_linear(ql, act.group_size, device, &why);
      if (!p) {
        pl.label = bits_label('W', ql.bits) + " dense";
        pl.reason = why;
        continue;
      }
      packed_[idx] = std::make_unique<LowBitPackedLinear>(std::move(*p));
      const LowBitPackedLinear& pk = *packed_[idx];
      if (!options.int_gemm) {
        pl.reason = "int_gemm disabled";
      } else if (!act.enabled()) {
        pl.reason = "16-bit activations";
      } else if (act.bits > 8) {
        pl.reason = bits_label('A', act.bits) + " activations (the kernels quantize to at most 8 bits)";
      } else if (act.group_size > 0 && pk.k % act.group_size != 0) {
        pl.reason = "activation group " + std::to_string(act.group_size) + " does not divide " + std::to_string(pk.k);
      } else if (!pk.int_gemm_ok) {
        pl.reason = "int_gemm does not support " + bits_label('W', pk.bits) + (ql.symmetric ? " sym" : " asym") +
                    " group " + std::to_string(pk.group) + " with activation group " +
                    std::to_string(pk.int_gemm_act_group);
      } else {
        can_int[static_cast<int>(id)] = true;
      }
    }
    // A site is quantized by the kernels only when every linear reading it runs int_gemm; else it is
    // fake-quantized once at the site and its linears run weight-only on the fake-quantized values.
    for (Site s : kLinearInputSites) {
      bool all = config_.site(s).enabled();
      for (LinearId id : kLinearIds) {
        if (input_site(id) == s) all = all && can_int[static_cast<int>(id)];
      }
      owned_[li][static_cast<size_t>(s)] = all;
    }
    for (LinearId id : kLinearIds) {
      const size_t idx = static_cast<size_t>(li * 7 + static_cast<int>(id));
      if (!packed_[idx]) continue;
      LowBitLinearPlan& pl = plan_[idx];
      const ActQuantSpec& act = config_.site(input_site(id));
      const std::string w = bits_label('W', packed_[idx]->bits);
      if (owned_[li][static_cast<size_t>(input_site(id))]) {
        pl.path = LowBitPath::kIntGemm;
        pl.label = w + bits_label('A', act.bits);
        pl.reason.clear();
      } else {
        pl.path = LowBitPath::kWeightOnly;
        pl.label = act.enabled() ? w + " on " + bits_label('A', act.bits) + " fake-quant" : w + "A16";
        if (pl.reason.empty()) pl.reason = "shares its input with a linear that cannot run int_gemm";
      }
    }
  }
}

LowBitExecutor::~LowBitExecutor() = default;

const char* LowBitExecutor::ops_name() const { return ops_->name; }

int64_t LowBitExecutor::linears(LowBitPath path) const {
  int64_t n = 0;
  for (const LowBitLinearPlan& p : plan_) n += p.path == path ? 1 : 0;
  return n;
}

int64_t LowBitExecutor::calls(LowBitPath path) const { return calls_[static_cast<size_t>(path)]; }

void LowBitExecutor::on_site(int64_t layer, Site site, at::Tensor& x) {
  const ActQuantSpec& spec = config_.site(site);
  if (!spec.enabled()) return;
  if (layer >= 0 && layer < static_cast<int64_t>(owned_.size()) && owned_[layer][static_cast<size_t>(site)]) {
    return;  // quantized to integer codes by run_int_gemm instead
  }
  x = fake_quant_activation(x, spec);  // K/V cache and sites the kernels do not own (ActivationQuantHooks)
}

at::Tensor LowBitExecutor::linear(int64_t layer, LinearId id, const at::Tensor& x, const at::Tensor& w,
                                  const at::Tensor& b) {
  const size_t idx = static_cast<size_t>(layer * 7 + static_cast<int>(id));
  if (layer < 0 || idx >= plan_.size()) return ForwardHooks::linear(layer, id, x, w, b);
  const LowBitPath path = plan_[idx].path;
  ++calls_[static_cast<size_t>(path)];
  switch (path) {
    case LowBitPath::kIntGemm: return run_int_gemm(layer, input_site(id), *packed_[idx], x, b);
    case LowBitPath::kWeightOnly: return run_weight_only(*packed_[idx], x, b);
    case LowBitPath::kDense: break;
  }
  return ForwardHooks::linear(layer, id, x, w, b);  // the stored dequantized weight, as fake-quant does
}

at::Tensor LowBitExecutor::run_int_gemm(int64_t layer, Site site, const LowBitPackedLinear& p, const at::Tensor& x,
                                        const at::Tensor& b) {
  ActCache& c = *cache_;
  if (c.layer != layer || c.site != site || !c.src.defined() || !c.src.is_same(x)) {
    const ActQuantSpec& spec = config_.site(site);
    const at::Tensor xin = kernel_input(x, p);
    const int64_t m = xin.size(0), kp = p.k_padded, g = p.int_gemm_act_group;
    kernels::FakeQuantParams params;  // the arithmetic of fake_quant_activation (§7.1)
    params.bits = spec.bits;
    params.symmetric = spec.symmetric;
    params.absmax_scale = spec.sym_scale == SymmetricScale::kAbsMax;
    params.clip_ratio = static_cast<float>(spec.clip_ratio);
    params.group = spec.group_size;  // 0: per token over all k_padded columns
    c.codes = at::empty({m, kp}, xin.options().dtype(at::kByte));
    c.scale = at::empty({m, kp / g}, xin.options());
    c.zero = at::empty({m, kp / g}, xin.options());
    ops_->quantize_acts(xin.data_ptr<float>(), m, kp, params, nullptr,
                        {c.codes.data_ptr<uint8_t>(), c.scale.data_ptr<float>(), c.zero.data_ptr<float>()});
    c.layer = layer;
    c.site = site;
    c.src = x;
    c.group = g;
  }
  const int64_t m = c.codes.size(0);
  const at::Tensor bias = float_bias(b);
  at::Tensor y = at::empty({m, p.n}, c.scale.options());
  const kernels::ConstQuantizedActs a{c.codes.data_ptr<uint8_t>(), c.scale.data_ptr<float>(),
                                      c.zero.data_ptr<float>(), c.group};
  ops_->int_gemm(a, m, p.view(), bias.defined() ? bias.data_ptr<float>() : nullptr, y.data_ptr<float>());
  return kernel_output(y, x, p.n);
}

at::Tensor LowBitExecutor::run_weight_only(const LowBitPackedLinear& p, const at::Tensor& x, const at::Tensor& b) {
  const at::Tensor xin = kernel_input(x, p);
  const at::Tensor bias = float_bias(b);
  at::Tensor y = at::empty({xin.size(0), p.n}, xin.options());
  ops_->weight_only_gemm(xin.data_ptr<float>(), xin.size(0), p.view(), bias.defined() ? bias.data_ptr<float>() : nullptr,
                         y.data_ptr<float>());
  return kernel_output(y, x, p.n);
}

std::string LowBitExecutor::summary() const {
  // " (W4A4, W4A16)": the distinct labels of one path, in plan order; "" when none.
  auto labels = [&](LowBitPath path) {
    std::vector<std::string> seen;
    for (const LowBitLinearPlan& p : plan_) {
      if (p.path == path && std::find(seen.begin(), seen.end(), p.label) == seen.end()) seen.push_back(p.label);
    }
    std::string s;
    for (size_t i = 0; i < seen.size(); ++i) s += (i == 0 ? " (" : ", ") + seen[i];
    return seen.empty() ? s : s + ")";
  };
  std::ostringstream o;
  o << "kernel path (" << ops_->name << "): " << linears(LowBitPath::kIntGemm) << "/" << plan_.size()
    << " linears int_gemm" << labels(LowBitPath::kIntGemm) << ", " << linears(LowBitPath::kWeightOnly)
    << " weight_only" << labels(LowBitPath::kWeightOnly) << ", " << linears(LowBitPath::kDense) << " dense fallback"
    << labels(LowBitPath::kDense);
  return o.str();
}

std::string LowBitExecutor::fallback_details() const {
  // reason → (count, first linear), in first-seen order.
  std::vector<std::string> order;
  std::map<std::string, std::pair<int64_t, std::string>> seen;
  for (const LowBitLinearPlan& p : plan_) {
    if (p.path == LowBitPath::kIntGemm) continue;
    const std::string key = std::string(lowbit_path_name(p.path)) + ": " + p.reason;
    auto [it, fresh] = seen.try_emplace(key, 0, "layer " + std::to_string(p.layer) + " " + linear_name(p.id));
    if (fresh) order.push_back(key);
    ++it->second.first;
  }
  std::ostringstream o;
  for (const std::string& key : order) {
    const auto& [count, first] = seen[key];
    o << count << " linear" << (count == 1 ? "" : "s") << " " << key << " (first: " << first << ")\n";
  }
  return o.str();
}

Result<std::shared_ptr<LowBitExecutor>> lowbit_executor_create(const QuantizedModel& q, const LowBitOptions& options) {
  return status_guard([&] { return std::make_shared<LowBitExecutor>(q, options); });
}

}  // namespace ostq
