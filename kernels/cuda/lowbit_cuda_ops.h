// SPDX-License-Identifier: Apache-2.0
// Host launchers of the CUDA low-bit kernels, one per LowBitOps entry (kernels/lowbit.h), each
// defined in the lowbit_*.cu file that holds its kernels and gathered into the op table by
// kernels/cuda/lowbit_cuda.cu. All data pointers are device memory. Internal to kernels/cuda.
#pragma once

#include <cstdint>

#include "kernels/lowbit.h"

namespace ostq::kernels::cuda_ops {

// lowbit_hadamard.cu
void hadamard_rows(float* data, int64_t rows, const HadamardSpec& h);
void hadamard_rows_bf16(uint16_t* data, int64_t rows, const HadamardSpec& h);
// Checks a spec against the device limits of the Hadamard kernels (throws std::invalid_argument).
void check_hadamard_spec(const HadamardSpec& h);

// lowbit_quantize.cu
void quantize_acts(const float* x, int64_t m, int64_t k, const FakeQuantParams& params,
                   const HadamardSpec* fused, QuantizedActs out);
void pack_int4(const uint8_t* codes, int64_t count, uint8_t* packed);
void unpack_int4(const uint8_t* packed, int64_t count, uint8_t* codes);

// lowbit_wo_gemm.cu
void weight_only_gemm(const float* x, int64_t m, const LowBitWeights& w, const float* bias,
                      float* y);

// lowbit_int_gemm.cu
void int_gemm(const ConstQuantizedActs& a, int64_t m, const LowBitWeights& w, const float* bias,
              float* y);

}  // namespace ostq::kernels::cuda_ops
