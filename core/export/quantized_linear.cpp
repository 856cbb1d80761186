// SPDX-License-Identifier: Apache-2.0
#include "core/export/quantized_linear.h"

#include <torch/types.h>

#include <string>

namespace ostq {

bool has_weight_grids(const QuantizedModel& q) {
  if (!q.model || q.weight_grids.size() != static_cast<size_t>(q.model->config.n_layers)) return false;
  for (const LayerWeightGrids& layer : q.weight_grids) {
    for (const WeightQuantGrid& g : layer) {
      if (g.bits >= 16 || !g.scale.defined()) return false;
    }
  }
  return true;
}

at::Tensor quantized_linear_dequantize(const QuantizedLinear& l) {
  const int64_t out = l.out_features(), in = l.in_features(), gs = l.effective_group_size();
  // Expand [out, n_groups] to [out, in]: column k uses group k / gs.
  const at::Tensor group_of_col = torch::arange(in, torch::kLong).div(gs, "floor");
  const at::Tensor s = l.scale.index_select(1, group_of_col);
  const at::Tensor z = l.zero.index_select(1, group_of_col);
  return (l.codes.to(at::kFloat) - z) * s.expand({out, in});
}

QuantizedLinear quantized_linear(const QuantizedModel& q, int64_t layer, LinearId id) {
  const std::string what = "layer " + std::to_string(layer) + " " + linear_name(id);
  if (!has_weight_grids(q)) {
    throw_invalid(q.method + ": the model's weights carry no quantization grids (weights not quantized, or a "
                  "bundle written before grids were saved): quantize again to export packed integers");
  }
  if (layer < 0 || layer >= q.model->config.n_layers) throw StatusError(Status::internal("quantized_linear: no " + what));
  const WeightQuantGrid& grid = q.weight_grids[layer][static_cast<int>(id)];
  const at::Tensor w = linear_weight(q.model->weights.layers[layer], id).to(at::kFloat);
  QuantizedLinear l;
  l.bits = grid.bits;
  l.symmetric = grid.symmetric;
  l.group_size = grid.group_size;
  l.codes = weight_quant_codes(w, grid);
  l.scale = grid.scale.to(at::kFloat).contiguous();
  l.zero = (grid.zero.defined() ? grid.zero.to(at::kFloat) : torch::zeros_like(l.scale)).contiguous();
  // The stored weight must be exactly on its grid; anything else means the grid and weight
  // drifted apart (an internal bug), and the export would not be the evaluated model.
  const double max_w = w.abs().max().item<double>();
  const double err = (quantized_linear_dequantize(l) - w).abs().max().item<double>();
  if (err > 1e-6 * std::max(max_w, 1e-30)) {
    throw StatusError(Status::internal(what + ": the quantized weight is not on its grid (max deviation " + std::to_string(err) + ")"));
  }
  return l;
}

}  // namespace ostq
