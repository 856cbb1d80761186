// SPDX-License-Identifier: Apache-2.0
// SentencePiece vocabulary → Hugging Face tokenizer.json (what transformers' LlamaConverter
// writes), plus loading such a vocabulary from *.model / *.bin.
#include "core/tokenizer/tokenizer_json_writer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "core/tokenizer/llama2c_tokenizer.h"
#include "core/tokenizer/piece_text.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/unicode_class.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

void check_vocab(const SentencePieceVocab& v) {
  const size_t n = v.pieces.size();
  if (n == 0) throw_invalid("tokenizer.json writer: the vocabulary is empty");
  if (v.scores.size() != n || v.types.size() != n) {
    throw_invalid("tokenizer.json writer: " + std::to_string(n) + " pieces but " +
                  std::to_string(v.scores.size()) + " scores and " +
                  std::to_string(v.types.size()) + " types");
  }
  for (int32_t id : {v.unk_id, v.bos_id, v.eos_id}) {
    if (id < -1 || id >= static_cast<int32_t>(n)) {
      throw_invalid("tokenizer.json writer: special id " + std::to_string(id) + " is out of range");
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v.scores[i])) {
      throw_invalid("tokenizer.json writer: piece " + std::to_string(i) + " has a non-finite score");
    }
  }
}

// JSON string literal; throws invalid input naming the piece when it is not valid UTF-8.
std::string quoted(const std::string& s, size_t id) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::exception&) {
    throw_invalid("tokenizer.json writer: piece " + std::to_string(id) + " is not valid UTF-8");
  }
}

bool is_special(const SentencePieceVocab& v, size_t id) {
  const PieceType t = v.types[id];
  return t == PieceType::kControl || t == PieceType::kUnknown || t == PieceType::kUserDefined;
}

}  // namespace

std::vector<std::pair<int32_t, int32_t>> sentencepiece_merges(const SentencePieceVocab& vocab) {
  std::unordered_map<std::string_view, int32_t> index;  // as Python's dict: the last id wins
  for (size_t i = 0; i < vocab.pieces.size(); ++i) {
    index[vocab.pieces[i]] = static_cast<int32_t>(i);
  }
  struct Merge {
    int32_t left, right, merged;
  };
  std::vector<Merge> merges;
  std::vector<Merge> local;
  for (size_t id = 0; id < vocab.pieces.size(); ++id) {
    const std::string_view piece = vocab.pieces[id];
    local.clear();
    size_t pos = piece.empty() ? 0 : utf8_decode(piece, 0).len;
    for (; pos < piece.size(); pos += utf8_decode(piece, pos).len) {
      const auto l = index.find(piece.substr(0, pos));
      const auto r = index.find(piece.substr(pos));
      if (l != index.end() && r != index.end()) {
        local.push_back({l->second, r->second, static_cast<int32_t>(id)});
      }
    }
    std::sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [&](const Merge& a, const Merge& b) {
    return vocab.scores[a.merged] > vocab.scores[b.merged];
  });
  std::vector<std::pair<int32_t, int32_t>> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.emplace_back(m.left, m.right);
  return out;
}

std::string tokenizer_json_from_sentencepiece(const SentencePieceVocab& v) {
  check_vocab(v);
  const size_t n = v.pieces.size();
  std::vector<std::string> q(n);
  bool has_space = false;
  {
    std::unordered_map<std::string_view, size_t> seen;
    for (size_t i = 0; i < n; ++i) {
      const auto [it, fresh] = seen.emplace(v.pieces[i], i);
      if (!fresh) {
        throw_invalid("tokenizer.json writer: pieces " + std::to_string(it->second) + " and " +
                      std::to_string(i) + " are both " + quoted(v.pieces[i], i));
      }
      q[i] = quoted(v.pieces[i], i);
      has_space = has_space || v.pieces[i].find(' ') != std::string::npos;
    }
  }
  const std::string sp = quoted(std::string(kSentencePieceSpace), 0);
  std::string out;
  out.reserve(n * 64);
  out += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n";
  out += "  \"added_tokens\": [";
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    if (!is_special(v, i)) continue;
    const bool special = v.types[i] != PieceType::kUserDefined;
    out += first ? "\n" : ",\n";
    out += "    {\"id\": " + std::to_string(i) + ", \"content\": " + q[i] +
           ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": " +
           (special ? "false" : "true") + ", \"special\": " + (special ? "true" : "false") + "}";
    first = false;
  }
  out += first ? "],\n" : "\n  ],\n";
  out += "  \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "
         "\"prepend\": " + sp + "}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "
         "\"content\": " + sp + "}]},\n";
  out += "  \"pre_tokenizer\": null,\n";
  if (v.bos_id >= 0) {
    const std::string bos = q[v.bos_id];
    const std::string tok = "{\"SpecialToken\": {\"id\": " + bos + ", \"type_id\": ";
    out += "  \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [" + tok +
           "0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [" + tok +
           "0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, " + tok +
           "1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {" + bos +
           ": {\"id\": " + bos + ", \"ids\": [" + std::to_string(v.bos_id) + "], \"tokens\": [" +
           bos + "]}}},\n";
  } else {
    out += "  \"post_processor\": null,\n";
  }
  out += "  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", "
         "\"pattern\": {\"String\": " + sp + "}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, "
         "{\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, "
         "\"stop\": 0}]},\n";
  out += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ";
  out += v.unk_id >= 0 ? q[v.unk_id] : std::string("null");
  out += ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
         "    \"fuse_unk\": true,\n    \"byte_fallback\": true,\n    \"ignore_merges\": false,\n"
         "    \"vocab\": {";
  for (size_t i = 0; i < n; ++i) {
    out += i == 0 ? "\n      " : ",\n      ";
    out += q[i] + ": " + std::to_string(i);
  }
  out += "\n    },\n    \"merges\": [";
  const auto merges = sentencepiece_merges(v);
  for (size_t i = 0; i < merges.size(); ++i) {
    out += i == 0 ? "\n      " : ",\n      ";
    const std::string& a = v.pieces[merges[i].first];
    const std::string& b = v.pieces[merges[i].second];
    // "a b" strings need pieces without spaces; otherwise use the newer ["a", "b"] form.
    out += has_space ? "[" + q[merges[i].first] + ", " + q[merges[i].second] + "]"
                     : quoted(a + " " + b, i);
  }
  out += merges.empty() ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n";
  return out;
}

Status write_tokenizer_json_from_sentencepiece(const SentencePieceVocab& vocab,
                                               const std::string& path) {
  return status_guard([&] {
    std::string text;
    try {
      text = tokenizer_json_from_sentencepiece(vocab);
    } catch (const StatusError& e) {
      throw StatusError(Status(e.status().code(), path + ": " + e.status().message()));
    }
    AtomicFile file(path, text.size());
    file.write(text);
    file.commit();
  });
}

Status write_synthetic_tokenizer_json(int32_t vocab_size, const std::string& path) {
  return status_guard([&] {
    SentencePieceVocab vocab;
    try {
      vocab = sentencepiece_vocab_synthetic(vocab_size);
    } catch (const StatusError& e) {
      throw StatusError(Status(e.status().code(), path + ": " + e.status().message()));
    }
    const Status st = write_tokenizer_json_from_sentencepiece(vocab, path);
    if (!st.is_ok()) throw StatusError(st);
  });
}

Result<SentencePieceVocab> sentencepiece_vocab_load(const std::string& path, int32_t vocab_size) {
  return status_guard([&]() -> SentencePieceVocab {
    const std::string name = path_filename(path);
    const auto ends_with = [&](std::string_view suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".model")) return SentencePieceTokenizer::parse(read_file(path), path)->vocab();
    if (ends_with(".bin")) return Llama2cTokenizer::parse(read_file(path), vocab_size, path)->vocab();
    throw_invalid(path + ": not a SentencePiece .model or llama2.c .bin tokenizer");
  });
}

}  // namespace ostq
