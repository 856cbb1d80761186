// SPDX-License-Identifier: Apache-2.0
// What compute the kernels can use on this machine: CPU features (chosen at run time) and CUDA
// devices (0 when the build has no CUDA kernels or the machine has no driver/GPU).
#pragma once

#include <string>

namespace ostq::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
};

const CpuFeatures& cpu_features();
std::string cpu_features_string();  // "avx2 fma avx512f ..."

bool cuda_compiled();
// Number of usable CUDA devices; 0 with a reason in *why when none (no driver, no GPU, not built).
int cuda_device_count(std::string* why = nullptr);

}  // namespace ostq::kernels
