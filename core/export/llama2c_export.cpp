// SPDX-License-Identifier: Apache-2.0
#include "core/export/llama2c_export.h"

#include <torch/types.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/io/llama2c_format.h"
#include "core/tokenizer/piece_text.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

constexpr uint32_t kMagicAk42 = 0x616b3432;

// run.c / runq.c hard-code the LLaMA-2 block; anything else would run silently wrong.
void check_expressible(const QuantizedModel& q, const std::string& out) {
  if (!q.model) throw_invalid("llama2.c export " + out + ": no model");
  const Model& m = *q.model;
  const ModelConfig& c = m.config;
  auto refuse = [&](const std::string& why) { throw_invalid("llama2.c export " + out + ": " + why); };
  bool biases = c.qkv_bias;
  for (const LayerWeights& l : m.weights.layers) biases |= l.bq.defined() || l.bk.defined() || l.bv.defined();
  if (biases) refuse("the model has q/k/v biases (" + std::string(architecture_name(c.arch)) + "); llama2.c has none");
  if (c.rope_theta != 10000.0) refuse("rope_theta " + std::to_string(c.rope_theta) + " (llama2.c fixes 10000)");
  if (c.rope_scaling.type != RopeScaling::Type::kNone) refuse("rope_scaling is set; llama2.c has no RoPE scaling");
  if (c.q_dim() != c.dim) {
    refuse("n_heads * head_dim = " + std::to_string(c.q_dim()) + " differs from dim " + std::to_string(c.dim) +
           "; llama2.c derives head_dim = dim / n_heads");
  }
  if (c.head_dim % 2 != 0) refuse("odd head_dim " + std::to_string(c.head_dim));
  if (c.sliding_window > 0 && c.sliding_window < c.max_seq_len) {
    refuse("sliding_window " + std::to_string(c.sliding_window) + " < context " + std::to_string(c.max_seq_len) +
           "; llama2.c attends to the whole context");
  }
  if (m.online.ffn || m.online.qk) refuse("online Hadamard rotations (H_ff / H_dh) need a runtime op llama2.c lacks");
  if (q.config.quantizes_activations() || q.config.quantizes_kv()) {
    refuse("activation / KV quantization (" + q.config.bits + ") cannot be expressed; use weight-only bits");
  }
  for (int64_t v : {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len}) {
    if (v > std::numeric_limits<int32_t>::max()) refuse("a config value exceeds the int32 header");
  }
}

at::Tensor as_f32(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

// W_q / W_k back to the interleaved pair order llama2.c applies RoPE in (FORMATS.md §5).
at::Tensor to_meta(const at::Tensor& w, int64_t heads, int64_t head_dim) {
  return rope_permute_rows(w, heads, head_dim, RopeLayout::kRotateHalf, RopeLayout::kInterleaved);
}

// Per-layer matrix k in file order (wq, wk, wv, wo, w1, w2, w3), q/k in Meta order.
at::Tensor layer_matrix(const ModelConfig& c, const LayerWeights& l, int k) {
  switch (k) {
    case 0: return to_meta(l.wq, c.n_heads, c.head_dim);
    case 1: return to_meta(l.wk, c.n_kv_heads, c.head_dim);
    case 2: return l.wv;
    case 3: return l.wo;
    case 4: return l.w_gate;
    case 5: return l.w_down;
    default: return l.w_up;
  }
}

bool classifier_shared(const ModelWeights& w) {
  return w.lm_head.is_same(w.embedding) ||
         (w.lm_head.sizes() == w.embedding.sizes() && at::equal(w.lm_head, w.embedding));
}

void write_f32(AtomicFile& f, const at::Tensor& t) {
  at::Tensor c = as_f32(t);
  f.write(c.data_ptr(), static_cast<size_t>(c.nbytes()));
}

// freq_cis_real / imag [S][d_h/2] computed as llama2.c's model.py does (fp32 torch ops), so a
// re-export of a llama2.c file reproduces its tables.
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c) {
  at::Tensor exponent = torch::arange(0, c.head_dim, 2, torch::kFloat32) / static_cast<double>(c.head_dim);
  at::Tensor freqs = at::reciprocal(torch::pow(c.rope_theta, exponent));
  at::Tensor angles = torch::outer(torch::arange(c.max_seq_len, torch::kFloat32), freqs);
  return {torch::cos(angles), torch::sin(angles)};
}

// Q8_0 as llama2.c export.py: per group of gs, scale = max|w|/127 and codes round(w/scale); an
// all-zero group keeps scale 0 and codes 0. Writes int8 codes [numel] then fp32 scales [numel/gs].
void write_q80(AtomicFile& f, const at::Tensor& w, int64_t gs, const std::string& name) {
  at::Tensor g = as_f32(w).view({-1, gs});
  at::Tensor scale = g.abs().amax(1) / 127.0f;
  if (!torch::isfinite(scale).all().item<bool>()) throw_invalid("llama2.c export: non-finite weights in " + name);
  at::Tensor divisor = torch::where(scale > 0, scale, torch::ones_like(scale)).unsqueeze(1);
  at::Tensor codes = torch::round(g / divisor).clamp(-127, 127).to(at::kChar).contiguous();
  f.write(codes.data_ptr(), static_cast<size_t>(codes.numel()));
  write_f32(f, scale);
}

uint64_t v0_bytes(const ModelConfig& c, bool shared) {
  const uint64_t L = c.n_layers, d = c.dim, ff = c.hidden_dim, V = c.vocab_size, kv = c.kv_dim();
  return 28 + 4 * (V * d + L * (2 * d + 2 * d * d + 2 * kv * d + 3 * d * ff) + d +
                   c.max_seq_len * c.head_dim + (shared ? 0 : V * d));
}

uint64_t v2_bytes(const ModelConfig& c, bool shared, uint64_t gs) {
  const uint64_t L = c.n_layers, d = c.dim, ff = c.hidden_dim, V = c.vocab_size, kv = c.kv_dim();
  const uint64_t quantized = V * d + L * (2 * d * d + 2 * kv * d + 3 * d * ff) + (shared ? 0 : V * d);
  return 256 + 4 * (2 * L * d + d) + quantized + 4 * (quantized / gs);
}

void write_v0(const Model& m, bool shared, const std::string& out, const ProgressFn& progress) {
  const ModelConfig& c = m.config;
  const ModelWeights& w = m.weights;
  AtomicFile f(out, v0_bytes(c, shared));
  uint8_t header[28];
  llama2c_write_v0_header(c, shared, header);
  f.write(header, sizeof header);
  write_f32(f, w.embedding);
  for (const LayerWeights& l : w.layers) write_f32(f, l.attn_norm);
  // wq, wk, wv, wo for all layers, then rms_ffn, then w1, w2, w3 (§1.1 order).
  for (int k = 0; k < 7; ++k) {
    if (k == 4) {
      for (const LayerWeights& l : w.layers) write_f32(f, l.ffn_norm);
    }
    for (const LayerWeights& l : w.layers) write_f32(f, layer_matrix(c, l, k));
    report_progress(progress, (k + 1) / 8.0, "export", "llama2.c v0");
  }
  write_f32(f, w.final_norm);
  auto [cos, sin] = rope_tables(c);
  write_f32(f, cos);
  write_f32(f, sin);
  if (!shared) write_f32(f, w.lm_head);
  f.commit();
}

void write_v2(const Model& m, bool shared, int32_t gs, const std::string& out, const ProgressFn& progress) {
  const ModelConfig& c = m.config;
  const ModelWeights& w = m.weights;
  AtomicFile f(out, v2_bytes(c, shared, static_cast<uint64_t>(gs)));
  uint8_t header[256] = {};
  const int32_t fields[8] = {2,
                             static_cast<int32_t>(c.dim),
                             static_cast<int32_t>(c.hidden_dim),
                             static_cast<int32_t>(c.n_layers),
                             static_cast<int32_t>(c.n_heads),
                             static_cast<int32_t>(c.n_kv_heads),
                             static_cast<int32_t>(c.vocab_size),
                             static_cast<int32_t>(c.max_seq_len)};
  std::memcpy(header, &kMagicAk42, 4);
  std::memcpy(header + 4, fields, sizeof fields);
  header[36] = shared ? 1 : 0;
  std::memcpy(header + 37, &gs, 4);  // unaligned by design of the format
  f.write(header, sizeof header);
  for (const LayerWeights& l : w.layers) write_f32(f, l.attn_norm);
  for (const LayerWeights& l : w.layers) write_f32(f, l.ffn_norm);
  write_f32(f, w.final_norm);
  write_q80(f, w.embedding, gs, "token_embedding");
  static const char* kNames[7] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
  for (int k = 0; k < 7; ++k) {
    for (size_t i = 0; i < w.layers.size(); ++i) {
      write_q80(f, layer_matrix(c, w.layers[i], k), gs, std::string(kNames[k]) + " layer " + std::to_string(i));
    }
    report_progress(progress, (k + 1) / 8.0, "export", "llama2.c v2");
  }
  if (!shared) write_q80(f, w.lm_head, gs, "wcls");
  f.commit();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama2.c's tokenizer.bin from a SentencePiece model, as llama2.c's tokenizer.py writes it
// (FORMATS.md §2): "▁" → space, BOS / EOS as "\n<s>\n" / "\n</s>\n", then max_token_length
// and (score, length, bytes) per id.
std::string llama2c_tokenizer_bytes(const SentencePieceTokenizer& sp) {
  std::vector<std::string> pieces;
  uint32_t max_len = 0;
  for (int32_t i = 0; i < sp.vocab_size(); ++i) {
    pieces.push_back(i == sp.bos_id()   ? std::string("\n<s>\n")
                     : i == sp.eos_id() ? std::string("\n</s>\n")
                                        : replace_all(sp.piece(i), kSentencePieceSpace, " "));
    max_len = std::max(max_len, static_cast<uint32_t>(pieces.back().size()));
  }
  std::string out(reinterpret_cast<const char*>(&max_len), 4);
  for (int32_t i = 0; i < sp.vocab_size(); ++i) {
    const float score = sp.score(i);
    const uint32_t len = static_cast<uint32_t>(pieces[i].size());
    out.append(reinterpret_cast<const char*>(&score), 4).append(reinterpret_cast<const char*>(&len), 4);
    out += pieces[i];
  }
  return out;
}

// llama2.c reads only its own tokenizer.bin: copy one, convert a SentencePiece model, or say why not.
void write_tokenizer(const std::string& tok, const std::string& out, int64_t vocab, ExportReport& r) {
  if (tok.empty()) return;
  std::string bytes;
  if (ends_with(tok, ".bin")) {
    Result<std::unique_ptr<Tokenizer>> t = tokenizer_load(tok, static_cast<int32_t>(vocab));
    if (!t.is_ok()) throw StatusError(t.status());
    bytes = read_file(tok);
  } else if (ends_with(tok, ".model")) {
    auto sp = SentencePieceTokenizer::parse(read_file(tok), tok);
    if (sp->vocab_size() != vocab) {
      r.notes.push_back("tokenizer " + tok + " not converted: " + std::to_string(sp->vocab_size()) +
                        " pieces, the model has " + std::to_string(vocab) + " rows (llama2.c reads one per row)");
      return;
    }
    bytes = llama2c_tokenizer_bytes(*sp);
  } else {
    r.notes.push_back("tokenizer " + tok + " not carried: llama2.c reads only its tokenizer.bin format");
    return;
  }
  const std::string dest = llama2c_tokenizer_path(out);
  if (dest == tok) return;
  AtomicFile f(dest, bytes.size());
  f.write(bytes);
  f.commit();
  r.notes.push_back("tokenizer written to " + dest + " (llama2.c: ./run " + out + " -z " + dest + ")");
}

}  // namespace

std::string llama2c_tokenizer_path(const std::string& out_file) {
  std::string name = path_filename(out_file);
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return path_join(path_dirname(out_file), name + ".tokenizer.bin");
}

int32_t llama2c_q80_group_size(int64_t dim, int64_t hidden_dim) {
  const int64_t g = std::gcd(dim, hidden_dim);
  int32_t gs = 64;
  while (gs > 1 && g % gs != 0) gs /= 2;
  return gs;
}

ExportReport write_llama2c_export(const QuantizedModel& q, const std::string& out_file, const ExportOptions& o) {
  check_expressible(q, out_file);
  const Model& m = *q.model;
  const ModelConfig& c = m.config;
  if (o.llama2c_version != 0 && o.llama2c_version != 2) {
    throw_invalid("llama2.c export version " + std::to_string(o.llama2c_version) + " (write 0 or 2)");
  }
  model_validate_weights(m, out_file);
  at::NoGradGuard no_grad;
  const bool shared = classifier_shared(m.weights);

  ExportReport r;
  r.path = out_file;
  r.format = ExportFormat::kLlama2c;
  if (o.size_only) {
    r.weight_bytes = o.llama2c_version == 0
                         ? v0_bytes(c, shared)
                         : v2_bytes(c, shared, static_cast<uint64_t>(llama2c_q80_group_size(c.dim, c.hidden_dim)));
    return r;
  }
  if (o.llama2c_version == 0) {
    write_v0(m, shared, out_file, o.progress);
    r.notes.push_back("llama2.c v0: fp32 dequantized weights, W_q/W_k in interleaved (Meta) RoPE order");
  } else {
    const int32_t gs = llama2c_q80_group_size(c.dim, c.hidden_dim);
    write_v2(m, shared, gs, out_file, o.progress);
    r.notes.push_back("llama2.c v2: int8 groups of " + std::to_string(gs) +
                      " (largest power of two <= 64 dividing gcd(dim, hidden_dim)) re-quantize the evaluated "
                      "weights, so the file differs from them by up to half an int8 step per group");
  }
  if (!shared) r.notes.push_back("classifier not shared with the embedding: stored as wcls");
  if (c.norm_eps != 1e-5) {
    r.notes.push_back("rms_norm_eps " + std::to_string(c.norm_eps) + " differs from llama2.c's fixed 1e-5");
  }
  write_tokenizer(o.tokenizer_path, out_file, c.vocab_size, r);
  report_progress(o.progress, 1.0, "export", "llama2.c");
  return r;
}

}  // namespace ostq
