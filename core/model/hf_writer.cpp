// SPDX-License-Identifier: Apache-2.0
#include "core/model/hf_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <torch/types.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/io/hf_config.h"
#include "core/io/safetensors.h"
#include "core/tokenizer/tokenizer_json_writer.h"
#include "core/util/atomic_dir.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

namespace fs = std::filesystem;

// HF exports are written in the float dtypes transformers loads directly.
at::ScalarType export_scalar_type(DType d) {
  if (d != DType::kF32 && d != DType::kBF16 && d != DType::kF16) {
    throw_unsupported(std::string("HF export dtype ") + dtype_name(d) + " (use F32, BF16 or F16)");
  }
  return scalar_type_of(d);
}

// Tensors in HF names, in storage dtype; `owned` keeps the converted buffers alive.
std::vector<TensorToWrite> collect_tensors(const Model& model, DType dtype, std::vector<at::Tensor>& owned) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const at::ScalarType st = export_scalar_type(dtype);
  std::vector<TensorToWrite> out;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (!t.defined()) return;
    at::Tensor s = t.to(st).contiguous();
    owned.push_back(s);
    out.push_back({name, dtype, s.sizes().vec(), s.data_ptr(), static_cast<uint64_t>(s.nbytes())});
  };
  add("model.embed_tokens.weight", w.embedding);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", l.attn_norm);
    add(p + "self_attn.q_proj.weight", l.wq);
    add(p + "self_attn.k_proj.weight", l.wk);
    add(p + "self_attn.v_proj.weight", l.wv);
    add(p + "self_attn.o_proj.weight", l.wo);
    if (c.qkv_bias) {
      add(p + "self_attn.q_proj.bias", l.bq);
      add(p + "self_attn.k_proj.bias", l.bk);
      add(p + "self_attn.v_proj.bias", l.bv);
    }
    add(p + "post_attention_layernorm.weight", l.ffn_norm);
    add(p + "mlp.gate_proj.weight", l.w_gate);
    add(p + "mlp.up_proj.weight", l.w_up);
    add(p + "mlp.down_proj.weight", l.w_down);
  }
  add("model.norm.weight", w.final_norm);
  if (!w.lm_head.is_same(w.embedding)) add("lm_head.weight", w.lm_head);
  return out;
}

void throw_if_not_ok(const Status& s) {
  if (!s.is_ok()) throw StatusError(s);
}

void write_text(const std::string& path, const std::string& text) {
  AtomicFile f(path, text.size());
  f.write(text);
  f.commit();
}

}  // namespace

void hf_write_tokenizer_files(const std::string& tokenizer_path, int64_t vocab_size, const std::string& dir) {
  if (tokenizer_path.empty()) return;
  const std::string json_path = path_join(dir, "tokenizer.json");
  const std::string& src = tokenizer_path;
  auto ends_with = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return src.size() >= n && src.compare(src.size() - n, n, suffix) == 0;
  };
  if (ends_with(".json")) {
    write_text(json_path, read_file(src));
    return;
  }
  // The SentencePiece / llama2.c original rides along: GGUF and llama2.c exports need its scores
  // and piece types, which tokenizer.json does not keep in that form.
  if (ends_with(".model")) write_text(path_join(dir, "tokenizer.model"), read_file(src));
  if (ends_with(".bin")) write_text(path_join(dir, "tokenizer.bin"), read_file(src));
  Result<SentencePieceVocab> vocab = sentencepiece_vocab_load(src, static_cast<int32_t>(vocab_size));
  throw_if_not_ok(vocab.status());
  throw_if_not_ok(write_tokenizer_json_from_sentencepiece(vocab.value(), json_path));
}

void hf_write(const Model& model, const std::string& dir, const HfWriteOptions& o, const ProgressFn& progress) {
  write_directory_atomically(dir, [&](const std::string& tmp) {
    report_progress(progress, 0.0, "write", dir);
    std::vector<at::Tensor> owned;
    std::vector<TensorToWrite> tensors = collect_tensors(model, o.dtype, owned);
    safetensors_write_sharded(tmp, tensors, o.max_shard_bytes, {{"format", "pt"}},
                              [&](float f, std::string_view stage) {
                                if (!progress) return true;
                                return progress(Progress{0.95 * f, "write", std::string(stage)});
                              });
    write_text(path_join(tmp, "config.json"), hf_config_to_json(model.config, o.dtype));
    if (o.synthetic_vocab_tokenizer > 0) {
      throw_if_not_ok(write_synthetic_tokenizer_json(static_cast<int32_t>(o.synthetic_vocab_tokenizer),
                                                     path_join(tmp, "tokenizer.json")));
    } else {
      hf_write_tokenizer_files(o.tokenizer_path, model.config.vocab_size, tmp);
    }
    for (const auto& [name, content] : o.extra_files) write_text(path_join(tmp, name), content);
  });
  report_progress(progress, 1.0, "write", dir);
}

}  // namespace ostq
