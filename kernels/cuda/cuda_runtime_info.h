// SPDX-License-Identifier: Apache-2.0
// Host entry points of kernels/cuda/cuda_runtime_info.cu (compiled only when nvcc is found).
#pragma once

#include <string>

namespace ostq::kernels {

// cudaGetDeviceCount, with the runtime's error text in *why when it fails (e.g. no driver).
int cuda_runtime_device_count(std::string* why);

}  // namespace ostq::kernels
