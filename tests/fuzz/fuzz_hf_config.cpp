// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: config.json parsing must never crash, and every config it accepts must survive
// hf_config_to_json → hf_config_parse unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/io/hf_config.h"
#include "core/util/status.h"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ostq::ModelConfig config;
  try {
    config = ostq::hf_config_parse(text, "fuzz/config.json");
  } catch (const ostq::StatusError&) {
    return 0;
  }
  // Anything accepted must be writable and read back identically; a failure here is a bug.
  try {
    const std::string json = ostq::hf_config_to_json(config, ostq::DType::kBF16);
    const ostq::ModelConfig back = ostq::hf_config_parse(json, "fuzz/config.json");
    if (config != back) __builtin_trap();
  } catch (const ostq::StatusError&) {
    __builtin_trap();
  }
  return 0;
}
