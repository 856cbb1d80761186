// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the Hugging Face tokenizer.json reader and the BPE pipeline. The input is
// tokenizer.json, optionally followed by a NUL byte and tokenizer_config.json. Parse failures must
// be InvalidInput/Unsupported naming the file; a parsed tokenizer must encode and decode anything.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/tokenizer/hf_tokenizer.h"
#include "core/util/status.h"

using namespace ostq;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view json = input.substr(0, nul);
  std::optional<std::string_view> config;
  if (nul != std::string_view::npos) config = input.substr(nul + 1);

  const auto parsed = status_guard([&] {
    return std::make_unique<HfTokenizer>(hf_tokenizer_parse(json, config, "fuzz/tokenizer.json"));
  });
  if (!parsed.is_ok()) {
    const Status& st = parsed.status();
    check(st.code() == StatusCode::kInvalidInput || st.code() == StatusCode::kUnsupported);
    check(st.message().find("fuzz/tokenizer") != std::string::npos);
    return 0;
  }
  const HfTokenizer& t = *parsed.value();
  for (std::string_view text :
       {std::string_view("Hello world's 12345 !!\n\n  x"), std::string_view("caf\xC3\xA9 \xF0\x9F\x99\x82 \xFF"),
        std::string_view("<s> <|begin_of_text|>  a\r\n"), input.substr(0, 256)}) {
    for (bool bos : {false, true}) {
      const auto ids = t.encode(text, bos);
      for (int32_t id : ids) check(id >= 0 && id < t.vocab_size());
      (void)t.decode(ids);
    }
  }
  for (int32_t id = -2; id <= t.vocab_size() && id < 1000; ++id) (void)t.decode_piece(-1, id);
  return 0;
}
