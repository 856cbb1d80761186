// SPDX-License-Identifier: Apache-2.0
// SentencePiece *.model: a minimal protobuf reader for ModelProto and the BPE encoder.
#include "core/tokenizer/sentencepiece_tokenizer.h"

#include <cstring>

#include "core/tokenizer/piece_text.h"
#include "core/util/status.h"

namespace ostq {

namespace {

// Protobuf wire format: just what ModelProto needs. Every read is bounds-checked.
class ProtoReader {
 public:
  ProtoReader(std::string_view bytes, const std::string& where) : b_(bytes), where_(where) {}
  bool done() const { return off_ >= b_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (off_ >= b_.size()) fail("truncated varint");
      const auto byte = static_cast<uint8_t>(b_[off_++]);
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > b_.size() - off_) fail("length-delimited field runs past the end");
    std::string_view s = b_.substr(off_, n);
    off_ += n;
    return s;
  }
  float fixed32_float() {
    if (b_.size() - off_ < 4) fail("truncated fixed32");
    float f;
    std::memcpy(&f, b_.data() + off_, 4);
    off_ += 4;
    return f;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: bytes(); return;
      case 5: advance(4); return;
      default: fail("unknown wire type " + std::to_string(wire));
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw_invalid(where_ + ": not a valid SentencePiece model (" + what + " at byte " + std::to_string(off_) + ")");
  }

 private:
  void advance(size_t n) {
    if (b_.size() - off_ < n) fail("truncated field");
    off_ += n;
  }
  std::string_view b_;
  const std::string& where_;
  size_t off_ = 0;
};

struct ModelProto {
  SentencePieceVocab vocab;
  int64_t model_type = 1;  // proto default: UNIGRAM
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

ModelProto parse_model_proto(std::string_view bytes, const std::string& file) {
  ModelProto m;
  ProtoReader r(bytes, file);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = key & 7;
    if (field == 1 && wire == 2) {  // SentencePiece
      ProtoReader p(r.bytes(), file);
      std::string piece;
      float score = 0;
      int64_t type = 1;
      while (!p.done()) {
        const uint64_t k = p.varint();
        if (k == 0x0A) {
          piece = std::string(p.bytes());
        } else if (k == 0x15) {
          score = p.fixed32_float();
        } else if (k == 0x18) {
          type = static_cast<int64_t>(p.varint());
        } else {
          p.skip(k & 7);
        }
      }
      if (type < 1 || type > 6) p.fail("piece type " + std::to_string(type));
      m.vocab.pieces.push_back(std::move(piece));
      m.vocab.scores.push_back(score);
      m.vocab.types.push_back(static_cast<PieceType>(type));
    } else if ((field == 2 || field == 3) && wire == 2) {  // TrainerSpec / NormalizerSpec
      ProtoReader spec(r.bytes(), file);
      while (!spec.done()) {
        const uint64_t k = spec.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), w = k & 7;
        if (w != 0) {
          spec.skip(w);
          continue;
        }
        const auto v = static_cast<int64_t>(spec.varint());
        if (field == 2) {
          if (f == 3) m.model_type = v;
          if (f == 40) m.vocab.unk_id = static_cast<int32_t>(v);
          if (f == 41) m.vocab.bos_id = static_cast<int32_t>(v);
          if (f == 42) m.vocab.eos_id = static_cast<int32_t>(v);
        } else {
          if (f == 3) m.add_dummy_prefix = v != 0;
          if (f == 4) m.remove_extra_whitespaces = v != 0;
          if (f == 5) m.escape_whitespaces = v != 0;
        }
      }
    } else {
      r.skip(wire);
    }
  }
  return m;
}

// SentencePiece's remove_extra_whitespaces for the identity normalizer: no leading or trailing
// spaces, runs of spaces collapsed to one.
std::string collapse_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer() = default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::parse(std::string_view bytes,
                                                                      const std::string& file_name) {
  if (bytes.empty()) throw_invalid(file_name + ": SentencePiece model: the file is empty");
  ModelProto m = parse_model_proto(bytes, file_name);
  const int32_t n = static_cast<int32_t>(m.vocab.pieces.size());
  if (n == 0) throw_invalid(file_name + ": not a valid SentencePiece model (no pieces)");
  if (m.model_type != 2) {
    throw_unsupported(file_name + ": SentencePiece model type " + std::to_string(m.model_type) +
                      " (only BPE, type 2, as used by the LLaMA family)");
  }
  if (!m.add_dummy_prefix) throw_unsupported(file_name + ": SentencePiece model without add_dummy_prefix");
  if (!m.escape_whitespaces) throw_unsupported(file_name + ": SentencePiece model without whitespace escaping");
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->file_name_ = file_name;
  t->remove_extra_whitespaces_ = m.remove_extra_whitespaces;
  const auto id_or_none = [n](int32_t id) { return id >= 0 && id < n ? id : -1; };
  m.vocab.unk_id = id_or_none(m.vocab.unk_id);
  m.vocab.bos_id = id_or_none(m.vocab.bos_id);
  m.vocab.eos_id = id_or_none(m.vocab.eos_id);
  t->encoder_ = Llama2cTokenizer::from_vocab(m.vocab, file_name);
  t->pieces_ = m.vocab.pieces;
  t->scores_ = m.vocab.scores;
  t->types_ = m.vocab.types;
  t->bos_id_ = m.vocab.bos_id;
  t->eos_id_ = m.vocab.eos_id;
  t->unk_id_ = m.vocab.unk_id;
  t->decoded_.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    const int byte = t->types_[i] == PieceType::kByte ? parse_byte_piece(t->pieces_[i]) : -1;
    if (byte >= 0) {
      t->decoded_[i] = std::string(1, static_cast<char>(byte));
    } else if (t->types_[i] != PieceType::kControl) {
      t->decoded_[i] = replace_all(t->pieces_[i], kSentencePieceSpace, " ");
    }
  }
  return t;
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::string normalized = remove_extra_whitespaces_ ? collapse_spaces(text) : std::string(text);
  std::vector<int32_t> ids;
  if (!normalized.empty()) {
    ids = encoder_->encode(normalized, /*add_bos=*/false);  // adds the dummy-prefix space itself
  }
  std::vector<int32_t> out;
  out.reserve(ids.size() + 1);
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string SentencePieceTokenizer::decode_piece(int32_t prev, int32_t token) const {
  if (token < 0 || token >= vocab_size()) return {};
  const std::string& s = decoded_[token];
  const bool at_start = prev < 0 || (bos_id_ >= 0 && prev == bos_id_);
  if (at_start && !s.empty() && s[0] == ' ' && types_[token] != PieceType::kByte) return s.substr(1);
  return s;
}

SentencePieceVocab SentencePieceTokenizer::vocab() const {
  SentencePieceVocab v;
  v.pieces = pieces_;
  v.scores = scores_;
  v.types = types_;
  v.unk_id = unk_id_;
  v.bos_id = bos_id_;
  v.eos_id = eos_id_;
  return v;
}

}  // namespace ostq
