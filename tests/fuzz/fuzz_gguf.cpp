// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: GGUF parsing (Note [GGUF validation]) must never crash, and a file that
// validates must describe tensors lying inside the input: every tensor of a type we decode is
// dequantized, which reads each of its bytes (ASan sees an out-of-bounds tensor).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/io/gguf_format.h"
#include "core/util/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ostq::GgufHeader h = ostq::gguf_parse(data, size, "fuzz.gguf");
    std::vector<float> out;
    for (const auto& t : h.tensors) {
      if (t.offset < h.data_start || t.offset % h.alignment != 0 || t.offset + t.nbytes > size) __builtin_trap();
      if (t.nbytes != ostq::ggml_nbytes(t.type, t.numel)) __builtin_trap();
      if (h.find_tensor(t.name) != &t) __builtin_trap();
      if (t.type == ostq::GgmlType::kQ5_0 || t.type == ostq::GgmlType::kQ5_1) continue;
      if (t.numel > (uint64_t{1} << 24)) continue;  // keep each input fast
      out.resize(static_cast<size_t>(t.numel));
      ostq::ggml_dequantize(t.type, data + t.offset, out.data(), t.numel);
    }
    for (const auto& kv : h.kvs) {
      if (h.find(kv.key) != &kv.value) __builtin_trap();
      (void)kv.value.array_as_double();
      (void)kv.value.array_as_int();
    }
  } catch (const ostq::StatusError& e) {
    if (e.status().code() == ostq::StatusCode::kInternal) __builtin_trap();
  }
  return 0;
}
