// SPDX-License-Identifier: Apache-2.0
// llama2.c tokenizer.bin: parsing with size checks, and run.c's encode/decode.
#include "core/tokenizer/llama2c_tokenizer.h"

#include <cstring>

#include "core/tokenizer/bpe_merge.h"
#include "core/tokenizer/piece_text.h"
#include "core/util/status.h"

namespace ostq {

namespace {

constexpr int32_t kMaxVocab = 1 << 24;
constexpr int32_t kMaxTokenLength = 1 << 16;
constexpr int32_t kMinVocab = 259;  // unk, bos, eos + 256 byte pieces (byte fallback is id byte+3)
// run.c starts its best-score search at -1e10: pairs whose piece scores no higher never merge.
constexpr float kNoMergeScore = -1e10f;

template <typename T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::parse(std::string_view bytes,
                                                          int32_t vocab_size,
                                                          const std::string& file_name) {
  const std::string where = file_name + ": llama2.c tokenizer: ";
  if (vocab_size < kMinVocab || vocab_size > kMaxVocab) {
    throw_invalid(where + "vocab_size " + std::to_string(vocab_size) + " is out of range (" +
                  std::to_string(kMinVocab) + ".." + std::to_string(kMaxVocab) +
                  "; entries 3..258 must be the 256 byte pieces)");
  }
  if (bytes.size() < 4) throw_invalid(where + "truncated: the 4-byte max_token_length is missing");
  std::unique_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
  t->max_token_length_ = load_le<int32_t>(bytes.data());
  if (t->max_token_length_ <= 0 || t->max_token_length_ > kMaxTokenLength) {
    throw_invalid(where + "max_token_length " + std::to_string(t->max_token_length_) +
                  " is out of range (1.." + std::to_string(kMaxTokenLength) + ")");
  }
  t->pieces_.resize(static_cast<size_t>(vocab_size));
  t->scores_.resize(static_cast<size_t>(vocab_size));
  size_t off = 4;
  for (int32_t i = 0; i < vocab_size; ++i) {
    if (bytes.size() - off < 8) {
      throw_invalid(where + "truncated at entry " + std::to_string(i) + " of " +
                    std::to_string(vocab_size) + " (offset " + std::to_string(off) + ", file " +
                    std::to_string(bytes.size()) + " bytes; is vocab_size right?)");
    }
    t->scores_[i] = load_le<float>(bytes.data() + off);
    const int32_t len = load_le<int32_t>(bytes.data() + off + 4);
    off += 8;
    if (len < 0 || len > t->max_token_length_) {
      throw_invalid(where + "entry " + std::to_string(i) + " has length " + std::to_string(len) +
                    " outside 0..max_token_length (" + std::to_string(t->max_token_length_) +
                    ") at offset " + std::to_string(off - 4));
    }
    if (bytes.size() - off < static_cast<size_t>(len)) {
      throw_invalid(where + "truncated inside entry " + std::to_string(i) + " (" +
                    std::to_string(len) + " piece bytes at offset " + std::to_string(off) +
                    ", file " + std::to_string(bytes.size()) + " bytes)");
    }
    t->pieces_[i].assign(bytes.data() + off, static_cast<size_t>(len));
    off += static_cast<size_t>(len);
  }
  if (off != bytes.size()) {
    throw_invalid(where + std::to_string(bytes.size() - off) + " trailing bytes after the " +
                  std::to_string(vocab_size) + " entries (does the checkpoint's vocab_size " +
                  std::to_string(vocab_size) + " belong to this tokenizer?)");
  }
  // Built after pieces_ is final: the map holds views into its strings.
  t->index_.reserve(t->pieces_.size());
  for (int32_t i = 0; i < vocab_size; ++i) t->index_.emplace(t->pieces_[i], i);
  return t;
}

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::from_vocab(const SentencePieceVocab& vocab,
                                                               const std::string& name) {
  const int32_t n = static_cast<int32_t>(vocab.pieces.size());
  if (n < kMinVocab) throw_invalid(name + ": vocabulary of " + std::to_string(n) + " pieces is too small");
  for (int32_t b = 0; b < 256; ++b) {
    if (vocab.types[b + 3] != PieceType::kByte || parse_byte_piece(vocab.pieces[b + 3]) != b) {
      throw_unsupported(name + ": byte-fallback pieces are not at ids 3..258 (piece " +
                        std::to_string(b + 3) + " is '" + vocab.pieces[b + 3] + "')");
    }
  }
  std::unique_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
  t->pieces_.resize(n);
  t->scores_ = vocab.scores;
  for (int32_t i = 0; i < n; ++i) {
    // Control / unknown / unused pieces must never be produced by merges: give them text no
    // merge can form (the NUL-prefixed piece name).
    const PieceType type = vocab.types[i];
    const bool mergeable = type == PieceType::kNormal || type == PieceType::kUserDefined || type == PieceType::kByte;
    t->pieces_[i] = mergeable ? replace_all(vocab.pieces[i], kSentencePieceSpace, " ")
                              : std::string(1, '\0') + vocab.pieces[i];
    t->max_token_length_ = std::max<int32_t>(t->max_token_length_, static_cast<int32_t>(t->pieces_[i].size()));
  }
  t->index_.reserve(t->pieces_.size());
  for (int32_t i = 0; i < n; ++i) t->index_.emplace(t->pieces_[i], i);
  return t;
}

int32_t Llama2cTokenizer::find(std::string_view piece) const {
  const auto it = index_.find(piece);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 2);
  if (add_bos) ids.push_back(bos_id());  // run.c lets BOS take part in the merges, so do we
  if (!text.empty()) {
    const int32_t dummy_prefix = find(" ");
    if (dummy_prefix >= 0) ids.push_back(dummy_prefix);
  }
  // run.c: a code point is a lead byte plus up to 3 continuation bytes; unknown code points
  // become one byte-fallback id per byte.
  const auto is_cont = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
  size_t start = 0;
  size_t len = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_cont(text[i])) start = i, len = 0;
    ++len;
    if (i + 1 < text.size() && is_cont(text[i + 1]) && len < 4) continue;
    const std::string_view cp = text.substr(start, len);
    const int32_t id = find(cp);
    if (id >= 0) {
      ids.push_back(id);
    } else {
      for (unsigned char b : cp) ids.push_back(static_cast<int32_t>(b) + 3);
    }
    start = i + 1, len = 0;
  }
  std::string buf;
  buf.reserve(2 * static_cast<size_t>(max_token_length_));
  bpe_merge(ids, [&](int32_t a, int32_t b, BpeCandidate* out) {
    buf.assign(pieces_[a]).append(pieces_[b]);
    const int32_t id = find(buf);
    if (id < 0 || !(scores_[id] > kNoMergeScore)) return false;
    out->key = -static_cast<double>(scores_[id]);
    out->merged = id;
    return true;
  });
  return ids;
}

std::string Llama2cTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size() || token == bos_id() || token == eos_id()) return {};
  std::string_view piece = pieces_[token];
  if ((prev == bos_id() || prev < 0) && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  const int byte = parse_byte_piece(piece);
  if (byte >= 0) return std::string(1, static_cast<char>(byte));
  return std::string(piece);
}

SentencePieceVocab Llama2cTokenizer::vocab() const {
  SentencePieceVocab v;
  const size_t n = pieces_.size();
  v.pieces.resize(n);
  v.types.assign(n, PieceType::kNormal);
  v.scores = scores_;
  for (size_t i = 0; i < n; ++i) {
    if (i <= 2) {
      v.pieces[i] = i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>";
      v.types[i] = i == 0 ? PieceType::kUnknown : PieceType::kControl;
    } else if (parse_byte_piece(pieces_[i]) >= 0) {
      v.pieces[i] = pieces_[i];
      v.types[i] = PieceType::kByte;
    } else {
      v.pieces[i] = replace_all(pieces_[i], " ", kSentencePieceSpace);
    }
  }
  v.unk_id = 0;
  v.bos_id = bos_id();
  v.eos_id = eos_id();
  return v;
}

}  // namespace ostq
