// SPDX-License-Identifier: Apache-2.0
// Which LowBitOps variants this build has and this machine runs (kernels/lowbit.h).
#include <cmath>

#include "kernels/cpu/lowbit_cpu.h"
#include "kernels/device_info.h"
#include "kernels/lowbit.h"

#ifdef OSTQ_HAVE_CUDA
#include "kernels/cuda/lowbit_cuda.h"
#endif

namespace ostq::kernels {

namespace {

std::vector<const LowBitOps*> host_variants() {
  std::vector<const LowBitOps*> v{&lowbit_reference()};
  const CpuFeatures& f = cpu_features();
  if (f.avx2 && f.fma)
    if (const LowBitOps* ops = lowbit_avx2_ops()) v.push_back(ops);
  if (f.avx512f && f.avx512bw && f.avx512vnni)
    if (const LowBitOps* ops = lowbit_avx512_vnni_ops()) v.push_back(ops);
  return v;
}

}  // namespace

const std::vector<const LowBitOps*>& lowbit_variants() {
  static const std::vector<const LowBitOps*> variants = [] {
    std::vector<const LowBitOps*> v = host_variants();
    if (const LowBitOps* cuda = lowbit_cuda()) v.push_back(cuda);
    return v;
  }();
  return variants;
}

const LowBitOps& lowbit_cpu_best() {
  static const LowBitOps* best = host_variants().back();  // listed from slowest to fastest
  return *best;
}

const LowBitOps* lowbit_cuda(std::string* why) {
#ifdef OSTQ_HAVE_CUDA
  return cuda_lowbit_ops(why);
#else
  if (why) *why = "built without CUDA kernels";
  return nullptr;
#endif
}

bool int_gemm_supported(const LowBitWeights& w, int64_t a_group) {
  if ((w.bits != 4 && w.bits != 8) || w.k <= 0 || w.group <= 0 || w.k % w.group != 0) return false;
  if (a_group <= 0 || w.k % a_group != 0 || (a_group % w.group != 0 && w.group % a_group != 0)) return false;
  // int32 sums: |a·(u − zw)| ≤ 255·128 per column.
  if (w.k > (int64_t{1} << 16)) return false;
  if (!w.zero) return false;
  // Every u − zw, u ∈ [0, 2^b − 1], must fit int8: zw ∈ [2^b − 1 − 127, 128] (8-bit: zw = 128).
  const float lo = static_cast<float>((1 << w.bits) - 1 - 127), hi = 128.0f;
  for (int64_t i = 0; i < w.n * w.groups(); ++i) {
    const float z = w.zero[i];
    if (!(z >= lo && z <= hi) || z != std::nearbyint(z)) return false;
  }
  return true;
}

}  // namespace ostq::kernels
