// SPDX-License-Identifier: Apache-2.0
// `.ostq.h5`: an Analysis (analysis.h) in HDF5, written by `ostq analyze` and read by the GUI.
//
// Note [ostq.h5 layout], format_version 1, HDF5 1.10 file format (libver bounds V110). Scalars
// are attributes; arrays are gzip-compressed (deflate 4 + shuffle), chunked datasets, each with
// the attributes `units`, `shape` (text, e.g. "[channels] = [64]") and `description`. Strings
// are fixed-length UTF-8. Empty arrays are not written (absent = empty). Integers are int64
// unless noted; booleans are int64 0/1.
//
//   /                          format = "ostq-analysis", format_version = 1, created (UTC,
//                              ISO 8601), ostq_version
//   /model                     path, name, config_summary, config_json (HF config.json text), dtype
//                              ("fp32" | "bf16"), n_layers, dim, hidden_dim, parameters
//   /settings                  data_path, tokenizer_path, windows, seqlen, transform,
//                              seed (uint64), smooth_alpha, histogram_bins, top_k,
//                              sample_tokens, residual_sites, qsur_alpha, qsur_eig_floor,
//                              qsur_center, seconds
//     transform_notes          string [n]
//   /layers                    count
//   /layers/<i>                layer, capture_seconds, weight_seconds, qsur_seconds
//   /layers/<i>/sites          names: the site groups in forward order, comma-separated
//   /layers/<i>/sites/<site>   one TensorStats; <site> = attn_input, key_rope, value, o_proj_input,
//                              ffn_input, down_proj_input (+ residual_mid, residual_out)
//   /layers/<i>/weights        names: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
//   /layers/<i>/weights/<w>    one TensorStats (rows = output channels, channels = input columns)
//
//   TensorStats group attributes: kind ("activation" | "weight"), rows, channels, absmax,
//     pooled_mean, pooled_variance, pooled_kurtosis, median_channel_absmax, outlier_ratio,
//     histogram_range, sample_rows, has_qsur, and when has_qsur: qsur_d, qsur_samples,
//     qsur_exact_root, qsur_axis_root, qsur_log_exact, qsur_log_axis, qsur_log_det,
//     qsur_lambda_max, qsur_qmax_inf, qsur_max_var, qsur_rank_deficient, qsur_alpha, qsur_c,
//     qsur_center
//   TensorStats datasets:
//     channel_absmax    f32 [channels]            max |x| per channel over all rows
//     token_absmax      f32 [windows, seqlen]     (activations) max |x| per token
//     row_absmax        f32 [rows]                (weights) max |w| per output row
//     mean, var, kurtosis  f64 [channels]         per channel over rows (population; Pearson,
//                                                 Gaussian 3; 0 for a constant channel)
//     histogram         i64 [bins]                counts of all values
//     hist_edges        f64 [bins + 1]            −histogram_range … histogram_range
//     topk_channels     i64 [k]                   largest channel absmax first
//     topk_values       f32 [k]
//     magnitude_sample  f32 [sample_rows, s]      |x|, first rows × sample_channels
//     sample_channels   i64 [s]
//
//   /qsur                      parallel datasets [rows], Analysis::qsur_table(): layer, name
//                              (string), kind (string), d, samples, exact_root, axis_root
//                              (QSUR^(1/d)), log_exact, log_axis (ln QSUR), rank_deficient
//   /comparison                (only with a comparison) transforms (string [t]); layer, name, kind,
//                              d [rows]; exact_root, axis_root f64 [rows, t]
//
// HDF5 (serial build) is not thread-safe: call these from one thread at a time.
#pragma once

#include <string>

#include "core/analysis/analysis.h"
#include "core/util/status.h"

namespace ostq {

constexpr int kAnalysisFormatVersion = 1;

// Writes `path` atomically (a temporary name in the same directory, renamed on success; nothing
// is left behind on failure). IoError names the file.
Status analysis_save(const Analysis& analysis, const std::string& path);

// Reads a file written by analysis_save. InvalidInput names the file and the problem (not HDF5,
// truncated, not an OSTQ analysis, missing or inconsistent data); Unsupported for a newer
// format_version; IoError when it cannot be opened.
Result<Analysis> analysis_load(const std::string& path);

}  // namespace ostq
