// SPDX-License-Identifier: Apache-2.0
// sentencepiece_vocab_synthetic(): a SentencePiece-style vocabulary of any size >= 300, laid out
// like a trained one (control, bytes, merged pieces by decreasing score, single characters).
#include <string_view>
#include <unordered_set>

#include "core/tokenizer/piece_text.h"
#include "core/tokenizer/tokenizer_json_writer.h"

namespace ostq {

namespace {

constexpr int32_t kMinVocab = 300;
constexpr int32_t kMaxVocab = 1 << 22;
constexpr size_t kMaxPieceBytes = 16;

// Characters in the order they get a piece: "▁", lower case by English frequency, common
// punctuation, upper case, digits, the rest of printable ASCII. 95 in all.
std::vector<std::string> alphabet() {
  std::vector<std::string> chars{std::string(kSentencePieceSpace)};
  for (char c : std::string_view("etaoinshrdlucmfwygpbvkjxqz.,'!?\"")) chars.emplace_back(1, c);
  for (char c = 'A'; c <= 'Z'; ++c) chars.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) chars.emplace_back(1, c);
  for (char c : std::string_view("-:;()[]{}<>/\\|@#$%^&*_+=~`")) chars.emplace_back(1, c);
  return chars;
}

// Words (with their "▁" prefix) that come first, as in a vocabulary trained on simple English.
constexpr std::string_view kWords[] = {
    "the", "and", "to", "a", "was", "he", "she", "it", "of", "in", "they", "said", "her", "his",
    "with", "you", "day", "time", "upon", "once", "little", "play", "happy", "friend", "big",
    "mom", "saw", "very", "wanted", "went", "one", "had", "on", "for", "that", "not", "is", "so",
    "but", "there", "were", "all", "be", "can", "see", "are", "we", "do", "what", "like", "up",
    "go", "my", "me", "at", "him", "them", "from", "this", "have", "an", "out", "about", "home",
    "fun", "tree", "sun", "dog", "cat", "ball", "park", "toy", "good", "new", "came", "found",
    "made", "looked", "felt", "help", "love", "sad", "smiled", "together", "girl", "boy", "named",
};

class Builder {
 public:
  explicit Builder(int32_t merges_wanted) : wanted_(static_cast<size_t>(merges_wanted)) {}

  void add_char(const std::string& c) {
    known_.insert(c);
    pool_.push_back(c);
  }
  bool full() const { return merged_.size() >= wanted_; }
  // Adds left+right when both are pieces and the result is new and short enough.
  void try_merge(const std::string& left, const std::string& right) {
    if (full() || !known_.count(left) || !known_.count(right)) return;
    std::string piece = left + right;
    if (piece.size() > kMaxPieceBytes || known_.count(piece)) return;
    known_.insert(piece);
    pool_.push_back(piece);
    merged_.push_back(std::move(piece));
  }
  // "▁w", "▁wo", "▁wor", … so that every prefix of the word is a piece.
  void add_word(std::string_view word) {
    std::string prefix(kSentencePieceSpace);
    for (char c : word) {
      const std::string next = prefix + c;
      if (!known_.count(next)) try_merge(prefix, std::string(1, c));
      if (!known_.count(next)) return;  // a character without a piece, or the vocab is full
      prefix = next;
    }
  }
  // Systematic pairs of pool pieces along anti-diagonals; "▁" only at the start of a piece.
  void fill() {
    for (size_t s = 0; !full(); ++s) {
      if (s > 2 * pool_.size() + 2) break;  // cannot happen with >= 2 characters; a safety net
      for (size_t i = 0; i <= s && !full(); ++i) {
        const size_t j = s - i;
        if (i >= pool_.size() || j >= pool_.size()) continue;
        const std::string left = pool_[i];
        const std::string right = pool_[j];
        if (right.compare(0, kSentencePieceSpace.size(), kSentencePieceSpace) == 0) continue;
        try_merge(left, right);
      }
    }
  }
  const std::vector<std::string>& merged() const { return merged_; }

 private:
  size_t wanted_;
  std::unordered_set<std::string> known_;
  std::vector<std::string> pool_;  // characters, then merged pieces in creation order
  std::vector<std::string> merged_;
};

}  // namespace

SentencePieceVocab sentencepiece_vocab_synthetic(int32_t vocab_size) {
  if (vocab_size < kMinVocab || vocab_size > kMaxVocab) {
    throw_invalid("synthetic vocabulary: vocab_size " + std::to_string(vocab_size) +
                  " is out of range (" + std::to_string(kMinVocab) + ".." +
                  std::to_string(kMaxVocab) + ")");
  }
  SentencePieceVocab v;
  const auto add = [&v](std::string piece, float score, PieceType type) {
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0.0f, PieceType::kUnknown);
  add("<s>", 0.0f, PieceType::kControl);
  add("</s>", 0.0f, PieceType::kControl);
  for (int b = 0; b < 256; ++b) add(byte_piece_name(static_cast<unsigned char>(b)), 0.0f, PieceType::kByte);

  // Half of the free ids (at least "▁" + a–z, at most all 95) are characters, the rest merges.
  const int32_t free_ids = vocab_size - static_cast<int32_t>(v.pieces.size());
  const std::vector<std::string> all_chars = alphabet();
  const int32_t n_chars = std::min<int32_t>(static_cast<int32_t>(all_chars.size()),
                                            std::max<int32_t>(27, free_ids / 2));
  Builder builder(free_ids - n_chars);
  for (int32_t i = 0; i < n_chars; ++i) builder.add_char(all_chars[i]);
  for (std::string_view word : kWords) builder.add_word(word);
  builder.fill();

  float score = 0.0f;
  for (const std::string& piece : builder.merged()) add(piece, score--, PieceType::kNormal);
  for (int32_t i = 0; i < n_chars; ++i) add(all_chars[i], score--, PieceType::kNormal);
  if (static_cast<int32_t>(v.pieces.size()) != vocab_size) {
    throw StatusError(Status::internal("synthetic vocabulary: built " +
                                       std::to_string(v.pieces.size()) + " pieces instead of " +
                                       std::to_string(vocab_size)));
  }
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  return v;
}

}  // namespace ostq
