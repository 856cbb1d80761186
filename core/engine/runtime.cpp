// SPDX-License-Identifier: Apache-2.0
#include "core/engine/runtime.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <thread>

#include "kernels/device_info.h"

namespace ostq {

void runtime_init(int threads) {
  // Note [allocator]: activations of a forward are tens to hundreds of MB and are freed and
  // re-allocated every layer. glibc serves such blocks with fresh mmaps whose page faults cost
  // more than the matmuls here (measured: bf16 forward 2.9x faster on the stories110M shape).
  // Keep freed memory in the heap for reuse instead; the process then holds its peak heap.
  static const bool allocator_tuned = [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
    return true;
  }();
  (void)allocator_tuned;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

int runtime_threads() { return at::get_num_threads(); }

namespace {

using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();

struct OpenBlasApi {
  SetThreadsFn set = nullptr;
  GetThreadsFn get = nullptr;
};

const OpenBlasApi& openblas_api() {
  static const OpenBlasApi api = [] {
    OpenBlasApi a;
    a.set = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    a.get = reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    return a;
  }();
  return api;
}

// Below this width every GEMM of a forward is small enough that BLAS threading only costs.
constexpr int64_t kSmallModelWidth = 512;

}  // namespace

BlasThreadsForModel::BlasThreadsForModel(int64_t dim, int64_t hidden_dim) {
  const OpenBlasApi& api = openblas_api();
  if (api.set == nullptr || api.get == nullptr || std::max(dim, hidden_dim) >= kSmallModelWidth) return;
  previous_ = api.get();
  api.set(1);
}

BlasThreadsForModel::~BlasThreadsForModel() {
  if (previous_ > 0) openblas_api().set(previous_);
}

std::string runtime_description() {
  std::string cuda_why;
  int gpus = kernels::cuda_device_count(&cuda_why);
  std::string s = "LibTorch " TORCH_VERSION ", " + std::to_string(at::get_num_threads()) +
                  " threads, CPU " + kernels::cpu_features_string() + ", CUDA kernels: ";
  if (!kernels::cuda_compiled()) {
    s += "not built";
  } else {
    s += gpus > 0 ? std::to_string(gpus) + " device(s)" : "no device (" + cuda_why + ")";
  }
  return s;
}

}  // namespace ostq
