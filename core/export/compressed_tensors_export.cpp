// SPDX-License-Identifier: Apache-2.0
// compressed-tensors export; the layout is Note [compressed-tensors export] and FORMATS.md §6.2.
#include "core/export/compressed_tensors_export.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "core/export/packed_common.h"

namespace ostq {

namespace {

const WeightQuantGrid& check_grids(const QuantizedModel& q) { return uniform_weight_grid(q, "compressed-tensors"); }

DType check_dtype(DType d) {
  if (d != DType::kF32 && d != DType::kF16 && d != DType::kBF16) {
    throw_unsupported(std::string("compressed-tensors export dtype ") + dtype_name(d) + " (use F32, BF16 or F16)");
  }
  return d;
}

}  // namespace

CompressedTensorsLinear compressed_tensors_pack(const QuantizedLinear& l) {
  const int64_t out = l.out_features(), in = l.in_features();
  CompressedTensorsLinear t;
  t.weight_scale = l.scale.to(at::kFloat).contiguous();
  // Signed codes are stored offset by 2^{b−1}: exactly the unsigned codes of either grid kind.
  const at::Tensor u = unsigned_codes(l);
  const int64_t half = int64_t{1} << (l.bits - 1);
  if (l.bits == 4) {
    t.weight_packed = pack_int32(u, 4, 1);
    t.weight_shape = torch::tensor({out, in}, torch::kLong);
    if (!l.symmetric) t.weight_zero_point = pack_int32(unsigned_zeros(l), 4, 0);
  } else if (l.bits == 8) {
    t.weight = (u - half).to(at::kChar);
    if (!l.symmetric) t.weight_zero_point = (unsigned_zeros(l) - half).to(at::kChar);
  } else {
    throw StatusError(Status::internal("compressed_tensors_pack: " + std::to_string(l.bits) + " bits"));
  }
  return t;
}

ExportReport write_compressed_tensors_export(const QuantizedModel& q, const std::string& out_dir,
                                             const ExportOptions& o) {
  if (!q.model) throw StatusError(Status::internal("write_compressed_tensors_export: no model"));
  const Model& m = *q.model;
  const ModelConfig& c = m.config;
  const WeightQuantGrid& grid = check_grids(q);
  const DType dt = check_dtype(o.dense_dtype);
  ExportReport report;
  report.path = out_dir;
  report.format = ExportFormat::kCompressedTensors;

  ExportTensors tensors;
  add_model_dense_tensors(m, dt, tensors);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    report_progress(o.progress, 0.5 * static_cast<double>(i) / static_cast<double>(c.n_layers), "pack",
                    "layer " + std::to_string(i));
    add_layer_norm_tensors(m, i, dt, tensors);
    const LayerWeights& lw = m.weights.layers[i];
    for (LinearId id : kLinearIds) {
      const std::string p = hf_linear_prefix(i, id);
      tensors.add(p + ".bias", linear_bias(lw, id), dt);
      const CompressedTensorsLinear t = compressed_tensors_pack(quantized_linear(q, i, id));
      if (t.weight_packed.defined()) {
        tensors.add(p + ".weight_packed", t.weight_packed, DType::kI32);
        tensors.add(p + ".weight_shape", t.weight_shape, DType::kI64);
      } else {
        tensors.add(p + ".weight", t.weight, DType::kI8);
      }
      tensors.add(p + ".weight_scale", t.weight_scale, dt);
      if (t.weight_zero_point.defined()) {
        tensors.add(p + ".weight_zero_point", t.weight_zero_point, grid.bits == 4 ? DType::kI32 : DType::kI8);
      }
    }
  }
  if (dt != DType::kF32) {
    report.notes.push_back(std::string("weight_scale stored as ") + dtype_name(dt) +
                           " with the codes kept: reloaded weights differ from the evaluated ones by the "
                           "scale rounding");
  }

  using ojson = nlohmann::ordered_json;
  ojson weights;
  weights["num_bits"] = grid.bits;
  weights["type"] = "int";
  weights["symmetric"] = grid.symmetric;
  weights["strategy"] = grid.group_size > 0 ? "group" : "channel";
  weights["group_size"] = grid.group_size > 0 ? ojson(grid.group_size) : ojson(nullptr);
  weights["dynamic"] = false;
  weights["actorder"] = nullptr;
  weights["observer"] = "minmax";
  ojson group;
  group["targets"] = {"Linear"};
  group["weights"] = weights;
  group["input_activations"] = nullptr;
  group["output_activations"] = nullptr;
  ojson qc;
  qc["quant_method"] = "compressed-tensors";
  qc["format"] = grid.bits == 4 ? "pack-quantized" : "int-quantized";
  qc["quantization_status"] = "compressed";
  qc["ignore"] = {"lm_head"};
  qc["kv_cache_scheme"] = nullptr;
  qc["config_groups"] = {{"group_0", group}};
  qc["transform_config"] = ojson::object();
  qc["sparsity_config"] = ojson::object();

  PackedDirWrite w;
  w.dir = out_dir;
  w.config_json = config_json_with_quantization(c, dt, qc.dump());
  finish_packed_export(q, o, w, tensors, report);
  return report;
}

}  // namespace ostq
