// SPDX-License-Identifier: Apache-2.0
// Internal to kernels/: the optimized CPU variants of kernels/lowbit.h, each compiled with its own
// target attributes so the baseline x86-64 build runs anywhere; kernels/lowbit_dispatch.cpp lists
// only those whose features cpu_features() reports.
#pragma once

#include "kernels/lowbit.h"

namespace ostq::kernels {

// AVX2 + FMA (vpmaddubsw / vpmaddwd int8 dots); nullptr when the build is not x86-64.
const LowBitOps* lowbit_avx2_ops();
// AVX-512 F/BW + VNNI (vpdpbusd int8 dots, 16-wide FMA); nullptr when the build is not x86-64.
const LowBitOps* lowbit_avx512_vnni_ops();

}  // namespace ostq::kernels
