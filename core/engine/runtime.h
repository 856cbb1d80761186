// SPDX-License-Identifier: Apache-2.0
// Process-wide compute setup shared by the CLI, the GUI worker, tests and benchmarks.
#pragma once

#include <string>

namespace ostq {

// LibTorch starts with one intra-op thread on this platform: use every core (or `threads` > 0).
// Also turns off autograd for inference-only callers when asked. Idempotent.
void runtime_init(int threads = 0);
int runtime_threads();
// "LibTorch 1.13.0, 2 threads, CPU avx2 fma avx512f …, CUDA: not built".
std::string runtime_description();

}  // namespace ostq
