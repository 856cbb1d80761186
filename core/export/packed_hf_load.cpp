// SPDX-License-Identifier: Apache-2.0
// GPTQ / compressed-tensors directories → dequantized fp32 Model; see Note [packed hf validation].
#include "core/export/packed_hf_load.h"

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <optional>
#include <regex>
#include <set>

#include "core/export/packed_common.h"
#include "core/io/hf_config.h"
#include "core/io/safetensors.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using json = nlohmann::json;
constexpr std::initializer_list<DType> kFloats = {DType::kF32, DType::kF16, DType::kBF16};

// How one linear is stored.
struct Scheme {
  enum class Kind { kDense, kGptq, kCtPacked, kCtInt } kind = Kind::kDense;
  int bits = 0;
  int64_t group_size = 0;  // 0: one group per output row
  bool symmetric = true;
  bool g_idx = false;      // compressed-tensors actorder "group": weight_g_idx is stored
  int zero_offset = 1;     // GPTQ v1 stores zero − 1
};

// Tensors of the directory, copied out with their dtype and shape checked.
class PackedTensorReader {
 public:
  explicit PackedTensorReader(const std::string& dir) : dir_(dir), store_(SafetensorsStore::open_dir(dir)) {}

  // The file that holds (or should hold) `name`.
  std::string file_of(const std::string& name) const {
    if (TensorLocation l = store_.find(name)) return l.file->path();
    if (store_.files().size() == 1) return store_.files()[0]->path();
    return path_join(dir_, "model.safetensors.index.json");
  }
  // "<file>: tensor <name>", for messages.
  std::string where(const std::string& name) const { return file_of(name) + ": tensor " + name; }

  // Float tensors come back fp32, integer tensors in their stored type. `why` explains a missing one.
  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape, std::initializer_list<DType> dtypes,
                 const std::string& why) const {
    at::Tensor t = find(name, shape, dtypes);
    if (!t.defined()) throw_invalid(where(name) + " is missing" + why);
    return t;
  }

  at::Tensor find(const std::string& name, const std::vector<int64_t>& shape,
                  std::initializer_list<DType> dtypes) const {
    const TensorLocation loc = store_.find(name);
    if (!loc) return {};
    const TensorInfo& info = *loc.info;
    if (std::find(dtypes.begin(), dtypes.end(), info.dtype) == dtypes.end()) {
      std::string allowed;
      for (DType d : dtypes) allowed += std::string(allowed.empty() ? "" : ", ") + dtype_name(d);
      throw_invalid(where(name) + " has dtype " + dtype_name(info.dtype) + " (expected " + allowed + ")");
    }
    if (info.shape != shape) {
      throw_invalid(where(name) + " has shape " + shape_to_string(info.shape) + ", config.json implies " +
                    shape_to_string(shape));
    }
    // A copy: memory-mapped data need not be aligned for its dtype.
    at::Tensor t = torch::empty(shape, at::TensorOptions().dtype(scalar_type_of_any(info.dtype)));
    if (info.nbytes > 0) std::memcpy(t.data_ptr(), loc.data(), info.nbytes);
    return dtype_is_float(info.dtype) ? t.to(at::kFloat) : t;
  }

  std::vector<std::string> names() const { return store_.names(); }

 private:
  std::string dir_;
  SafetensorsStore store_;
};

// ---- quantization_config ----

const json* member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

class ConfigReader {
 public:
  ConfigReader(const json& o, std::string file, std::string prefix)
      : o_(o), file_(std::move(file)), prefix_(std::move(prefix)) {}
  [[noreturn]] void fail(const std::string& key, const std::string& problem, bool unsupported = false) const {
    const std::string m = file_ + ": " + prefix_ + key + " " + problem;
    if (unsupported) throw_unsupported(m);
    throw_invalid(m);
  }
  const json* get(const char* key) const { return member(o_, key); }
  int64_t req_int(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    if (!v->is_number_integer()) fail(key, "must be an integer");
    return v->get<int64_t>();
  }
  std::string str(const char* key, const std::string& fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) fail(key, "must be a string");
    return v->get<std::string>();
  }
  bool boolean(const char* key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) fail(key, "must be true or false");
    return v->get<bool>();
  }
  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    const json* v = get(key);
    if (v == nullptr) return out;
    if (!v->is_array()) fail(key, "must be a list of strings");
    for (const json& e : *v) {
      if (!e.is_string()) fail(key, "must be a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  bool empty_or_null(const char* key) const {
    const json* v = get(key);
    return v == nullptr || (v->is_object() && v->empty()) || (v->is_array() && v->empty());
  }

 private:
  const json& o_;
  std::string file_, prefix_;
};

// compressed-tensors target: "Linear" (every nn.Linear), "re:<regex>" (re.match on the module
// name) or an exact module name.
struct Target {
  std::string text;
  std::optional<std::regex> re;
  bool matches(const std::string& name) const {
    if (text == "Linear") return true;
    if (re) return std::regex_search(name, *re, std::regex_constants::match_continuous);
    return text == name;
  }
};

class Schemes {
 public:
  Schemes(const json& qc, const std::string& file) {
    if (!qc.is_object()) throw_invalid(file + ": quantization_config must be an object");
    const ConfigReader r(qc, file, "quantization_config.");
    method_ = r.str("quant_method", "gptq");  // AutoGPTQ's quantize_config.json may omit it
    if (method_ == "gptq") {
      parse_gptq(r);
    } else if (method_ == "compressed-tensors") {
      parse_ct(qc, r, file);
    } else {
      r.fail("quant_method", "\"" + method_.substr(0, 60) + "\" is not supported (gptq, compressed-tensors)", true);
    }
    if (scheme_for("lm_head").kind != Scheme::Kind::kDense) {
      throw_unsupported(file + ": quantization_config quantizes lm_head, which this reader does not load");
    }
  }

  // `name` is the full module name ("model.layers.0.self_attn.q_proj" or "lm_head").
  Scheme scheme_for(const std::string& name) const {
    if (method_ == "gptq") {
      if (name == "lm_head") return gptq_lm_head_ ? gptq_ : Scheme{};
      if (!gptq_modules_) return gptq_;
      const std::string block = name.substr(name.find('.', std::strlen("model.layers.")) + 1);
      return gptq_modules_->count(block) ? gptq_ : Scheme{};
    }
    for (const Target& t : ignore_) {
      if (t.matches(name)) return {};
    }
    for (const auto& [targets, scheme] : groups_) {
      for (const Target& t : targets) {
        if (t.matches(name)) return scheme;
      }
    }
    return {};
  }

 private:
  void parse_gptq(const ConfigReader& r) {
    gptq_.kind = Scheme::Kind::kGptq;
    gptq_.bits = static_cast<int>(r.req_int("bits"));
    if (gptq_.bits != 2 && gptq_.bits != 4 && gptq_.bits != 8) {
      r.fail("bits", "= " + std::to_string(gptq_.bits) + " is not supported (2, 4 or 8)", true);
    }
    const int64_t g = r.req_int("group_size");
    if (g != -1 && g <= 0) r.fail("group_size", "must be -1 or positive");
    gptq_.group_size = g > 0 ? g : 0;
    gptq_.symmetric = r.boolean("sym", true);
    const std::string format = r.str("checkpoint_format", "gptq");
    if (format != "gptq" && format != "gptq_v2") r.fail("checkpoint_format", "\"" + format.substr(0, 60) + "\" is not supported", true);
    gptq_.zero_offset = format == "gptq" ? 1 : 0;
    gptq_lm_head_ = r.boolean("lm_head", false);
    if (!r.empty_or_null("dynamic")) r.fail("dynamic", "(per-module overrides) is not supported", true);
    if (const json* m = r.get("modules_in_block_to_quantize")) {
      // A list of lists (sequential groups) or a flat list of block module names.
      if (!m->is_array()) r.fail("modules_in_block_to_quantize", "must be a list");
      std::set<std::string> names;
      std::function<void(const json&)> add = [&](const json& e) {
        if (e.is_array()) {
          for (const json& x : e) add(x);
        } else if (e.is_string()) {
          names.insert(e.get<std::string>());
        } else {
          r.fail("modules_in_block_to_quantize", "must hold module names");
        }
      };
      for (const json& e : *m) add(e);
      for (const std::string& n : names) {
        bool known = false;
        for (LinearId id : kLinearIds) known = known || n == hf_block_module(id);
        if (!known) r.fail("modules_in_block_to_quantize", "names an unknown module \"" + n.substr(0, 60) + "\"");
      }
      gptq_modules_ = std::move(names);
    }
  }

  void parse_ct(const json& qc, const ConfigReader& r, const std::string& file) {
    const std::string format = r.str("format", "");
    const std::string status = r.str("quantization_status", "compressed");
    if (status != "compressed") {
      r.fail("quantization_status", "\"" + status.substr(0, 60) + "\" is not supported (only compressed)", true);
    }
    if (!r.empty_or_null("kv_cache_scheme")) r.fail("kv_cache_scheme", "(KV-cache quantization) is not supported", true);
    if (!r.empty_or_null("transform_config")) r.fail("transform_config", "(online transforms) is not supported", true);
    if (!r.empty_or_null("sparsity_config")) r.fail("sparsity_config", "(sparse weights) is not supported", true);
    ignore_ = targets(r.strings("ignore"), file);
    const json* groups = member(qc, "config_groups");
    if (groups == nullptr || !groups->is_object() || groups->empty()) {
      r.fail("config_groups", "must be a non-empty object");
    }
    for (const auto& [name, g] : groups->items()) {
      const std::string prefix = "quantization_config.config_groups." + name + ".";
      if (!g.is_object()) throw_invalid(file + ": " + prefix.substr(0, prefix.size() - 1) + " must be an object");
      const ConfigReader gr(g, file, prefix);
      for (const char* key : {"input_activations", "output_activations"}) {
        if (!gr.empty_or_null(key)) gr.fail(key, "(activation quantization) is not supported", true);
      }
      Scheme s;
      if (const json* w = gr.get("weights")) {
        if (!w->is_object()) gr.fail("weights", "must be an object");
        s = ct_weights(*w, ConfigReader(*w, file, prefix + "weights."), gr.str("format", format), file);
      }
      groups_.emplace_back(targets(gr.strings("targets"), file), s);
    }
  }

  static Scheme ct_weights(const json& w, const ConfigReader& r, const std::string& format, const std::string& file) {
    Scheme s;
    s.bits = static_cast<int>(r.req_int("num_bits"));
    if (r.str("type", "int") != "int") r.fail("type", "\"" + r.str("type", "") + "\" is not supported (int)", true);
    if (r.boolean("dynamic", false)) r.fail("dynamic", "true is not supported", true);
    s.symmetric = r.boolean("symmetric", true);
    const std::string strategy = r.str("strategy", "");
    if (strategy == "group") {
      s.group_size = r.req_int("group_size");
      if (s.group_size <= 0) r.fail("group_size", "must be positive");
    } else if (strategy != "channel") {
      r.fail("strategy", "\"" + strategy.substr(0, 60) + "\" is not supported (group, channel)", true);
    }
    const json* actorder = member(w, "actorder");
    if (actorder != nullptr && !actorder->is_boolean() && !actorder->is_string()) r.fail("actorder", "must be a string");
    s.g_idx = actorder != nullptr && actorder->is_string() && actorder->get<std::string>() == "group";
    if (format == "pack-quantized") {
      s.kind = Scheme::Kind::kCtPacked;
      if (s.bits != 2 && s.bits != 4 && s.bits != 8) r.fail("num_bits", "= " + std::to_string(s.bits) + " cannot be packed", true);
    } else if (format == "int-quantized") {
      s.kind = Scheme::Kind::kCtInt;
      if (s.bits < 2 || s.bits > 8) r.fail("num_bits", "= " + std::to_string(s.bits) + " does not fit int8", true);
    } else {
      throw_unsupported(file + ": quantization_config.format \"" + format.substr(0, 60) +
                        "\" is not supported (pack-quantized, int-quantized)");
    }
    return s;
  }

  static std::vector<Target> targets(const std::vector<std::string>& texts, const std::string& file) {
    std::vector<Target> out;
    for (const std::string& t : texts) {
      Target target{t, std::nullopt};
      if (t.rfind("re:", 0) == 0) {
        try {
          target.re.emplace(t.substr(3));
        } catch (const std::regex_error&) {
          throw_invalid(file + ": quantization_config target \"" + t.substr(0, 60) + "\" is not a valid regex");
        }
      }
      out.push_back(std::move(target));
    }
    return out;
  }

  std::string method_;
  Scheme gptq_;
  bool gptq_lm_head_ = false;
  std::optional<std::set<std::string>> gptq_modules_;
  std::vector<Target> ignore_;
  std::vector<std::pair<std::vector<Target>, Scheme>> groups_;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One linear [out, in] under prefix `p`, dequantized to fp32.
at::Tensor read_linear(const PackedTensorReader& r, const Scheme& s, const std::string& p, int64_t out, int64_t in) {
  const std::string why = " (quantization_config quantizes " + p + ")";
  const int64_t g = s.group_size > 0 ? s.group_size : in;
  const int64_t ng = ceil_div(in, g);
  const at::Tensor default_g_idx = torch::arange(in, torch::kLong).div(g, "floor");
  switch (s.kind) {
    case Scheme::Kind::kDense:
      return r.get(p + ".weight", {out, in}, kFloats, " (quantization_config leaves " + p + " unquantized)");
    case Scheme::Kind::kGptq: {
      const int pf = 32 / s.bits;
      if (in % pf != 0 || out % pf != 0) {
        throw_invalid(r.where(p + ".qweight") + ": [out, in] = [" + std::to_string(out) + ", " + std::to_string(in) +
                      "] cannot be packed in GPTQ int32 words (list the module outside modules_in_block_to_quantize)");
      }
      GptqTensors t;
      t.qweight = r.get(p + ".qweight", {in / pf, out}, {DType::kI32}, why);
      t.qzeros = r.get(p + ".qzeros", {ng, out / pf}, {DType::kI32}, why);
      t.scales = r.get(p + ".scales", {ng, out}, kFloats, why);
      t.g_idx = r.find(p + ".g_idx", {in}, {DType::kI32, DType::kI64});
      if (!t.g_idx.defined()) t.g_idx = default_g_idx;
      return gptq_dequantize(t, s.bits, out, in, s.zero_offset, r.file_of(p + ".qweight") + ": tensor " + p + ".");
    }
    case Scheme::Kind::kCtPacked:
    case Scheme::Kind::kCtInt: {
      CompressedTensorsLinear t;
      if (s.kind == Scheme::Kind::kCtPacked) {
        const at::Tensor shape = r.get(p + ".weight_shape", {2}, {DType::kI64, DType::kI32}, why).to(at::kLong);
        if (shape[0].item<int64_t>() != out || shape[1].item<int64_t>() != in) {
          throw_invalid(r.where(p + ".weight_shape") + " is " +
                        shape_to_string({shape[0].item<int64_t>(), shape[1].item<int64_t>()}) +
                        ", config.json implies " + shape_to_string({out, in}));
        }
        t.weight_packed = r.get(p + ".weight_packed", {out, ceil_div(in * s.bits, 32)}, {DType::kI32}, why);
        if (!s.symmetric) {
          t.weight_zero_point = r.get(p + ".weight_zero_point", {ceil_div(out * s.bits, 32), ng}, {DType::kI32}, why);
        }
      } else {
        t.weight = r.get(p + ".weight", {out, in}, {DType::kI8}, why);
        if (!s.symmetric) t.weight_zero_point = r.get(p + ".weight_zero_point", {out, ng}, {DType::kI8, DType::kI32}, why);
      }
      t.weight_scale = r.get(p + ".weight_scale", {out, ng}, kFloats, why);
      const at::Tensor g_idx = s.g_idx ? r.get(p + ".weight_g_idx", {in}, {DType::kI32, DType::kI64}, why) : default_g_idx;
      return compressed_tensors_dequantize(t, s.bits, out, in, g_idx, r.file_of(p + ".weight_scale") + ": tensor " + p + ".");
    }
  }
  return {};
}

// config.json, and its quantization_config (or AutoGPTQ's quantize_config.json beside it).
std::pair<json, json> read_configs(const std::string& dir) {
  const std::string file = path_join(dir, "config.json");
  const std::string text = read_file(file);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw_invalid(file + ": not a valid JSON object");
  json qc;
  if (auto it = j.find("quantization_config"); it != j.end() && !it->is_null()) {
    qc = *it;
    j.erase(it);
  } else if (const std::string side = path_join(dir, "quantize_config.json"); file_exists(side)) {
    qc = json::parse(read_file(side), nullptr, false);
    if (qc.is_discarded() || !qc.is_object()) throw_invalid(side + ": not a valid JSON object");
  } else {
    throw_invalid(file + ": no quantization_config (not a GPTQ or compressed-tensors checkpoint)");
  }
  return {std::move(j), std::move(qc)};
}

}  // namespace

at::Tensor gptq_dequantize(const GptqTensors& t, int bits, int64_t out, int64_t in, int zero_offset,
                           const std::string& what) {
  const at::Tensor q = unpack_int32(t.qweight, bits, 0, in);                  // [in, out]
  const at::Tensor z = unpack_int32(t.qzeros, bits, 1, out) + zero_offset;    // [n_groups, out]
  const int64_t ng = t.scales.size(0);
  const at::Tensor gi = t.g_idx.to(at::kLong);
  if (gi.numel() > 0 && (gi.min().item<int64_t>() < 0 || gi.max().item<int64_t>() >= ng)) {
    throw_invalid(what + "g_idx has entries outside [0, " + std::to_string(ng) + ")");
  }
  const at::Tensor w = t.scales.to(at::kFloat).index_select(0, gi) * (q - z.index_select(0, gi)).to(at::kFloat);
  return w.t().contiguous();
}

at::Tensor compressed_tensors_dequantize(const CompressedTensorsLinear& t, int bits, int64_t out, int64_t in,
                                         const at::Tensor& g_idx, const std::string& what) {
  const int64_t half = int64_t{1} << (bits - 1);
  const int64_t ng = t.weight_scale.size(1);
  at::Tensor v;  // signed codes, int32 [out, in]
  if (t.weight_packed.defined()) {
    v = unpack_int32(t.weight_packed, bits, 1, in) - half;
  } else {
    v = t.weight.to(at::kInt);
    if (v.numel() > 0 && (v.min().item<int64_t>() < -half || v.max().item<int64_t>() >= half)) {
      throw_invalid(what + "weight holds codes outside the " + std::to_string(bits) + "-bit range");
    }
  }
  at::Tensor zp = torch::zeros({out, ng}, torch::kInt);  // signed zero points
  if (t.weight_zero_point.defined()) {
    zp = t.weight_packed.defined() ? unpack_int32(t.weight_zero_point, bits, 0, out) - half
                                   : t.weight_zero_point.to(at::kInt);
  }
  const at::Tensor gi = g_idx.to(at::kLong);
  if (gi.numel() > 0 && (gi.min().item<int64_t>() < 0 || gi.max().item<int64_t>() >= ng)) {
    throw_invalid(what + "weight_g_idx has entries outside [0, " + std::to_string(ng) + ")");
  }
  return t.weight_scale.to(at::kFloat).index_select(1, gi) * (v - zp.index_select(1, gi)).to(at::kFloat);
}

bool is_packed_hf_dir(const std::string& dir) {
  try {
    if (!is_directory(dir) || !file_exists(path_join(dir, "config.json"))) return false;
    const auto [config, qc] = read_configs(dir);
    const json* m = member(qc, "quant_method");
    if (m == nullptr) return qc.contains("bits") && qc.contains("group_size");  // quantize_config.json
    return m->is_string() && (*m == "gptq" || *m == "compressed-tensors");
  } catch (...) {
    return false;
  }
}

std::shared_ptr<Model> packed_hf_load(const std::string& dir) {
  const std::string file = path_join(dir, "config.json");
  const auto [config, qc] = read_configs(dir);
  auto model = std::make_shared<Model>();
  model->config = hf_config_parse(config.dump(), file);
  model->path = dir;
  model->dtype = at::kFloat;
  const ModelConfig& c = model->config;
  const Schemes schemes(qc, file);
  const PackedTensorReader r(dir);

  ModelWeights& w = model->weights;
  w.embedding = r.get("model.embed_tokens.weight", {c.vocab_size, c.dim}, kFloats, "");
  w.final_norm = r.get("model.norm.weight", {c.dim}, kFloats, "");
  w.lm_head = r.find("lm_head.weight", {c.vocab_size, c.dim}, kFloats);
  if (!w.lm_head.defined()) {
    if (!c.tied_embeddings) throw_invalid(r.where("lm_head.weight") + " is missing (tie_word_embeddings is false)");
    w.lm_head = w.embedding;
  }
  model->config.tied_embeddings = w.lm_head.is_same(w.embedding);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights l;
    l.attn_norm = r.get(p + "input_layernorm.weight", {c.dim}, kFloats, "");
    l.ffn_norm = r.get(p + "post_attention_layernorm.weight", {c.dim}, kFloats, "");
    for (LinearId id : kLinearIds) {
      const std::string prefix = hf_linear_prefix(i, id);
      const auto [out, in] = linear_shape(c, id);
      linear_weight(l, id) = read_linear(r, schemes.scheme_for(prefix), prefix, out, in);
    }
    if (c.qkv_bias) {
      l.bq = r.get(p + "self_attn.q_proj.bias", {c.q_dim()}, kFloats, " (qkv biases)");
      l.bk = r.get(p + "self_attn.k_proj.bias", {c.kv_dim()}, kFloats, " (qkv biases)");
      l.bv = r.get(p + "self_attn.v_proj.bias", {c.kv_dim()}, kFloats, " (qkv biases)");
    }
    w.layers.push_back(std::move(l));
  }
  const std::string beyond = "model.layers." + std::to_string(c.n_layers) + ".";
  for (const std::string& name : r.names()) {
    if (name.rfind(beyond, 0) == 0) {
      throw_invalid(r.where(name) + " exists but config.json has num_hidden_layers " + std::to_string(c.n_layers));
    }
  }
  return model;
}

}  // namespace ostq
