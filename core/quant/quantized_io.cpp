// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quantized_io.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/version.h>

#include <cmath>

#include "core/calib/transform_io.h"
#include "core/io/safetensors.h"
#include "core/model/hf_writer.h"
#include "core/quant/hadamard.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using nlohmann::json;
// 2: weight_grids.safetensors (the exact integer grids) and provenance; 1 is still read.
constexpr int kManifestVersion = 2;
constexpr const char* kGridsFile = "weight_grids.safetensors";
constexpr const char* kTransformsFile = "transforms.safetensors";

const char* sym_scale_name(SymmetricScale s) { return s == SymmetricScale::kAbsMax ? "absmax" : "spec"; }
SymmetricScale sym_scale_parse(const std::string& s) {
  return s == "absmax" ? SymmetricScale::kAbsMax : SymmetricScale::kSpec;
}

json act_to_json(const ActQuantSpec& a) {
  return {{"bits", a.bits},
          {"symmetric", a.symmetric},
          {"sym_scale", sym_scale_name(a.sym_scale)},
          {"group_size", a.group_size},
          {"clip_ratio", a.clip_ratio}};
}

ActQuantSpec act_from_json(const json& j) {
  ActQuantSpec a;
  a.bits = j.at("bits").get<int>();
  a.symmetric = j.at("symmetric").get<bool>();
  a.sym_scale = sym_scale_parse(j.at("sym_scale").get<std::string>());
  a.group_size = j.at("group_size").get<int64_t>();
  a.clip_ratio = j.at("clip_ratio").get<double>();
  return a;
}

// Sum of |M| over the dense H_ff fallback: detects a LibTorch whose RNG would regenerate a
// different matrix from the stored seed.
double dense_checksum(const at::Tensor& m) { return m.to(at::kDouble).abs().sum().item<double>(); }

std::string grid_prefix(int64_t layer, LinearId id) {
  return "layers." + std::to_string(layer) + "." + linear_name(id) + ".";
}

// weight_grids.safetensors: per linear fp32 `…scale` / `…zero` [out, n_groups]; bits, symmetry and
// group size in the metadata (one JSON object per linear prefix).
std::string grids_file_bytes(const std::vector<LayerWeightGrids>& grids) {
  std::vector<TensorToWrite> tensors;
  std::vector<at::Tensor> owned;
  json layout = json::object();
  for (int64_t li = 0; li < static_cast<int64_t>(grids.size()); ++li) {
    for (LinearId id : kLinearIds) {
      const WeightQuantGrid& g = grids[li][static_cast<int>(id)];
      const std::string p = grid_prefix(li, id);
      layout[p] = {{"bits", g.bits}, {"symmetric", g.symmetric}, {"group_size", g.group_size}};
      at::Tensor scale = g.scale.to(at::kFloat).contiguous();
      at::Tensor zero = (g.zero.defined() ? g.zero.to(at::kFloat) : torch::zeros_like(scale)).contiguous();
      for (auto& [name, t] : {std::pair<std::string, at::Tensor>{p + "scale", scale}, {p + "zero", zero}}) {
        owned.push_back(t);
        tensors.push_back({name, DType::kF32, t.sizes().vec(), t.data_ptr(), static_cast<uint64_t>(t.nbytes())});
      }
    }
  }
  return safetensors_serialize(tensors, {{"format", "ostq-weight-grids"}, {"layout", layout.dump()}}, kGridsFile);
}

std::vector<LayerWeightGrids> grids_load(const std::string& path, const ModelConfig& c) {
  SafetensorsFile f = SafetensorsFile::open(path);
  json layout;
  try {
    layout = json::parse(f.header().metadata.at("layout"));
  } catch (const std::exception& e) {
    throw_invalid(path + ": missing or unreadable grid layout metadata");
  }
  std::vector<LayerWeightGrids> grids(c.n_layers);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    for (LinearId id : kLinearIds) {
      const std::string p = grid_prefix(li, id);
      WeightQuantGrid& g = grids[li][static_cast<int>(id)];
      try {
        g.bits = layout.at(p).at("bits").get<int>();
        g.symmetric = layout.at(p).at("symmetric").get<bool>();
        g.group_size = layout.at(p).at("group_size").get<int64_t>();
      } catch (const json::exception&) {
        throw_invalid(path + ": no grid layout for " + p);
      }
      for (const char* part : {"scale", "zero"}) {
        const TensorInfo* t = f.find(p + part);
        if (t == nullptr || t->dtype != DType::kF32 || t->shape.size() != 2) {
          throw_invalid(path + ": tensor " + p + part + " missing or not fp32 [out, n_groups]");
        }
        at::Tensor x = torch::from_blob(const_cast<uint8_t*>(f.tensor_data(*t)), t->shape, at::kFloat).clone();
        (std::string(part) == "scale" ? g.scale : g.zero) = x;
      }
    }
  }
  return grids;
}

}  // namespace

std::string quant_config_to_json(const QuantConfig& c) {
  json sites = json::object();
  for (int i = 0; i < kSiteCount; ++i) {
    if (c.sites[i].enabled()) sites[site_name(static_cast<Site>(i))] = act_to_json(c.sites[i]);
  }
  const WeightQuantSpec& w = c.weight;
  json j = {{"bits", c.bits},
            {"weight",
             {{"bits", w.bits},
              {"symmetric", w.symmetric},
              {"sym_scale", sym_scale_name(w.sym_scale)},
              {"group_size", w.group_size},
              {"mse_clip", w.mse_clip},
              {"mse_norm", w.mse_norm},
              {"mse_grid", w.mse_grid},
              {"mse_max_shrink", w.mse_max_shrink}}},
            {"activations", sites},
            {"overrides", c.overrides},
            {"describe", c.describe()}};
  return j.dump(2);
}

QuantConfig quant_config_from_json(const std::string& text, const std::string& what) {
  try {
    json j = json::parse(text);
    QuantConfig c;
    c.bits = j.at("bits").get<std::string>();
    const json& w = j.at("weight");
    c.weight.bits = w.at("bits").get<int>();
    c.weight.symmetric = w.at("symmetric").get<bool>();
    c.weight.sym_scale = sym_scale_parse(w.at("sym_scale").get<std::string>());
    c.weight.group_size = w.at("group_size").get<int64_t>();
    c.weight.mse_clip = w.at("mse_clip").get<bool>();
    c.weight.mse_norm = w.at("mse_norm").get<double>();
    c.weight.mse_grid = w.at("mse_grid").get<int>();
    c.weight.mse_max_shrink = w.at("mse_max_shrink").get<double>();
    for (int i = 0; i < kSiteCount; ++i) {
      const char* name = site_name(static_cast<Site>(i));
      if (j.at("activations").contains(name)) c.sites[i] = act_from_json(j.at("activations").at(name));
    }
    c.overrides = j.value("overrides", std::vector<std::string>{});
    return c;
  } catch (const json::exception& e) {
    throw_invalid(what + ": bad quantizer configuration: " + e.what());
  }
}

void quantized_model_save(const QuantizedModel& q, const std::string& dir, const std::string& tokenizer_path,
                          const ProgressFn& progress,
                          const std::vector<std::pair<std::string, std::string>>& extra_files) {
  const Model& m = *q.model;
  json manifest = {{"format", "ostq-quantized"},
                   {"version", kManifestVersion},
                   {"method", q.method},
                   {"seed", q.seed},
                   {"quantizers", json::parse(quant_config_to_json(q.config))},
                   {"online", {{"ffn_rotation", m.online.ffn}, {"qk_hadamard", m.online.qk}}},
                   {"notes", q.notes}};
  if (m.online.ffn_dense.defined()) {
    manifest["online"]["ffn_dense"] = {{"kind", "random_orthogonal"}, {"seed", q.seed},
                                       {"checksum", dense_checksum(m.online.ffn_dense)}};
  }
  json gptq = json::array();
  for (const GptqLinearReport& r : q.gptq) {
    gptq.push_back({{"layer", r.layer}, {"linear", linear_name(r.linear)}, {"error", r.error},
                    {"rtn_error", r.rtn_error}, {"dead_columns", r.dead_columns}});
  }
  manifest["gptq"] = gptq;
  manifest["provenance"] = {{"ostq_version", OSTQ_VERSION},
                            {"libtorch_version", TORCH_VERSION},
                            {"seed", q.seed},
                            {"calibration_hash", q.calibration_hash},
                            {"calibration_windows", q.calibration_windows},
                            {"calibration_seqlen", q.calibration_seqlen}};
  manifest["weight_grids"] = q.weight_grids.empty() ? json(nullptr) : json(kGridsFile);
  if (q.learned) {
    const LearnResult& l = *q.learned;
    manifest["learned"] = {{"settings", l.settings.describe()},
                           {"steps_run", l.log.size()},
                           {"final_loss", l.log.empty() ? 0.0 : l.log.back().loss},
                           {"first_loss", l.log.empty() ? 0.0 : l.log.front().loss},
                           {"resumed_from_step", l.resumed_from_step},
                           {"selected_step", l.selected_step},
                           {"validation", l.validation_summary},
                           {"seconds", l.seconds}};
  }
  HfWriteOptions o;
  o.dtype = m.dtype == at::kBFloat16 ? DType::kBF16 : DType::kF32;
  o.tokenizer_path = tokenizer_path;
  o.extra_files.emplace_back(kQuantManifestName, manifest.dump(2) + "\n");
  if (!q.weight_grids.empty()) o.extra_files.emplace_back(kGridsFile, grids_file_bytes(q.weight_grids));
  if (q.learned) {
    const json provenance = manifest["provenance"];
    o.extra_files.emplace_back(kTransformsFile,
                               serialize_transform_set(q.learned->transforms, m.config, provenance.dump(), kTransformsFile));
  }
  o.extra_files.insert(o.extra_files.end(), extra_files.begin(), extra_files.end());
  hf_write(m, dir, o, progress);
}

bool is_quantized_model_dir(const std::string& path) {
  return is_directory(path) && file_exists(path_join(path, kQuantManifestName));
}

Result<QuantizedModel> quantized_model_load(const std::string& dir, const LoadOptions& options) {
  return status_guard([&]() -> QuantizedModel {
    const std::string manifest_path = path_join(dir, kQuantManifestName);
    json j;
    try {
      j = json::parse(read_file(manifest_path));
    } catch (const json::exception& e) {
      throw_invalid(manifest_path + ": not valid JSON: " + e.what());
    }
    if (j.value("format", "") != "ostq-quantized") throw_invalid(manifest_path + ": not an OSTQ quantized-model manifest");
    const int version = j.value("version", 0);
    if (version < 1 || version > kManifestVersion) {
      throw_unsupported(manifest_path + ": manifest version " + std::to_string(j.value("version", 0)) +
                        " (this build reads " + std::to_string(kManifestVersion) + ")");
    }
    Result<std::shared_ptr<Model>> model = model_load(dir, options);
    if (!model.is_ok()) throw StatusError(model.status());
    QuantizedModel q;
    q.model = model.value();
    try {
      q.method = j.at("method").get<std::string>();
      q.seed = j.at("seed").get<uint64_t>();
      q.config = quant_config_from_json(j.at("quantizers").dump(), manifest_path);
      q.notes = j.value("notes", std::vector<std::string>{});
      const json& online = j.at("online");
      q.model->online.ffn = online.at("ffn_rotation").get<bool>();
      q.model->online.qk = online.at("qk_hadamard").get<bool>();
      if (online.contains("ffn_dense")) {
        at::Tensor m = random_orthogonal(q.model->config.hidden_dim, online.at("ffn_dense").at("seed").get<uint64_t>());
        const double expected = online.at("ffn_dense").at("checksum").get<double>();
        if (std::abs(dense_checksum(m) - expected) > 1e-6 * std::abs(expected)) {
          throw_unsupported(manifest_path + ": the random orthogonal H_ff cannot be regenerated bit-exactly by this build");
        }
        q.model->online.ffn_dense = m.to(at::kFloat);
      }
      for (const json& r : j.value("gptq", json::array())) {
        GptqLinearReport g;
        g.layer = r.at("layer").get<int64_t>();
        const std::string name = r.at("linear").get<std::string>();
        for (LinearId id : kLinearIds) {
          if (name == linear_name(id)) g.linear = id;
        }
        g.error = r.at("error").get<double>();
        g.rtn_error = r.at("rtn_error").get<double>();
        g.dead_columns = r.at("dead_columns").get<int64_t>();
        q.gptq.push_back(g);
      }
      if (j.contains("provenance")) {
        const json& p = j.at("provenance");
        q.calibration_hash = p.value("calibration_hash", "");
        q.calibration_windows = p.value("calibration_windows", int64_t{0});
        q.calibration_seqlen = p.value("calibration_seqlen", int64_t{0});
      }
    } catch (const json::exception& e) {
      throw_invalid(manifest_path + ": " + e.what());
    }
    const std::string grids_path = path_join(dir, kGridsFile);
    if (file_exists(grids_path)) q.weight_grids = grids_load(grids_path, q.model->config);
    if (q.model->online.qk && !hadamard_exists(q.model->config.head_dim)) {
      throw_unsupported(manifest_path + ": no Hadamard matrix of order " + std::to_string(q.model->config.head_dim));
    }
    return q;
  });
}

}  // namespace ostq
