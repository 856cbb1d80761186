// SPDX-License-Identifier: Apache-2.0
// Pieces shared by the packed Hugging Face exports (GPTQ, compressed-tensors; FORMATS.md §6.1,
// §6.2) and their reader: b-bit integers packed into int32 words, HF tensor names, the tensor
// list of an export and the atomic directory write.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/forward.h"
#include "core/export/export.h"
#include "core/export/quantized_linear.h"
#include "core/io/dtype.h"
#include "core/io/safetensors.h"
#include "core/model/model.h"
#include "core/util/progress.h"

namespace ostq {

// Note [int32 packing]: both formats pack 32/b unsigned b-bit values into one int32 word; value j
// of a run of 32/b consecutive values along the packed dimension occupies bits [b·j, b·j + b), so
// the lowest bits hold the lowest index. GPTQ packs qweight along the input (dim 0 of [in, out])
// and qzeros along the output; compressed-tensors packs weight_packed along the input (dim 1 of
// [out, in]) and weight_zero_point along the output (dim 0). The packed dimension is zero-padded.

// values: integer tensor, 2-D, each in [0, 2^bits); bits divides 32. Returns int32 with
// ceil(size(dim)·bits/32) words along `dim`. Throws StatusError(internal) for out-of-range values.
at::Tensor pack_int32(const at::Tensor& values, int bits, int64_t dim);
// Inverse of pack_int32: int32 words → int32 values in [0, 2^bits), `count` of them along `dim`
// (count ≤ words·32/bits).
at::Tensor unpack_int32(const at::Tensor& words, int bits, int64_t dim, int64_t count);

// The codes of `l` as unsigned integers (int32 [out, in], in [0, 2^b)): symmetric codes are
// shifted by 2^{b−1}; asymmetric ones are kept (masked, so 8-bit codes stored wrapped in int8
// come back as 128…255).
at::Tensor unsigned_codes(const QuantizedLinear& l);
// The zero point on the same unsigned scale (int32 [out, n_groups]): 2^{b−1} when symmetric.
at::Tensor unsigned_zeros(const QuantizedLinear& l);

// "self_attn.q_proj", "mlp.down_proj": a linear's name inside a decoder block.
std::string hf_block_module(LinearId id);
// "model.layers.3.self_attn.q_proj".
std::string hf_linear_prefix(int64_t layer, LinearId id);
// [out, in] of a linear from the config.
std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, LinearId id);
// The bias of a linear (q/k/v of qkv_bias models) or an undefined tensor.
const at::Tensor& linear_bias(const LayerWeights& l, LinearId id);

// Torch type of any stored dtype (floats and integers; BOOL → kBool).
at::ScalarType scalar_type_of_any(DType d);

// Tensors of one export, converted to their storage dtype and kept alive until written.
class ExportTensors {
 public:
  // Stores `t` as `dtype` (float tensors are rounded; integer tensors must already have that type).
  void add(const std::string& name, const at::Tensor& t, DType dtype);
  const std::vector<TensorToWrite>& entries() const { return entries_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::vector<at::Tensor> owned_;
  std::vector<TensorToWrite> entries_;
  uint64_t bytes_ = 0;
};

// Embedding, final norm and lm_head (absent when tied) in `dtype`.
void add_model_dense_tensors(const Model& m, DType dtype, ExportTensors& out);
// The two RMSNorm gains of layer `i` in `dtype`.
void add_layer_norm_tensors(const Model& m, int64_t i, DType dtype, ExportTensors& out);

// config.json for `c` (torch_dtype `dtype`) with `quantization_config` set to the JSON object
// `quantization_config_json`.
std::string config_json_with_quantization(const ModelConfig& c, DType dtype,
                                          const std::string& quantization_config_json);

struct PackedDirWrite {
  std::string dir;                  // must not exist, or be empty
  std::string config_json;
  std::vector<std::pair<std::string, std::string>> extra_files;  // (name, content)
  std::string tokenizer_path;       // carried along; "" = none
  std::map<std::string, std::string> metadata;  // safetensors __metadata__ ("format": "pt" added)
};

// The one weight scheme of a packed export (GPTQ and compressed-tensors hold a single
// quantization_config): every linear must have a grid, all with the same bits, group size and
// symmetry, at 4 or 8 bits. Throws StatusError(invalid) naming `format` and the problem.
const WeightQuantGrid& uniform_weight_grid(const QuantizedModel& q, const std::string& format);

// The common end of both packed writers: provenance metadata and tokenizer on `w`, then either the
// planned size into `report` (o.size_only) or the atomic write.
void finish_packed_export(const QuantizedModel& q, const ExportOptions& o, PackedDirWrite& w,
                          const ExportTensors& tensors, ExportReport& report);

// Writes the directory atomically (temporary sibling, renamed at the end) after checking that the
// file system has room for the tensors. Throws StatusError naming the directory; cancelled when
// `progress` asks to stop (nothing is left behind).
void packed_dir_write(const PackedDirWrite& w, const ExportTensors& tensors, int64_t vocab_size,
                      const ProgressFn& progress);

}  // namespace ostq
