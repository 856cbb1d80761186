// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: safetensors header validation and index parsing must never crash, and a header
// that validates must describe tensors lying inside the input (checked by reading every byte).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/io/dtype.h"
#include "core/io/safetensors.h"
#include "core/util/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ostq::SafetensorsHeader h = ostq::safetensors_parse(data, size, "fuzz.safetensors");
    uint64_t covered = 0;
    std::vector<float> out;
    for (const auto& t : h.tensors) {
      if (t.data_offset < h.data_start || t.data_offset + t.nbytes > size) __builtin_trap();
      if (t.nbytes != static_cast<uint64_t>(t.numel()) * ostq::dtype_size(t.dtype))
        __builtin_trap();
      if (h.find(t.name) != &t) __builtin_trap();
      covered += t.nbytes;
      // Touch every byte so ASan would see an out-of-bounds tensor.
      out.resize(static_cast<size_t>(t.numel()));
      ostq::convert_to_fp32(data + t.data_offset, t.dtype, out.data(), out.size());
    }
    // Tensors tile the byte buffer exactly (no holes, no overlaps).
    if (h.data_start + covered != size) __builtin_trap();
  } catch (const ostq::StatusError&) {
  }
  try {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const ostq::SafetensorsIndex index = ostq::safetensors_index_parse(text, "fuzz.index.json");
    if (index.weight_map.empty()) __builtin_trap();
  } catch (const ostq::StatusError&) {
  }
  return 0;
}
