// SPDX-License-Identifier: Apache-2.0
// Low-bit execution kernels behind one table of function pointers per variant (ggml's
// ggml_type_traits, FBGEMM's dispatch): "reference" (scalar, the spec), the CPU variants chosen at
// run time from CPU features, and "cuda" when built with nvcc and a device is present. Raw
// pointers, no torch. Every variant takes the same canonical layouts (below), so weights are
// prepared once on the host and, for CUDA, copied to the device as they are.
//
// Quantization arithmetic is OSTQUANT_SPEC.md §7.1, exactly as kernels/cpu/fake_quant.h: codes are
// stored unsigned with a zero point in code units, so one formula serves both kinds:
//   asymmetric  u ∈ [0, 2^b − 1], zero z = round(−xmin/s)          x̂ = (u − z)·s
//   symmetric   u = q + 2^{b−1} ∈ [0, 2^b − 1], zero z = 2^{b−1}    x̂ = (u − z)·s = q·s
// and x̂ is bit-identical to fake_quant_rows for the same parameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/fake_quant.h"

namespace ostq::kernels {

// Where a variant's pointers live.
enum class MemorySpace { kHost, kCuda };

// x ← x·(A ⊗ H_pow2)·scale along rows of length base·pow2 (the convention of kernels/cpu/fwht.h).
// base_matrix: A as ±1 int8 [base, base] row-major, in the variant's memory; nullptr when base = 1.
struct HadamardSpec {
  int64_t base = 1;
  const int8_t* base_matrix = nullptr;
  int64_t pow2 = 1;
  float scale = 1.0f;
  int64_t n() const { return base * pow2; }
};

// Quantized activations [m, k]: one code per byte (uint8, see the header comment), and per row one
// (scale, zero) per group of `group` columns (group divides k; group = k for per token).
struct QuantizedActs {
  uint8_t* codes = nullptr;  // [m, k]
  float* scale = nullptr;    // [m, k / group]
  float* zero = nullptr;     // [m, k / group], integer-valued
};
struct ConstQuantizedActs {
  const uint8_t* codes = nullptr;
  const float* scale = nullptr;
  const float* zero = nullptr;
  int64_t group = 0;  // columns per (scale, zero); must be > 0
};

// Quantized weights of a linear y = x·Wᵀ, W [n, k] (out × in), canonical layout:
//   bits 4: data [n, k/2] bytes, column 2j in the low nibble of byte j, column 2j+1 in the high
//           nibble (k even); bits 8: data [n, k] bytes.
//   scale, zero: fp32 [n, k / group]; zero in code units and integer-valued (w = (u − zero)·scale).
//   code_sum: int32 [n, k / group], Σ (u − zero) over each group's columns — the zero-point
//   correction term of the integer GEMM (Σ (a − za)(u − zw) = Σ a·(u − zw) − za·Σ (u − zw)).
struct LowBitWeights {
  int bits = 4;
  int64_t n = 0, k = 0, group = 0;  // group divides k; group = k for per channel
  const uint8_t* data = nullptr;
  const float* scale = nullptr;
  const float* zero = nullptr;
  const int32_t* code_sum = nullptr;
  int64_t groups() const { return group > 0 ? k / group : 0; }
};

// Host-side owner of a LowBitWeights in the canonical layout.
struct LowBitWeightStore {
  int bits = 4;
  int64_t n = 0, k = 0, group = 0;
  std::vector<uint8_t> data;
  std::vector<float> scale, zero;
  std::vector<int32_t> code_sum;
  LowBitWeights view() const { return {bits, n, k, group, data.data(), scale.data(), zero.data(), code_sum.data()}; }
};

// Packs unsigned codes u [n, k] (one per int32 for convenience of callers holding int8/int16
// codes; each in [0, 2^bits − 1]) with scale/zero [n, k/group] into the canonical layout and
// computes code_sum. bits ∈ {4, 8}; throws std::invalid_argument on bad shapes or codes.
LowBitWeightStore pack_lowbit_weights(const int32_t* codes, const float* scale, const float* zero, int bits,
                                      int64_t n, int64_t k, int64_t group);

// One implementation of every op. Pointers are in `memory`; CPU variants parallelise with OpenMP.
struct LowBitOps {
  const char* name;    // "reference", "avx2", "avx512", "avx512-vnni", "cuda"
  MemorySpace memory;

  // In place: every row of data [rows, h.n()] ← row·(A ⊗ H)·scale. fp32, and bf16 stored as uint16.
  void (*hadamard_rows)(float* data, int64_t rows, const HadamardSpec& h);
  void (*hadamard_rows_bf16)(uint16_t* data, int64_t rows, const HadamardSpec& h);

  // x [m, k] fp32 → codes/scale/zero per params (params.group 0 = per token). With `fused` set, each
  // row is first multiplied by the Hadamard (x itself is not modified). params.bits ∈ [2, 8].
  void (*quantize_acts)(const float* x, int64_t m, int64_t k, const FakeQuantParams& params,
                        const HadamardSpec* fused, QuantizedActs out);

  // count codes (count even) in [0, 15], one per byte ↔ count/2 bytes, element 2j in the low nibble.
  void (*pack_int4)(const uint8_t* codes, int64_t count, uint8_t* packed);
  void (*unpack_int4)(const uint8_t* packed, int64_t count, uint8_t* codes);

  // Weight-only (W4A16 / W8A16): y [m, n] = x [m, k] · dequant(W)ᵀ (+ bias [n] when not null), fp32,
  // dequantizing on the fly. m = 1 is the decode GEMV.
  void (*weight_only_gemm)(const float* x, int64_t m, const LowBitWeights& w, const float* bias, float* y);

  // Integer GEMM (W4A4, W8A8): y [m, n] = Σ_groups sa·sw·(Σ a·(u − zw) − za·code_sum) (+ bias),
  // with int8×int8 → int32 dot products. Needs (u − zw) to fit int8 (always for 4-bit; 8-bit
  // weights must be symmetric) and one of the two group sizes (a.group, w.group) to divide the
  // other. Equal to weight_only_gemm on the dequantized activations up to fp32 rounding.
  void (*int_gemm)(const ConstQuantizedActs& a, int64_t m, const LowBitWeights& w, const float* bias, float* y);
};

// The scalar reference: plain loops written from the spec, the ground truth of every test.
const LowBitOps& lowbit_reference();
// Every variant this build has and this machine can run, the reference first (tests iterate it).
const std::vector<const LowBitOps*>& lowbit_variants();
// The fastest host variant for this CPU.
const LowBitOps& lowbit_cpu_best();
// The CUDA variant, or nullptr (with the reason in *why) when not compiled or no usable device.
const LowBitOps* lowbit_cuda(std::string* why = nullptr);

// True when an integer GEMM can run these weights with activations grouped by a_group (see int_gemm).
bool int_gemm_supported(const LowBitWeights& w, int64_t a_group);

}  // namespace ostq::kernels
