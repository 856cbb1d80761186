// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda/cuda_runtime_info.h"

#include <cuda_runtime.h>

namespace ostq::kernels {

int cuda_runtime_device_count(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why != nullptr) *why = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "no CUDA device";
  return count;
}

}  // namespace ostq::kernels
