// SPDX-License-Identifier: Apache-2.0
#include "core/io/llama2c_format.h"

#include <cstring>
#include <limits>

#include "core/util/status.h"

namespace ostq {

namespace {

constexpr uint32_t kMagicAk42 = 0x616b3432;
constexpr uint64_t kVersionedHeaderBytes = 256;

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Overflow-checked accumulation of byte counts.
struct SizeCounter {
  const std::string& file;
  uint64_t bytes = 0;
  void add(uint64_t n) {
    if (bytes > std::numeric_limits<uint64_t>::max() - n) throw_invalid(file + ": header sizes overflow");
    bytes += n;
  }
};

uint64_t mul(uint64_t a, uint64_t b, const std::string& file) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) throw_invalid(file + ": header sizes overflow");
  return a * b;
}

ModelConfig config_from_header(const int32_t h[7], const std::string& file) {
  for (int i = 0; i < 7; ++i) {
    if (i != 5 && h[i] <= 0) {
      throw_invalid(file + ": not a llama2.c checkpoint (header field " + std::to_string(i) +
                    " = " + std::to_string(h[i]) + ")");
    }
  }
  if (h[5] == 0 || h[5] == std::numeric_limits<int32_t>::min()) throw_invalid(file + ": vocab_size is 0");
  ModelConfig c;
  c.arch = Architecture::kLlama;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab_size = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  c.max_seq_len = h[6];
  c.norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.bos_id = 1;
  c.eos_id = 2;
  if (c.dim % c.n_heads != 0) {
    throw_invalid(file + ": dim " + std::to_string(c.dim) + " is not a multiple of n_heads " +
                  std::to_string(c.n_heads));
  }
  c.head_dim = c.dim / c.n_heads;
  c.validate(file);
  return c;
}

void check_size(const Llama2cLayout& layout, size_t size, const std::string& file) {
  if (layout.expected_size != size) {
    throw_invalid(file + ": file size " + std::to_string(size) + " bytes does not match the header (" +
                  layout.config.summary() + ", llama2.c v" + std::to_string(layout.version) +
                  " expects " + std::to_string(layout.expected_size) + " bytes)" +
                  (size < layout.expected_size ? ": the file is truncated" : ""));
  }
}

}  // namespace

const Llama2cTensor& Llama2cLayout::tensor(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  throw StatusError(Status::internal("llama2.c layout has no tensor " + name));
}

Llama2cLayout llama2c_parse(const uint8_t* data, size_t size, const std::string& file) {
  if (size < 28) throw_invalid(file + ": too small for a llama2.c checkpoint (" + std::to_string(size) + " bytes)");
  Llama2cLayout layout;
  uint32_t magic;
  std::memcpy(&magic, data, 4);
  int32_t h[7];
  if (magic == kMagicAk42) {
    if (size < kVersionedHeaderBytes) throw_invalid(file + ": truncated llama2.c header");
    layout.version = read_i32(data + 4);
    if (layout.version != 1 && layout.version != 2) {
      throw_unsupported(file + ": llama2.c checkpoint version " + std::to_string(layout.version) +
                        " (supported: 0, 1, 2)");
    }
    for (int i = 0; i < 7; ++i) h[i] = read_i32(data + 8 + 4 * i);
    if (h[5] < 0) throw_invalid(file + ": negative vocab_size in a versioned llama2.c header");
    layout.shared_classifier = data[36] != 0;
    if (data[36] > 1) throw_invalid(file + ": shared_classifier flag is " + std::to_string(data[36]));
    if (layout.version == 2) layout.group_size = read_i32(data + 37);
  } else {
    layout.version = 0;
    for (int i = 0; i < 7; ++i) h[i] = read_i32(data + 4 * i);
    layout.shared_classifier = h[5] > 0;
  }
  layout.config = config_from_header(h, file);
  layout.config.source = layout.version == 0   ? SourceFormat::kLlama2cV0
                         : layout.version == 1 ? SourceFormat::kLlama2cV1
                                               : SourceFormat::kLlama2cV2;
  const ModelConfig& c = layout.config;
  const uint64_t L = c.n_layers, d = c.dim, ff = c.hidden_dim, V = c.vocab_size;
  const uint64_t kv = c.kv_dim(), S = c.max_seq_len, dh = c.head_dim;

  SizeCounter pos{file, layout.version == 0 ? 28u : kVersionedHeaderBytes};
  auto fp32 = [&](const char* name, uint64_t numel) {
    layout.tensors.push_back({name, pos.bytes, numel, false});
    pos.add(mul(numel, 4, file));
  };
  if (layout.version == 2) {
    const uint64_t gs = static_cast<uint64_t>(layout.group_size);
    if (layout.group_size <= 0) throw_invalid(file + ": Q8_0 group size " + std::to_string(layout.group_size));
    auto q8 = [&](const char* name, uint64_t per_layer, uint64_t layers) {
      if (per_layer % gs != 0) {
        throw_invalid(file + ": tensor " + name + " (" + std::to_string(per_layer) +
                      " values) is not a multiple of the group size " + std::to_string(gs));
      }
      layout.tensors.push_back({name, pos.bytes, mul(per_layer, layers, file), true});
      pos.add(mul(layers, per_layer + mul(per_layer / gs, 4, file), file));
    };
    fp32("rms_att", L * d);
    fp32("rms_ffn", L * d);
    fp32("rms_final", d);
    q8("token_embedding", V * d, 1);
    q8("wq", d * d, L);
    q8("wk", kv * d, L);
    q8("wv", kv * d, L);
    q8("wo", d * d, L);
    q8("w1", ff * d, L);
    q8("w2", d * ff, L);
    q8("w3", ff * d, L);
    if (!layout.shared_classifier) q8("wcls", V * d, 1);
  } else if (layout.version == 1) {
    fp32("rms_att", L * d);
    fp32("rms_ffn", L * d);
    fp32("rms_final", d);
    fp32("token_embedding", V * d);
    fp32("wq", L * d * d);
    fp32("wk", L * kv * d);
    fp32("wv", L * kv * d);
    fp32("wo", L * d * d);
    fp32("w1", L * ff * d);
    fp32("w2", L * d * ff);
    fp32("w3", L * ff * d);
    if (!layout.shared_classifier) fp32("wcls", V * d);
  } else {
    fp32("token_embedding", V * d);
    fp32("rms_att", L * d);
    fp32("wq", L * d * d);
    fp32("wk", L * kv * d);
    fp32("wv", L * kv * d);
    fp32("wo", L * d * d);
    fp32("rms_ffn", L * d);
    fp32("w1", L * ff * d);
    fp32("w2", L * d * ff);
    fp32("w3", L * ff * d);
    fp32("rms_final", d);
    fp32("freq_cis_real", S * dh / 2);
    fp32("freq_cis_imag", S * dh / 2);
    if (!layout.shared_classifier) fp32("wcls", V * d);
  }
  layout.expected_size = pos.bytes;
  if (c.q_dim() != c.dim) throw_invalid(file + ": llama2.c requires n_heads * head_dim == dim");
  check_size(layout, size, file);
  layout.config.tied_embeddings = layout.shared_classifier;
  return layout;
}

void llama2c_write_v0_header(const ModelConfig& c, bool shared_classifier, uint8_t out[28]) {
  int32_t h[7] = {static_cast<int32_t>(c.dim),        static_cast<int32_t>(c.hidden_dim),
                  static_cast<int32_t>(c.n_layers),   static_cast<int32_t>(c.n_heads),
                  static_cast<int32_t>(c.n_kv_heads), static_cast<int32_t>(c.vocab_size),
                  static_cast<int32_t>(c.max_seq_len)};
  if (!shared_classifier) h[5] = -h[5];
  std::memcpy(out, h, 28);
}

}  // namespace ostq
