// SPDX-License-Identifier: Apache-2.0
// CPU Walsh–Hadamard kernels. Plain loops over contiguous memory so -O3 vectorises the inner
// loops; rows are independent and split across OpenMP threads. See fwht.h for the convention.
#include "kernels/cpu/fwht.h"

#include <algorithm>
#include <vector>

#if defined(_OPENMP)
#define OSTQ_OMP(x) _Pragma(#x)
#else
#define OSTQ_OMP(x)
#endif

namespace ostq::kernels {
namespace {

namespace generic {
#include "kernels/cpu/fwht_mix.inc"
}  // namespace generic

#if defined(__GNUC__) && defined(__x86_64__)
#define OSTQ_FWHT_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "kernels/cpu/fwht_mix.inc"
}  // namespace avx2
#pragma GCC pop_options
#endif

// The mix is > 90 % of the work for K > 1; pick the widest instantiation the CPU runs.
template <typename T>
using MixFn = void (*)(const int8_t*, const T*, T*, int64_t, int64_t, T, T*);

template <typename T>
MixFn<T> select_mix() {
#ifdef OSTQ_FWHT_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &avx2::mix<T>;
#endif
  return &generic::mix<T>;
}

// Below this many multiply-adds a call stays on one thread (the fork costs a few µs).
constexpr int64_t kParallelWork = int64_t{1} << 16;

// x [n] ← x · H_n (natural-order Sylvester), n a power of two.
template <typename T>
void fwht_inplace(T* x, int64_t n) {
  int64_t h = 1;
  if (n >= 4) {
    // Strides 1 and 2 fused into one radix-4 pass: such short strides do not vectorise and a
    // separate pass each would double the memory traffic.
    for (int64_t i = 0; i < n; i += 4) {
      const T s0 = x[i] + x[i + 1], d0 = x[i] - x[i + 1];
      const T s1 = x[i + 2] + x[i + 3], d1 = x[i + 2] - x[i + 3];
      x[i] = s0 + s1;
      x[i + 1] = d0 + d1;
      x[i + 2] = s0 - s1;
      x[i + 3] = d0 - d1;
    }
    h = 4;
  }
  for (; h < n; h *= 2) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      T* __restrict lo = x + i;
      T* __restrict hi = x + i + h;
      for (int64_t j = 0; j < h; ++j) {
        const T a = lo[j], b = hi[j];
        lo[j] = a + b;
        hi[j] = a - b;
      }
    }
  }
}

template <typename T>
void hadamard_rows_kron_impl(T* data, int64_t rows, int64_t base, const int8_t* base_matrix,
                             int64_t pow2, T scale) {
  const int64_t n = base * pow2;
  if (rows <= 0 || n <= 0) return;
  int64_t log2p = 0;
  while ((int64_t{1} << log2p) < pow2) ++log2p;
  static const MixFn<T> mix = select_mix<T>();
  const bool big = rows * n * (base + log2p) >= kParallelWork && rows > 1;
  (void)big;  // unused without OpenMP
  OSTQ_OMP(omp parallel if (big))
  {
    std::vector<T> scratch(base > 1 ? static_cast<size_t>(n + 2 * base) : 0);  // y, then 2·K tmp
    OSTQ_OMP(omp for schedule(static))
    for (int64_t r = 0; r < rows; ++r) {
      T* row = data + r * n;
      if (pow2 > 1)
        for (int64_t k = 0; k < base; ++k) fwht_inplace(row + k * pow2, pow2);
      if (base > 1) {
        mix(base_matrix, row, scratch.data(), base, pow2, scale, scratch.data() + n);
        std::copy(scratch.begin(), scratch.begin() + n, row);
      } else if (scale != T(1)) {
        for (int64_t j = 0; j < n; ++j) row[j] *= scale;
      }
    }
  }
}

template <typename T>
void fwht_rows_impl(T* data, int64_t rows, int64_t n) {
  const int8_t one = 1;
  hadamard_rows_kron_impl<T>(data, rows, 1, &one, n, T(1));
}

}  // namespace

void fwht_rows(float* data, int64_t rows, int64_t n) { fwht_rows_impl(data, rows, n); }
void fwht_rows(double* data, int64_t rows, int64_t n) { fwht_rows_impl(data, rows, n); }

void hadamard_rows_kron(float* data, int64_t rows, int64_t base, const int8_t* base_matrix,
                        int64_t pow2, float scale) {
  hadamard_rows_kron_impl(data, rows, base, base_matrix, pow2, scale);
}
void hadamard_rows_kron(double* data, int64_t rows, int64_t base, const int8_t* base_matrix,
                        int64_t pow2, double scale) {
  hadamard_rows_kron_impl(data, rows, base, base_matrix, pow2, scale);
}

}  // namespace ostq::kernels
