// SPDX-License-Identifier: Apache-2.0
// Entry point of the "cuda" LowBitOps variant (kernels/cuda/lowbit_*.cu). Plain C++: no CUDA
// headers, so kernels/lowbit_dispatch.cpp includes it under #ifdef OSTQ_HAVE_CUDA.
//
// Every pointer passed to these ops is device memory (MemorySpace::kCuda), HadamardSpec's
// base_matrix too; the structs themselves (HadamardSpec, LowBitWeights, …) live on the host.
// Ops run on the legacy default stream and synchronise before returning, so a kernel fault
// surfaces as a std::runtime_error naming the op; bad shapes throw std::invalid_argument.
#pragma once

#include <string>

#include "kernels/lowbit.h"

namespace ostq::kernels {

// The CUDA op table, or nullptr with the reason in *why (no driver, no device, compute capability
// below 8.0). Probes the device once; later calls return the cached answer.
const LowBitOps* cuda_lowbit_ops(std::string* why);

}  // namespace ostq::kernels
