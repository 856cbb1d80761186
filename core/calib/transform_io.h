// SPDX-License-Identifier: Apache-2.0
// Saving and loading learned transforms (a TransformSet, OSTQUANT_SPEC.md §3.1) in the workbench's
// own format, and importing the transforms trained by the reference implementation (§3.9).
//
// Note [ostq-transforms format]: one .safetensors file, every tensor F64:
//   r_res [d,d]; layers.<i>.r_ov.<h> [d_h,d_h] (h < n_kv); layers.<i>.s_attn [d]; .s_ffn [d];
//   .s_ov [n_kv·d_h]; .s_qk [n_kv·d_h/2] (free values, RoPE pairs tied); .s_up_down [d_ff].
// An undefined transform (identity) is not written. A layer's R_ov is all n_kv heads or none.
// __metadata__ (all values strings): format "ostq-transforms", version "1", ffn_rotation and
// qk_hadamard "true"/"false", seed (decimal uint64), notes (JSON array of strings), dim, n_layers,
// n_heads, n_kv_heads, head_dim, hidden_dim (decimal), provenance (a JSON object chosen by the
// caller: method, bits, steps, data hash …) and tensors (JSON array of the tensor names written, so
// a tensor missing from a damaged file is reported instead of read as identity).
// Save and load apply the same checks: shapes against the model config, finite values, scales > 0,
// rotations orthogonal (‖RᵀR·v − v‖ ≤ 1e-3·‖v‖ on 8 seeded random probes v).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/io/model_config.h"
#include "core/quant/transforms.h"

namespace ostq {

// Writes `t` for a model of shape `config` to `path` atomically (temporary sibling, renamed).
// `provenance_json` must be a JSON object. Throws StatusError(invalid) naming the file and the
// tensor for a shape mismatch, a non-finite value, a non-positive scale or a non-orthogonal
// rotation; StatusError(io) when the file cannot be written.
void save_transform_set(const std::string& path, const TransformSet& t, const ModelConfig& config,
                        const std::string& provenance_json = "{}");

// The bytes save_transform_set writes, in memory; `path` names the file in errors.
std::string serialize_transform_set(const TransformSet& t, const ModelConfig& config, const std::string& provenance_json,
                                    const std::string& path);

// Reads a file written by save_transform_set and validates it against `config`. Every layer is
// present in the result (undefined members = identity). Throws StatusError naming the file (and
// the tensor or metadata key): io when it cannot be read; invalid for a truncated or malformed
// file, a wrong format tag, a shape mismatch, an unknown or missing tensor, a non-F64 tensor,
// non-finite values, non-positive scales or non-orthogonal rotations; unsupported for another
// format version. `provenance_json` (if non-null) receives the stored provenance object.
TransformSet load_transform_set(const std::string& path, const ModelConfig& config,
                                std::string* provenance_json = nullptr);

// Imports the reference implementation's trained transforms: a torch.save()d dict (zip format,
// torch >= 1.6) read with LibTorch's unpickler the way torch::pickle_load reads it, except that
// every storage is mapped to the CPU (the reference saves CUDA tensors) and nn.Parameter values are
// read as their tensors. Keys of §3.9 (an optional "module." prefix is accepted):
//   R_res.weight [d,d]; model.layers.{i}.R_S_modules.R_ov.weight.{h} [d_h,d_h];
//   model.layers.{i}.R_S_modules.{S_up_down [d_ff], S_qk [n_kv·d_h], S_ov [n_kv·d_h],
//                                S_norm_qkv [d], S_norm_upgate [d]}.weight.
// S_norm_qkv → s_attn, S_norm_upgate → s_ffn; R_res, R_ov, S_ov, S_up_down map unchanged (same
// conventions: W·R, Rᵀ·W, V-space rotation v·R_h). The reference S_qk has d_h independent values
// per KV head; exact mode ties the RoPE pairs (i, i + d_h/2), so each pair becomes its geometric
// mean and a note gives the largest pair mismatch max(a/b, b/a) − 1. ffn_rotation = true (the
// reference always folds H_ff), qk_hadamard = false. Values must be finite, scales > 0, rotations
// orthogonal. Every key is required and any other key is an error (StatusError invalid naming the
// key and the file; unsupported for S_up_gate).
// Limitation (LibTorch 1.13's unpickler): a top-level collections.OrderedDict, i.e. a raw
// state_dict(), cannot be read; the error says how to re-save it as a plain dict.
TransformSet import_reference_transforms(const std::string& path, const ModelConfig& config);

}  // namespace ostq
