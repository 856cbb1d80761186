// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the llama2.c tokenizer.bin reader and encoder.
//   Raw mode (first byte even): bytes 1–2 pick vocab_size in 259..1282, the rest is the file.
//   Structured mode (odd): builds a valid tokenizer.bin (unk, bos, eos, 256 byte pieces, then
//   fuzzed pieces over a tiny alphabet with fuzzed, often tied scores), encodes fuzzed text, and
//   checks the ids against a direct port of run.c's O(n^2) encode() and the decode round trip.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/tokenizer.h"

using namespace ostq;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// run.c encode() as written, for short texts.
std::vector<int32_t> reference_encode(const Llama2cTokenizer& t, const std::string& text, bool bos) {
  std::vector<int32_t> tokens;
  if (bos) tokens.push_back(1);
  if (!text.empty() && t.find(" ") >= 0) tokens.push_back(t.find(" "));
  std::string buf;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<uint8_t>(text[i]) & 0xC0) != 0x80) buf.clear();
    buf += text[i];
    if (i + 1 < text.size() && (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80 && buf.size() < 4) {
      continue;
    }
    const int32_t id = t.find(buf);
    if (id != -1) {
      tokens.push_back(id);
    } else {
      for (unsigned char c : buf) tokens.push_back(c + 3);
    }
    buf.clear();
  }
  while (true) {
    float best_score = -1e10f;
    int32_t best_id = -1;
    size_t best_idx = SIZE_MAX;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int32_t id = t.find(t.piece(tokens[i]) + t.piece(tokens[i + 1]));
      if (id != -1 && t.score(id) > best_score) {
        best_score = t.score(id);
        best_id = id;
        best_idx = i;
      }
    }
    if (best_idx == SIZE_MAX) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_idx) + 1);
  }
  return tokens;
}

void append_entry(std::string& image, float score, const std::string& piece) {
  const int32_t len = static_cast<int32_t>(piece.size());
  image.append(reinterpret_cast<const char*>(&score), 4);
  image.append(reinterpret_cast<const char*>(&len), 4);
  image += piece;
}

void exercise(const Tokenizer& t, const std::string& text) {
  for (bool bos : {false, true}) {
    const auto ids = t.encode(text, bos);
    for (int32_t id : ids) check(id >= 0 && id < t.vocab_size());
    (void)t.decode(ids);
  }
  for (int32_t id = -2; id <= t.vocab_size() && id < 2000; ++id) (void)t.decode_piece(1, id);
}

void raw_mode(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const int32_t vocab = 259 + ((data[0] | (data[1] << 8)) % 1024);
  const std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto t = tokenizer_load_from_memory(TokenizerFormat::kLlama2cBin, bytes, "fuzz.bin", vocab);
  if (!t.is_ok()) {
    check(t.status().code() == StatusCode::kInvalidInput);
    check(t.status().message().find("fuzz.bin") != std::string::npos);
    return;
  }
  exercise(*t.value(), "Once upon a time \xC3\xA9\xF0\x9F\x99\x82 \x80\xFF!");
  exercise(*t.value(), bytes.substr(0, 96));
}

void structured_mode(const uint8_t* data, size_t size) {
  static const char kAlphabet[] = {'a', 'b', ' ', 'c', '\xC3', '\xA9', '\n', '\0'};
  size_t pos = 0;
  const auto next = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
  const int n_pieces = next() % 48;
  std::string image;
  const int32_t max_len = 8;
  image.append(reinterpret_cast<const char*>(&max_len), 4);
  append_entry(image, 0.0f, "<unk>");
  append_entry(image, 0.0f, "\n<s>\n");
  append_entry(image, 0.0f, "\n</s>\n");
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    append_entry(image, 0.0f, name);
  }
  for (int i = 0; i < n_pieces; ++i) {
    const uint8_t spec = next();
    std::string piece;
    for (int k = 0; k <= spec % 4; ++k) piece += kAlphabet[next() % sizeof kAlphabet];
    append_entry(image, static_cast<float>(static_cast<int8_t>(next()) / 4), piece);
  }
  const int32_t vocab = 259 + n_pieces;
  const std::string text(reinterpret_cast<const char*>(data) + pos, std::min<size_t>(size - pos, 160));
  const auto loaded = Llama2cTokenizer::parse(image, vocab, "structured.bin");
  for (bool bos : {false, true}) {
    const auto ids = loaded->encode(text, bos);
    check(ids == reference_encode(*loaded, text, bos));
    // Without a " " piece there is no dummy prefix and the first piece's own space is stripped.
    if (loaded->find(" ") >= 0) check(loaded->decode(ids) == text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1) {
    structured_mode(data + 1, size - 1);
  } else {
    raw_mode(data + 1, size - 1);
  }
  return 0;
}
