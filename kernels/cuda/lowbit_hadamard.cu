// SPDX-License-Identifier: Apache-2.0
// In-place Hadamard rotation of rows, fp32 and bf16 (stored as uint16): one block per row, the
// row staged in dynamic shared memory as fp32 (≤ 144 KiB with the mix scratch), transformed by
// block_hadamard (lowbit_hadamard.cuh) and written back (bf16 rounded to nearest even).
#include <cuda_bf16.h>

#include <string>

#include "kernels/cuda/lowbit_common.cuh"
#include "kernels/cuda/lowbit_cuda_ops.h"
#include "kernels/cuda/lowbit_hadamard.cuh"

namespace ostq::kernels::cuda_ops {
namespace {

using namespace cuda_detail;

__device__ __forceinline__ float load_elem(const float* p) { return *p; }
__device__ __forceinline__ float load_elem(const uint16_t* p) {
  return __bfloat162float(__ushort_as_bfloat16(*p));
}
__device__ __forceinline__ void store_elem(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_elem(uint16_t* p, float v) {
  *p = __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

// data [rows, n] with T = float or uint16_t (bf16 bits). Grid-stride over rows.
template <typename T>
__global__ void __launch_bounds__(kHadMaxThreads)
    hadamard_rows_kernel(T* __restrict__ data, int64_t rows, int n, int base, int pow2,
                         const int8_t* __restrict__ A, float scale) {
  extern __shared__ float s[];  // the row [n], then the mix scratch
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    T* p = data + row * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = load_elem(p + i);
    __syncthreads();
    block_hadamard(s, s + n, n, base, pow2, A, scale);
    for (int i = threadIdx.x; i < n; i += blockDim.x) store_elem(p + i, s[i]);
    __syncthreads();  // s is refilled by the next row
  }
}

template <typename T>
void launch_hadamard(T* data, int64_t rows, const HadamardSpec& h, const char* op) {
  check_hadamard_spec(h);
  require(rows >= 0, std::string(op) + ": negative row count");
  if (rows == 0) return;
  require(data != nullptr, std::string(op) + ": null data");
  const int n = static_cast<int>(h.n());
  const int threads = hadamard_threads(n);
  const size_t smem = hadamard_smem_bytes(n, h.base);
  allow_dynamic_smem(hadamard_rows_kernel<T>, smem, op);
  hadamard_rows_kernel<T><<<grid_for(rows, 1), threads, smem>>>(
      data, rows, n, static_cast<int>(h.base), static_cast<int>(h.pow2), h.base_matrix, h.scale);
  finish_op(op);
}

}  // namespace

void check_hadamard_spec(const HadamardSpec& h) {
  require(h.base >= 1 && h.pow2 >= 1, "hadamard: base and pow2 must be ≥ 1");
  require((h.pow2 & (h.pow2 - 1)) == 0, "hadamard: pow2 must be a power of two");
  require(h.base == 1 || h.base_matrix != nullptr, "hadamard: base > 1 needs a base matrix");
  require(h.base <= kHadMixScratch, "hadamard: base order above " + std::to_string(kHadMixScratch));
  require(h.n() <= kHadMaxN, "hadamard: row length " + std::to_string(h.n()) +
                                 " exceeds the CUDA limit " + std::to_string(kHadMaxN));
}

void hadamard_rows(float* data, int64_t rows, const HadamardSpec& h) {
  launch_hadamard(data, rows, h, "hadamard_rows");
}

void hadamard_rows_bf16(uint16_t* data, int64_t rows, const HadamardSpec& h) {
  launch_hadamard(data, rows, h, "hadamard_rows_bf16");
}

}  // namespace ostq::kernels::cuda_ops
