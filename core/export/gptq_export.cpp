// SPDX-License-Identifier: Apache-2.0
// GPTQ v1 export; the layout is Note [gptq export] and FORMATS.md §6.1.
#include "core/export/gptq_export.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <vector>

#include "core/export/packed_common.h"

namespace ostq {

namespace {

// One bit width and group size for the whole model, symmetric (GPTQ v1 stores zero − 1 = 7).
const WeightQuantGrid& check_grids(const QuantizedModel& q) {
  const WeightQuantGrid& grid = uniform_weight_grid(q, "GPTQ");
  if (!grid.symmetric) throw_invalid("GPTQ export writes symmetric codes; quantize with symmetric weights");
  return grid;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

}  // namespace

bool gptq_packable(int64_t out, int64_t in, int bits, int64_t group_size) {
  const int pf = 32 / bits;
  return in % pf == 0 && out % 8 == 0 && out % pf == 0 && (group_size <= 0 || in % group_size == 0);
}

GptqTensors gptq_pack(const QuantizedLinear& l) {
  const int64_t out = l.out_features(), in = l.in_features();
  if (!gptq_packable(out, in, l.bits, 0)) {
    throw StatusError(Status::internal("gptq_pack: [" + std::to_string(out) + "," + std::to_string(in) +
                                       "] does not fit GPTQ tensors"));
  }
  GptqTensors t;
  t.qweight = pack_int32(unsigned_codes(l).t(), l.bits, 0);  // [in, out] packed along the input
  // v1 stores zero − 1 (symmetric 4-bit: 7, so every word is 0x77777777).
  t.qzeros = pack_int32((unsigned_zeros(l) - 1).t(), l.bits, 1);  // [n_groups, out] along the output
  t.scales = l.scale.t().to(at::kHalf).contiguous();
  t.g_idx = torch::arange(in, torch::kInt).div(l.effective_group_size(), "floor").to(at::kInt);
  return t;
}

ExportReport write_gptq_export(const QuantizedModel& q, const std::string& out_dir, const ExportOptions& o) {
  if (!q.model) throw StatusError(Status::internal("write_gptq_export: no model"));
  const Model& m = *q.model;
  const ModelConfig& c = m.config;
  const WeightQuantGrid& grid = check_grids(q);
  const int bits = grid.bits;
  ExportReport report;
  report.path = out_dir;
  report.format = ExportFormat::kGptq;

  // Which linears keep standard GPTQ tensors; shapes are the same in every block.
  std::vector<bool> packed(std::size(kLinearIds));
  nlohmann::ordered_json modules = nlohmann::ordered_json::array();
  for (size_t k = 0; k < std::size(kLinearIds); ++k) {
    const auto [out, in] = linear_shape(c, kLinearIds[k]);
    packed[k] = gptq_packable(out, in, bits, grid.group_size);
    if (!packed[k]) {
      const int pf = 32 / bits;
      const std::string why = in % pf != 0   ? "in_features " + std::to_string(in) + " is not a multiple of " + std::to_string(pf)
                              : out % 8 != 0 ? "out_features " + std::to_string(out) + " is not a multiple of 8"
                                             : "in_features " + std::to_string(in) + " is not a multiple of the group size " +
                                                   std::to_string(grid.group_size);
      report.notes.push_back(hf_block_module(kLinearIds[k]) + " stored dense as F16 (" + why +
                             "); listed outside modules_in_block_to_quantize");
    }
  }
  // Grouped as GPTQ quantizes a block: q/k/v, o, gate/up, down.
  for (const std::vector<int>& seq : std::vector<std::vector<int>>{{0, 1, 2}, {3}, {4, 5}, {6}}) {
    nlohmann::ordered_json group = nlohmann::ordered_json::array();
    for (int k : seq) {
      if (packed[k]) group.push_back(hf_block_module(kLinearIds[k]));
    }
    if (!group.empty()) modules.push_back(group);
  }

  if (o.dense_dtype != DType::kF32 && o.dense_dtype != DType::kF16) {
    report.notes.push_back(std::string("unquantized tensors stored as F16, not ") + dtype_name(o.dense_dtype) +
                           ": GPTQ checkpoints are fp16");
  }
  ExportTensors tensors;
  add_model_dense_tensors(m, DType::kF16, tensors);
  double max_change = 0.0;  // largest |W_fp16 scales − W_q| / max|W_q| over the packed linears
  for (int64_t i = 0; i < c.n_layers; ++i) {
    report_progress(o.progress, 0.5 * static_cast<double>(i) / static_cast<double>(c.n_layers), "pack",
                    "layer " + std::to_string(i));
    add_layer_norm_tensors(m, i, DType::kF16, tensors);
    const LayerWeights& lw = m.weights.layers[i];
    for (size_t k = 0; k < std::size(kLinearIds); ++k) {
      const LinearId id = kLinearIds[k];
      const std::string p = hf_linear_prefix(i, id);
      tensors.add(p + ".bias", linear_bias(lw, id), DType::kF16);
      if (!packed[k]) {
        tensors.add(p + ".weight", linear_weight(lw, id), DType::kF16);
        continue;
      }
      const QuantizedLinear l = quantized_linear(q, i, id);
      GptqTensors t = gptq_pack(l);
      if (!t.scales.isfinite().all().item<bool>()) {
        throw_invalid(p + ": a weight scale exceeds the fp16 range of GPTQ scales");
      }
      // Codes are kept; only the scale rounding to fp16 moves the values.
      QuantizedLinear rounded = l;
      rounded.scale = t.scales.to(at::kFloat).t();
      const at::Tensor w = quantized_linear_dequantize(l);
      const double scale = std::max(w.abs().max().item<double>(), 1e-30);
      max_change = std::max(max_change, (quantized_linear_dequantize(rounded) - w).abs().max().item<double>() / scale);
      tensors.add(p + ".qweight", t.qweight, DType::kI32);
      tensors.add(p + ".qzeros", t.qzeros, DType::kI32);
      tensors.add(p + ".scales", t.scales, DType::kF16);
      tensors.add(p + ".g_idx", t.g_idx, DType::kI32);
    }
  }
  report.notes.push_back("scales stored as fp16 with the codes kept: weights move by at most " + fmt(max_change) +
                         " of max|W| per tensor");

  nlohmann::ordered_json qc;
  qc["quant_method"] = "gptq";
  qc["bits"] = bits;
  qc["group_size"] = grid.group_size > 0 ? grid.group_size : int64_t{-1};
  qc["desc_act"] = false;
  qc["sym"] = true;
  qc["damp_percent"] = 0.01;
  qc["true_sequential"] = true;
  qc["static_groups"] = false;
  qc["checkpoint_format"] = "gptq";
  qc["lm_head"] = false;
  if (std::find(packed.begin(), packed.end(), false) != packed.end()) qc["modules_in_block_to_quantize"] = modules;

  PackedDirWrite w;
  w.dir = out_dir;
  w.config_json = config_json_with_quantization(c, DType::kF16, qc.dump());
  w.extra_files.emplace_back("quantize_config.json", qc.dump(2) + "\n");
  finish_packed_export(q, o, w, tensors, report);
  return report;
}

}  // namespace ostq
