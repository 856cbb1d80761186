// SPDX-License-Identifier: Apache-2.0
// tokenizer_load / tokenizer_find_for_model: picking and opening the right tokenizer file.
#include <dirent.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <optional>

#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::unique_ptr<Tokenizer> parse_any(TokenizerFormat format, std::string_view bytes,
                                     const std::string& name, int32_t vocab_size,
                                     std::optional<std::string_view> hf_config) {
  std::unique_ptr<Tokenizer> t;
  switch (format) {
    case TokenizerFormat::kLlama2cBin:
      if (vocab_size <= 0) {
        throw_invalid(name + ": a llama2.c tokenizer.bin needs the vocab_size of its checkpoint");
      }
      return Llama2cTokenizer::parse(bytes, vocab_size, name);
    case TokenizerFormat::kSentencePiece:
      t = SentencePieceTokenizer::parse(bytes, name);
      break;
    case TokenizerFormat::kHfJson:
      t = std::make_unique<HfTokenizer>(hf_tokenizer_parse(bytes, hf_config, name));
      break;
  }
  if (vocab_size > 0 && t->vocab_size() > vocab_size) {
    throw_invalid(name + ": the tokenizer has " + std::to_string(t->vocab_size()) +
                  " ids but the model's vocabulary has only " + std::to_string(vocab_size));
  }
  return t;
}

// vocab_size of a llama2.c checkpoint header (v0, or "ak42" v1/v2); 0 when unreadable.
int32_t llama2c_header_vocab(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char h[36] = {};
  if (!in.read(h, sizeof h)) return 0;
  uint32_t magic = 0;
  std::memcpy(&magic, h, 4);
  int32_t v = 0;
  std::memcpy(&v, h + (magic == 0x616b3432u ? 28 : 20), 4);
  if (v == INT32_MIN) return 0;
  return v < 0 ? -v : v;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool fits(const std::string& path, int32_t vocab_size) {
  if (vocab_size <= 0) return true;
  const auto t = tokenizer_load(path, vocab_size);
  return t.is_ok() && t.value()->vocab_size() == vocab_size;
}

}  // namespace

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t id : ids) {
    out += decode_piece(prev, id);
    prev = id;
  }
  return out;
}

Result<std::unique_ptr<Tokenizer>> tokenizer_load_from_memory(TokenizerFormat format,
                                                              std::string_view bytes,
                                                              const std::string& name,
                                                              int32_t vocab_size) {
  return status_guard([&] { return parse_any(format, bytes, name, vocab_size, std::nullopt); });
}

Result<std::unique_ptr<Tokenizer>> tokenizer_load(const std::string& path, int32_t vocab_size) {
  return status_guard([&]() -> std::unique_ptr<Tokenizer> {
    if (is_directory(path)) throw_invalid(path + ": is a directory, not a tokenizer file");
    TokenizerFormat format;
    if (ends_with(path, ".bin")) {
      format = TokenizerFormat::kLlama2cBin;
    } else if (ends_with(path, ".model")) {
      format = TokenizerFormat::kSentencePiece;
    } else if (ends_with(path, ".json")) {
      format = TokenizerFormat::kHfJson;
    } else {
      throw_unsupported(path + ": unknown tokenizer format (expected *.bin, *.model or *.json)");
    }
    const std::string bytes = read_file(path);
    std::optional<std::string> config;
    const std::string config_path = path_join(path_dirname(path), "tokenizer_config.json");
    if (format == TokenizerFormat::kHfJson && file_exists(config_path)) config = read_file(config_path);
    return parse_any(format, bytes, path, vocab_size,
                     config ? std::optional<std::string_view>(*config) : std::nullopt);
  });
}

std::string tokenizer_find_for_model(const std::string& model_path) {
  return tokenizer_find_for_model(
      model_path, is_directory(model_path) ? 0 : llama2c_header_vocab(model_path));
}

std::string tokenizer_find_for_model(const std::string& model_path, int32_t vocab_size) {
  if (is_directory(model_path)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
      const std::string p = path_join(model_path, name);
      if (file_exists(p)) return p;
    }
    return {};
  }
  const std::string dir = path_dirname(model_path);
  const std::vector<std::string> names = list_dir(dir);
  // A llama2.c export's own tokenizer comes first: "<stem>.tokenizer.bin" beside "<stem>.bin".
  std::string stem = path_filename(model_path);
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  for (const char* ext : {".bin", ".model"}) {
    const std::string plain = std::string("tokenizer") + ext;
    std::vector<std::string> candidates{plain};
    if (std::string_view(ext) == ".bin") candidates.insert(candidates.begin(), stem + ".tokenizer.bin");
    for (const std::string& n : names) {
      if (n.rfind("tok", 0) == 0 && ends_with(n, ext) && n != plain) candidates.push_back(n);
    }
    for (const std::string& n : candidates) {
      const std::string p = path_join(dir, n);
      if (p == model_path || n == path_filename(model_path) || !file_exists(p)) continue;
      if (fits(p, vocab_size)) return p;
    }
  }
  return {};
}

}  // namespace ostq
