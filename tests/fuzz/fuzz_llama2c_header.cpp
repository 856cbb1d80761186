// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: llama2.c checkpoint header parsing and size validation must never crash.
#include <cstddef>
#include <cstdint>

#include "core/io/llama2c_format.h"
#include "core/util/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ostq::Llama2cLayout layout = ostq::llama2c_parse(data, size, "fuzz.bin");
    // A layout that parses must describe exactly the input.
    if (layout.expected_size != size) __builtin_trap();
  } catch (const ostq::StatusError&) {
  }
  return 0;
}
