// SPDX-License-Identifier: Apache-2.0
// What is quantized where (OSTQUANT_SPEC.md §7.2): a W-A-KV bits string ("4-4-4", "4-16-16",
// "8-8-8") expands to the weight quantizer of the seven linears and the activation quantizers
// at the linear-input sites and the K/V cache, with the spec's defaults (asymmetric per-token
// activations, per-head K/V and o_proj-input groups of d_h, symmetric per-channel weights with
// the MSE clip sweep). Per-site overrides refine it. lm_head, embeddings, norms, queries and the
// attention scores stay in full precision.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/forward.h"
#include "core/quant/quantizer.h"
#include "core/util/status.h"

namespace ostq {

struct QuantConfig {
  std::string bits;                            // the W-A-KV string it came from
  WeightQuantSpec weight;                      // all seven linears of every layer
  std::array<ActQuantSpec, kSiteCount> sites;  // indexed by Site; residual sites stay off
  std::vector<std::string> overrides;          // as given, for reports

  const ActQuantSpec& site(Site s) const { return sites[static_cast<size_t>(s)]; }
  ActQuantSpec& site(Site s) { return sites[static_cast<size_t>(s)]; }
  bool quantizes_activations() const;
  bool quantizes_kv() const;  // K or V cache
  // "W4 sym per-channel mse(2.4) | A4 asym per-token (q/k/v, gate/up, down) | o_proj A4 asym group 8 | KV4 asym per-head"
  std::string describe() const;
};

// Parses "W-A-KV" (each 2…16; 16 = off) for a model with head dimension `head_dim`.
Result<QuantConfig> quant_config_parse(const std::string& bits, int64_t head_dim);

// Applies one override "SITE=SPEC" where SITE is weight, act (every activation site), kv (key
// and value) or a site name (attn_input, o_proj_input, ffn_input, down_proj_input, key_rope,
// value), and SPEC is "BITS[:sym|:asym][:gN][:clipX][:absmax][:nomse]", e.g.
// "down_proj_input=8", "kv=4:clip0.95", "weight=4:g128:asym".
Status quant_config_override(QuantConfig& config, const std::string& override_spec);

// Fake-quantizes activations at run time per `config` (weights are quantized ahead of time).
// With ste = true the rounding passes gradients straight through (training).
class ActivationQuantHooks : public ForwardHooks {
 public:
  explicit ActivationQuantHooks(const QuantConfig& config, bool ste = false) : config_(config), ste_(ste) {}
  void on_site(int64_t layer, Site site, at::Tensor& x) override;

 private:
  const QuantConfig& config_;
  bool ste_;
};

}  // namespace ostq
