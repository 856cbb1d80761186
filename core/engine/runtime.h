// SPDX-License-Identifier: Apache-2.0
// Process-wide compute setup shared by the CLI, the GUI worker, tests and benchmarks.
#pragma once

#include <string>

namespace ostq {

// LibTorch starts with one intra-op thread on this platform: use every core (or `threads` > 0).
// Also turns off autograd for inference-only callers when asked. Idempotent.
void runtime_init(int threads = 0);
int runtime_threads();

// Note [small-model BLAS threads]: OpenBLAS's own worker threads and LibTorch's OpenMP threads
// fight for the cores on the many small GEMMs of a small model (stories260K: 2.8x slower eval
// with both at 2 threads than with single-threaded BLAS). While one of these guards lives, BLAS
// runs single-threaded when the model's widest matrix is small; it restores the previous count.
// A no-op when the BLAS library has no openblas_set_num_threads.
class BlasThreadsForModel {
 public:
  BlasThreadsForModel(int64_t dim, int64_t hidden_dim);
  ~BlasThreadsForModel();
  BlasThreadsForModel(const BlasThreadsForModel&) = delete;
  BlasThreadsForModel& operator=(const BlasThreadsForModel&) = delete;

 private:
  int previous_ = -1;
};
// "LibTorch 1.13.0, 2 threads, CPU avx2 fma avx512f …, CUDA: not built".
std::string runtime_description();

}  // namespace ostq
