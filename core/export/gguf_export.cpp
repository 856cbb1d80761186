// SPDX-License-Identifier: Apache-2.0
// GGUF writer for llama.cpp (see Note [GGUF export types]); the reader is in gguf_load.cpp.
#include "core/export/gguf_export.h"

#include <torch/types.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

#include "core/export/gguf_internal.h"
#include "core/export/quantized_linear.h"
#include "core/io/gguf_format.h"
#include "core/tokenizer/tokenizer_json_writer.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using namespace gguf_detail;

struct LinearPlan {
  GgmlType type = GgmlType::kF16;
  std::string fallback;  // why a quantized linear is stored as F16; "" otherwise
};

LinearPlan plan_linear(const QuantizedModel& q, bool grids, int64_t layer, LinearId id) {
  if (!grids) return {};
  const WeightQuantGrid& g = q.weight_grids[layer][static_cast<int>(id)];
  const int64_t in = linear_weight(q.model->weights.layers[layer], id).size(1);
  if (in % kGgmlQK != 0) return {GgmlType::kF16, "in_features " + std::to_string(in) + " is not a multiple of 32"};
  if (g.group_size > 0 && g.group_size % kGgmlQK != 0) {
    return {GgmlType::kF16, "group size " + std::to_string(g.group_size) + " is not a multiple of 32"};
  }
  if (g.bits <= 4) return {g.symmetric ? GgmlType::kQ4_0 : GgmlType::kQ4_1, ""};
  if (g.bits <= 7 || (g.bits == 8 && g.symmetric)) return {GgmlType::kQ8_0, ""};
  return {GgmlType::kF16, "asymmetric " + std::to_string(g.bits) + "-bit codes do not fit Q8_0's int8"};
}

// fp32 tensor (any shape) → F16 / F32 bytes, row-major.
std::vector<uint8_t> dense_bytes(const at::Tensor& t, GgmlType type) {
  const at::Tensor x = t.detach().to(at::kFloat).contiguous();
  std::vector<uint8_t> out(ggml_nbytes(type, static_cast<uint64_t>(x.numel())));
  convert_from_fp32(x.data_ptr<float>(), type == GgmlType::kF32 ? DType::kF32 : DType::kF16, out.data(),
                    static_cast<size_t>(x.numel()));
  return out;
}

// Blocks of one linear (codes int8 [out, in], scale / zero fp32 [out, n_groups], q/k rows already
// in Meta order): each 32-column block of a row takes the grid of the group containing it.
std::vector<uint8_t> pack_linear(const QuantizedLinear& l, GgmlType type) {
  const int64_t out = l.out_features(), in = l.in_features(), gs = l.effective_group_size();
  const int64_t ng = l.scale.size(1);
  const size_t bb = ggml_block_bytes(type);
  std::vector<uint8_t> bytes(static_cast<size_t>(out * (in / kGgmlQK)) * bb);
  const at::Tensor codes_t = l.codes.contiguous(), scale_t = l.scale.contiguous(), zero_t = l.zero.contiguous();
  const int8_t* codes = codes_t.data_ptr<int8_t>();
  const float* scale = scale_t.data_ptr<float>();
  const float* zero = zero_t.data_ptr<float>();
  uint8_t* dst = bytes.data();
  int8_t shifted[kGgmlQK];
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t b = 0; b < in / kGgmlQK; ++b, dst += bb) {
      const int64_t g = b * kGgmlQK / gs;
      const float s = scale[r * ng + g], z = zero[r * ng + g];
      const int8_t* c = codes + r * in + b * kGgmlQK;
      if (type == GgmlType::kQ4_0) {
        q4_0_pack(c, s, dst);
      } else if (type == GgmlType::kQ4_1) {
        q4_1_pack(c, s, z, dst);
      } else {
        for (int j = 0; j < kGgmlQK; ++j) {
          const long v = static_cast<long>(c[j]) - std::lround(z);
          if (v < -128 || v > 127) {
            throw StatusError(Status::internal("Q8_0: code − zero = " + std::to_string(v) + " outside int8"));
          }
          shifted[j] = static_cast<int8_t>(v);
        }
        q8_0_pack(shifted, s, dst);
      }
    }
  }
  return bytes;
}

uint32_t file_type_of(const std::map<GgmlType, int64_t>& params) {
  GgmlType best = GgmlType::kF16;
  int64_t most = -1;
  for (const auto& [t, n] : params) {
    if (t != GgmlType::kF16 && n > most) {
      best = t;
      most = n;
    }
  }
  switch (best) {
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ4_1: return 3;
    case GgmlType::kQ8_0: return 7;
    default: return 1;  // mostly F16
  }
}

// llama.cpp's rope_freqs for llama3 scaling: per frequency the divisor of ω_j (as the HF
// converter computes it), d_h/2 floats.
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> out;
  for (int64_t j = 0; j < c.head_dim / 2; ++j) {
    const double freq = 1.0f / std::pow(static_cast<float>(c.rope_theta),
                                        static_cast<float>(2 * j) / static_cast<float>(c.head_dim));
    const double wavelen = 2.0 * M_PI / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(static_cast<float>(s.factor));
    } else {
      const double smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      out.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / s.factor + smooth)));
    }
  }
  return out;
}

void add_model_keys(GgufWriter& w, const QuantizedModel& q, const ExportOptions& o, uint32_t file_type) {
  const ModelConfig& c = q.model->config;
  const GgufArch a = gguf_arch_for(c.arch);
  auto u32 = [&](const std::string& k, int64_t v) { w.add_kv(k, GgufValue::u32(static_cast<uint32_t>(v))); };
  w.add_kv("general.architecture", GgufValue::string(a.name));
  w.add_kv("general.name", GgufValue::string(c.name.empty() ? "ostq-model" : path_filename(c.name)));
  u32("general.alignment", kGgufDefaultAlignment);
  u32("general.quantization_version", 2);
  u32("general.file_type", file_type);
  u32(a.key("vocab_size"), c.vocab_size);
  u32(a.key("context_length"), c.max_seq_len);
  u32(a.key("embedding_length"), c.dim);
  u32(a.key("block_count"), c.n_layers);
  u32(a.key("feed_forward_length"), c.hidden_dim);
  u32(a.key("rope.dimension_count"), c.head_dim);
  u32(a.key("attention.head_count"), c.n_heads);
  u32(a.key("attention.head_count_kv"), c.n_kv_heads);
  if (c.head_dim * c.n_heads != c.dim) {  // llama.cpp otherwise derives d_h = d / n_h
    u32(a.key("attention.key_length"), c.head_dim);
    u32(a.key("attention.value_length"), c.head_dim);
  }
  w.add_kv(a.key("attention.layer_norm_rms_epsilon"), GgufValue::f32(static_cast<float>(c.norm_eps)));
  w.add_kv(a.key("rope.freq_base"), GgufValue::f32(static_cast<float>(c.rope_theta)));
  if (c.rope_scaling.type == RopeScaling::Type::kLlama3) {
    const RopeScaling& s = c.rope_scaling;
    w.add_kv(kOstqRopeType, GgufValue::string("llama3"));
    w.add_kv(kOstqRopeFactor, GgufValue::f64(s.factor));
    w.add_kv(kOstqRopeLow, GgufValue::f64(s.low_freq_factor));
    w.add_kv(kOstqRopeHigh, GgufValue::f64(s.high_freq_factor));
    w.add_kv(kOstqRopeOrigCtx, GgufValue::u64(static_cast<uint64_t>(s.original_max_position_embeddings)));
  }
  w.add_kv("ostq.method", GgufValue::string(q.method));
  w.add_kv("ostq.source", GgufValue::string(o.source));
  w.add_kv("ostq.bits", GgufValue::string(q.config.bits));
  w.add_kv("ostq.weight", GgufValue::string(q.config.weight.describe()));
  w.add_kv("ostq.version", GgufValue::string(OSTQ_VERSION));
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// tokenizer.ggml.* from a SentencePiece .model or llama2.c .bin vocabulary (FORMATS.md §6.3).
void add_tokenizer_keys(GgufWriter& w, const ExportOptions& o, int64_t vocab_size, ExportReport& report) {
  const std::string& path = o.tokenizer_path;
  if (path.empty() || ends_with(path, ".json")) {
    report.notes.push_back(std::string(path.empty() ? "no tokenizer given" : "tokenizer.json is not converted") +
                           ": the GGUF has no tokenizer.ggml.* keys, which llama.cpp needs to run it "
                           "(export with a SentencePiece .model or llama2.c .bin tokenizer)");
    return;
  }
  Result<SentencePieceVocab> loaded = sentencepiece_vocab_load(path, static_cast<int32_t>(vocab_size));
  if (!loaded.is_ok()) throw StatusError(loaded.status());
  const SentencePieceVocab& v = loaded.value();
  if (static_cast<int64_t>(v.pieces.size()) != vocab_size || v.scores.size() != v.pieces.size() ||
      v.types.size() != v.pieces.size()) {
    throw_invalid(path + ": tokenizer has " + std::to_string(v.pieces.size()) + " pieces but the model's vocabulary has " +
                  std::to_string(vocab_size) + " (tokenizer/model mismatch)");
  }
  std::vector<int32_t> types;
  for (PieceType t : v.types) types.push_back(static_cast<int32_t>(t));  // same numbering as GGUF
  w.add_kv("tokenizer.ggml.model", GgufValue::string("llama"));
  w.add_kv("tokenizer.ggml.tokens", GgufValue::string_array(v.pieces));
  w.add_kv("tokenizer.ggml.scores", GgufValue::f32_array(v.scores));
  w.add_kv("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  if (v.bos_id >= 0) w.add_kv("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(v.bos_id)));
  if (v.eos_id >= 0) w.add_kv("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(v.eos_id)));
  if (v.unk_id >= 0) w.add_kv("tokenizer.ggml.unknown_token_id", GgufValue::u32(static_cast<uint32_t>(v.unk_id)));
  w.add_kv("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  w.add_kv("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
}

void check_exportable(const QuantizedModel& q, const std::string& out_file) {
  if (!q.model) throw_invalid(out_file + ": no model to export");
  const ModelConfig& c = q.model->config;
  const GgufArch a = gguf_arch_for(c.arch);
  bool any_bias = c.qkv_bias, all_biases = true;
  for (const LayerWeights& l : q.model->weights.layers) {
    for (const at::Tensor* b : {&l.bq, &l.bk, &l.bv}) {
      any_bias |= b->defined();
      all_biases &= b->defined();
    }
  }
  if (any_bias && !a.qkv_bias) {
    throw_unsupported(out_file + ": the GGUF llama architecture (used for " + architecture_name(c.arch) +
                      " models) has no q/k/v biases; only qwen2 models are written with them");
  }
  if (a.qkv_bias && !all_biases) {
    throw_unsupported(out_file + ": llama.cpp's qwen2 architecture requires q/k/v biases, the model has none");
  }
  if (c.arch == Architecture::kQwen2 && c.rope_scaling.type != RopeScaling::Type::kNone) {
    throw_unsupported(out_file + ": llama3 RoPE scaling is not expressible in GGUF qwen2 (llama.cpp reads "
                      "rope_freqs.weight for llama only)");
  }
  if (q.model->online.ffn || q.model->online.qk) {
    throw_unsupported(out_file + ": the model needs online Hadamard rotations, which llama.cpp does not apply "
                      "(FORMATS.md §6.0); quantize without them for GGUF");
  }
  if (q.config.quantizes_activations() || q.config.quantizes_kv()) {
    throw_unsupported(out_file + ": GGUF stores weights only; activation / KV-cache quantization (" + q.config.bits +
                      ") cannot be expressed");
  }
}

struct TensorJob {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // PyTorch order
  std::function<std::vector<uint8_t>()> encode;
};

}  // namespace

ExportReport write_gguf_export(const QuantizedModel& q, const std::string& out_file, const ExportOptions& o) {
  check_exportable(q, out_file);
  const Model& m = *q.model;
  const ModelConfig& c = m.config;
  const ModelWeights& mw = m.weights;
  const GgufArch arch = gguf_arch_for(c.arch);
  ExportReport report;
  report.path = out_file;
  report.format = ExportFormat::kGguf;
  if (c.sliding_window > 0 && c.sliding_window < c.max_seq_len) {
    report.notes.push_back("sliding window " + std::to_string(c.sliding_window) +
                           " is not expressible in GGUF " + arch.name + ": llama.cpp attends the full context");
  }

  // Plan every tensor first: the header and the free-space check need all types and shapes.
  const bool grids = has_weight_grids(q);
  if (!grids) report.notes.push_back("the weights carry no quantization grids: linears stored as F16");
  std::map<std::string, std::string> fallbacks;  // GGUF linear name → why it is F16
  std::map<GgmlType, int64_t> linear_params;
  std::vector<TensorJob> jobs;
  auto dense = [&](const std::string& name, GgmlType type, const at::Tensor& t) {
    // fp16 overflows above 65504 (possible for bf16 models): keep such a tensor in F32.
    if (type == GgmlType::kF16 && t.abs().max().item<double>() > 65504.0) {
      type = GgmlType::kF32;
      report.notes.push_back(name + " stored as F32: values exceed the fp16 range");
    }
    jobs.push_back({name, type, t.sizes().vec(), [t, type] { return dense_bytes(t, type); }});
  };
  dense("token_embd.weight", GgmlType::kF16, mw.embedding);
  if (c.rope_scaling.type == RopeScaling::Type::kLlama3) {
    const std::vector<float> f = llama3_rope_factors(c);
    jobs.push_back({"rope_freqs.weight", GgmlType::kF32, {static_cast<int64_t>(f.size())}, [f] {
                      std::vector<uint8_t> b(f.size() * 4);
                      std::memcpy(b.data(), f.data(), b.size());
                      return b;
                    }});
  }
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const LayerWeights& l = mw.layers[i];
    dense(gguf_tensor_name(i, "attn_norm"), GgmlType::kF32, l.attn_norm);
    for (LinearId id : kLinearIds) {
      if (id == LinearId::kGate) dense(gguf_tensor_name(i, "ffn_norm"), GgmlType::kF32, l.ffn_norm);
      LinearPlan plan = plan_linear(q, grids, i, id);
      const at::Tensor& w = linear_weight(l, id);
      if (plan.type == GgmlType::kF16 && w.abs().max().item<double>() > 65504.0) {
        plan.type = GgmlType::kF32;
        report.notes.push_back(gguf_tensor_name(i, gguf_linear_name(id)) + " stored as F32: values exceed the fp16 range");
      }
      linear_params[plan.type] += w.numel();
      if (!plan.fallback.empty()) fallbacks.emplace(gguf_linear_name(id), plan.fallback);
      const RopeLayout to = arch.qk_layout;
      jobs.push_back({gguf_tensor_name(i, gguf_linear_name(id)), plan.type, w.sizes().vec(), [&q, &c, i, id, plan, to] {
                        const LayerWeights& lw = q.model->weights.layers[i];
                        if (plan.type == GgmlType::kF16 || plan.type == GgmlType::kF32) {
                          return dense_bytes(permute_qk(linear_weight(lw, id), id, c, RopeLayout::kRotateHalf, to),
                                             plan.type);
                        }
                        QuantizedLinear ql = quantized_linear(q, i, id);
                        for (at::Tensor* t : {&ql.codes, &ql.scale, &ql.zero}) {
                          *t = permute_qk(*t, id, c, RopeLayout::kRotateHalf, to);
                        }
                        return pack_linear(ql, plan.type);
                      }});
      const at::Tensor b = id == LinearId::kQ   ? l.bq
                           : id == LinearId::kK ? l.bk
                           : id == LinearId::kV ? l.bv
                                                : at::Tensor();
      if (arch.qkv_bias && b.defined()) {  // F32 as the HF converter writes 1-d tensors: exact
        dense(gguf_bias_name(i, gguf_linear_name(id)), GgmlType::kF32,
              permute_qk(b, id, c, RopeLayout::kRotateHalf, to));
      }
    }
  }
  dense("output_norm.weight", GgmlType::kF32, mw.final_norm);
  const bool tied = mw.lm_head.is_same(mw.embedding) ||
                    (mw.lm_head.sizes() == mw.embedding.sizes() && torch::equal(mw.lm_head, mw.embedding));
  if (!tied) dense("output.weight", GgmlType::kF16, mw.lm_head);
  for (const auto& [name, why] : fallbacks) {
    report.notes.push_back(name + " stored as F16 (dequantized values): " + why + " (GGUF blocks hold 32 weights)");
  }

  GgufWriter writer(out_file);
  add_model_keys(writer, q, o, grids ? file_type_of(linear_params) : 1);
  add_tokenizer_keys(writer, o, c.vocab_size, report);
  for (const TensorJob& j : jobs) writer.add_tensor(j.name, j.type, j.shape);
  if (o.size_only) {
    report.weight_bytes = writer.file_size();
    return report;
  }
  writer.begin();
  for (size_t k = 0; k < jobs.size(); ++k) {
    report_progress(o.progress, static_cast<double>(k) / jobs.size(), "export", "writing " + jobs[k].name);
    const std::vector<uint8_t> bytes = jobs[k].encode();
    writer.write_tensor(bytes.data(), bytes.size());
  }
  writer.commit();
  report_progress(o.progress, 1.0, "export", out_file);
  return report;
}

}  // namespace ostq
