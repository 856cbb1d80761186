// SPDX-License-Identifier: Apache-2.0
#include "kernels/device_info.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "kernels/cuda/cuda_runtime_info.h"

namespace ostq::kernels {

namespace {

CpuFeatures detect_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(1, 0, &a, &b, &c, &d)) f.fma = (c >> 12) & 1;
  // XCR0 must enable the AVX (bits 1,2) and AVX-512 (bits 5,6,7) state or the OS will fault.
  unsigned long long xcr0 = 0;
  bool osxsave = (c >> 27) & 1;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  bool avx_os = (xcr0 & 0x6) == 0x6;
  bool avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = avx_os && ((b >> 5) & 1);
    f.avx512f = avx512_os && ((b >> 16) & 1);
    f.avx512bw = avx512_os && ((b >> 30) & 1);
    f.avx512vnni = avx512_os && ((c >> 11) & 1);
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = avx512_os && ((a >> 5) & 1);
  f.fma = f.fma && avx_os;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu();
  return features;
}

std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vnni, "avx512vnni");
  add(f.avx512bf16, "avx512bf16");
  return s.empty() ? "baseline" : s;
}

bool cuda_compiled() {
#ifdef OSTQ_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count(std::string* why) {
#ifdef OSTQ_HAVE_CUDA
  return cuda_runtime_device_count(why);
#else
  if (why != nullptr) *why = "built without CUDA kernels (no nvcc at configure time)";
  return 0;
#endif
}

}  // namespace ostq::kernels
