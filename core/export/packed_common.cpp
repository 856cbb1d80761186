// SPDX-License-Identifier: Apache-2.0
#include "core/export/packed_common.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <filesystem>

#include "core/io/hf_config.h"
#include "core/model/hf_writer.h"
#include "core/util/atomic_dir.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_internal(const std::string& m) { throw StatusError(Status::internal(m)); }

int pack_factor(int bits) {
  if (bits <= 0 || bits > 32 || 32 % bits != 0) fail_internal("int32 packing of " + std::to_string(bits) + "-bit values");
  return 32 / bits;
}

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path, text.size());
  f.write(text);
  f.commit();
}

}  // namespace

// values [K, N] (dim 0) → int32 [ceil(K/pf), N]; dim 1 works on the transpose. See Note [int32 packing].
at::Tensor pack_int32(const at::Tensor& values, int bits, int64_t dim) {
  const int pf = pack_factor(bits);
  if (values.dim() != 2 || (dim != 0 && dim != 1)) fail_internal("pack_int32 expects a 2-D tensor");
  at::Tensor v = (dim == 0 ? values : values.t()).to(at::kLong);
  const int64_t k = v.size(0), n = v.size(1);
  if (v.numel() > 0 && (v.min().item<int64_t>() < 0 || v.max().item<int64_t>() >= (int64_t{1} << bits))) {
    fail_internal("pack_int32: values outside [0, 2^" + std::to_string(bits) + ")");
  }
  const int64_t words = (k + pf - 1) / pf;
  if (words * pf != k) v = at::cat({v, torch::zeros({words * pf - k, n}, torch::kLong)}, 0);
  v = v.reshape({words, pf, n});
  at::Tensor w = torch::zeros({words, n}, torch::kLong);
  for (int j = 0; j < pf; ++j) w.bitwise_or_(v.select(1, j).__lshift__(bits * j));
  // Reinterpret the unsigned 32-bit word as int32 (two's complement) without relying on overflow.
  w = at::where(w >= (int64_t{1} << 31), w - (int64_t{1} << 32), w).to(at::kInt);
  return (dim == 0 ? w : w.t()).contiguous();
}

// words int32 [W, N] (dim 0) → int32 [count, N], count ≤ W·pf.
at::Tensor unpack_int32(const at::Tensor& words, int bits, int64_t dim, int64_t count) {
  const int pf = pack_factor(bits);
  if (words.dim() != 2 || (dim != 0 && dim != 1)) fail_internal("unpack_int32 expects a 2-D tensor");
  const at::Tensor w = (dim == 0 ? words : words.t()).to(at::kLong).bitwise_and(int64_t{0xFFFFFFFF});
  const int64_t n = w.size(1);
  if (count > w.size(0) * pf) fail_internal("unpack_int32: more values than words hold");
  std::vector<at::Tensor> parts;
  for (int j = 0; j < pf; ++j) parts.push_back(w.__rshift__(bits * j).bitwise_and((int64_t{1} << bits) - 1));
  at::Tensor v = at::stack(parts, 1).reshape({w.size(0) * pf, n}).narrow(0, 0, count).to(at::kInt);
  return (dim == 0 ? v : v.t()).contiguous();
}

at::Tensor unsigned_codes(const QuantizedLinear& l) {
  const int64_t offset = l.symmetric ? int64_t{1} << (l.bits - 1) : 0;
  return (l.codes.to(at::kInt) + offset).bitwise_and((int64_t{1} << l.bits) - 1);
}

at::Tensor unsigned_zeros(const QuantizedLinear& l) {
  const int64_t offset = l.symmetric ? int64_t{1} << (l.bits - 1) : 0;
  at::Tensor z = l.zero.round().to(at::kInt) + offset;
  if (z.numel() > 0 && (z.min().item<int64_t>() < 0 || z.max().item<int64_t>() >= (int64_t{1} << l.bits))) {
    fail_internal("zero point outside the " + std::to_string(l.bits) + "-bit range");
  }
  return z;
}

std::string hf_block_module(LinearId id) {
  const bool attn = id == LinearId::kQ || id == LinearId::kK || id == LinearId::kV || id == LinearId::kO;
  return std::string(attn ? "self_attn." : "mlp.") + linear_name(id);
}

std::string hf_linear_prefix(int64_t layer, LinearId id) {
  return "model.layers." + std::to_string(layer) + "." + hf_block_module(id);
}

std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, LinearId id) {
  switch (id) {
    case LinearId::kQ: return {c.q_dim(), c.dim};
    case LinearId::kK:
    case LinearId::kV: return {c.kv_dim(), c.dim};
    case LinearId::kO: return {c.dim, c.q_dim()};
    case LinearId::kGate:
    case LinearId::kUp: return {c.hidden_dim, c.dim};
    case LinearId::kDown: return {c.dim, c.hidden_dim};
  }
  return {0, 0};
}

const at::Tensor& linear_bias(const LayerWeights& l, LinearId id) {
  static const at::Tensor none;
  switch (id) {
    case LinearId::kQ: return l.bq;
    case LinearId::kK: return l.bk;
    case LinearId::kV: return l.bv;
    default: return none;
  }
}

at::ScalarType scalar_type_of_any(DType d) {
  switch (d) {
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
    default: return scalar_type_of(d);
  }
}

void ExportTensors::add(const std::string& name, const at::Tensor& t, DType dtype) {
  if (!t.defined()) return;
  const at::ScalarType st = scalar_type_of_any(dtype);
  if (!dtype_is_float(dtype) && t.scalar_type() != st) fail_internal(name + ": integer tensor of the wrong type");
  at::Tensor s = t.to(st).contiguous();
  owned_.push_back(s);
  entries_.push_back({name, dtype, s.sizes().vec(), s.data_ptr(), static_cast<uint64_t>(s.nbytes())});
  bytes_ += s.nbytes();
}

void add_model_dense_tensors(const Model& m, DType dtype, ExportTensors& out) {
  const ModelWeights& w = m.weights;
  out.add("model.embed_tokens.weight", w.embedding, dtype);
  out.add("model.norm.weight", w.final_norm, dtype);
  if (!w.lm_head.is_same(w.embedding)) out.add("lm_head.weight", w.lm_head, dtype);
}

void add_layer_norm_tensors(const Model& m, int64_t i, DType dtype, ExportTensors& out) {
  const std::string p = "model.layers." + std::to_string(i) + ".";
  out.add(p + "input_layernorm.weight", m.weights.layers[i].attn_norm, dtype);
  out.add(p + "post_attention_layernorm.weight", m.weights.layers[i].ffn_norm, dtype);
}

std::string config_json_with_quantization(const ModelConfig& c, DType dtype,
                                          const std::string& quantization_config_json) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(hf_config_to_json(c, dtype));
  j["quantization_config"] = nlohmann::ordered_json::parse(quantization_config_json);
  return j.dump(2) + "\n";
}

const WeightQuantGrid& uniform_weight_grid(const QuantizedModel& q, const std::string& format) {
  if (!has_weight_grids(q)) {
    throw_invalid(format + " export stores packed integer weights, but the weights of this model carry no "
                  "quantization grids: quantize the weights first");
  }
  const WeightQuantGrid& first = q.weight_grids[0][0];
  for (const LayerWeightGrids& layer : q.weight_grids) {
    for (const WeightQuantGrid& g : layer) {
      if (g.bits != first.bits || g.symmetric != first.symmetric || g.group_size != first.group_size) {
        throw_invalid(format + " export writes one weight scheme for every linear (quantization_config holds "
                      "one); this model mixes bit widths, group sizes or symmetric and asymmetric grids");
      }
    }
  }
  if (first.bits != 4 && first.bits != 8) {
    throw_invalid(format + " export writes 4- or 8-bit codes; this model has " + std::to_string(first.bits) +
                  "-bit weights");
  }
  return first;
}

void finish_packed_export(const QuantizedModel& q, const ExportOptions& o, PackedDirWrite& w,
                          const ExportTensors& tensors, ExportReport& report) {
  w.tokenizer_path = o.tokenizer_path;
  w.metadata["ostq_method"] = q.method;
  if (!o.source.empty()) w.metadata["ostq_source"] = o.source;
  if (o.size_only) {
    report.weight_bytes = tensors.bytes();
    return;
  }
  packed_dir_write(w, tensors, q.model->config.vocab_size, progress_range(o.progress, 0.5, 1.0));
}

void packed_dir_write(const PackedDirWrite& w, const ExportTensors& tensors, int64_t vocab_size,
                      const ProgressFn& progress) {
  const std::string& dir = w.dir;
  write_directory_atomically(dir, [&](const std::string& tmp) {
    // Tensors plus headers, config and a converted tokenizer: a generous fixed margin suffices.
    std::error_code ec;
    uint64_t tokenizer_bytes = 0;
    if (!w.tokenizer_path.empty()) {
      const auto size = fs::file_size(w.tokenizer_path, ec);
      if (!ec) tokenizer_bytes = size;
    }
    ensure_free_space(tmp, tensors.bytes() + 4 * tokenizer_bytes + (uint64_t{1} << 20));
    report_progress(progress, 0.0, "write", dir);
    std::map<std::string, std::string> metadata = w.metadata;
    metadata["format"] = "pt";
    safetensors_write_sharded(tmp, tensors.entries(), uint64_t{4} << 30, metadata,
                              [&](float f, std::string_view stage) {
                                if (!progress) return true;
                                Progress p;
                                p.fraction = 0.95 * f;
                                p.stage = "write";
                                p.detail = std::string(stage);
                                return progress(p);
                              });
    write_text(path_join(tmp, "config.json"), w.config_json);
    hf_write_tokenizer_files(w.tokenizer_path, vocab_size, tmp);
    for (const auto& [name, content] : w.extra_files) write_text(path_join(tmp, name), content);
  });
  report_progress(progress, 1.0, "write", dir);
}

}  // namespace ostq
