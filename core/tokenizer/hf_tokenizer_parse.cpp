// SPDX-License-Identifier: Apache-2.0
// tokenizer.json (+ tokenizer_config.json) → HfTokenizerSpec, with every field checked. Only the
// parts that change ids are interpreted; truncation, padding and offsets are ignored.
#include <nlohmann/json.hpp>

#include <unordered_map>

#include "core/tokenizer/hf_tokenizer.h"
#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

namespace {

using nlohmann::json;

// Ids must stay below this many past the number of entries (a sparse id would make every
// id-indexed table huge) and below 2^24 overall.
constexpr int64_t kIdSlack = 1 << 16;
constexpr int64_t kMaxId = 1 << 24;
constexpr int kMaxNesting = 8;

class Parser {
 public:
  Parser(const std::string& file_name, HfTokenizerSpec& spec) : file_(file_name), spec_(spec) {}

  [[noreturn]] void invalid(const std::string& msg) const { throw_invalid(file_ + ": " + msg); }
  [[noreturn]] void unsupported(const std::string& msg) const {
    throw_unsupported(file_ + ": " + msg);
  }

  // Member `key` of object `obj`, nullptr when absent or null.
  static const json* member(const json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json& object(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (v == nullptr) invalid(where + ": missing \"" + key + "\"");
    if (!v->is_object()) invalid(where + ": \"" + key + "\" is not an object");
    return *v;
  }
  std::string string(const json& v, const std::string& what) const {
    if (!v.is_string()) invalid(what + " is not a string");
    return v.get<std::string>();
  }
  std::string string_or(const json& obj, const char* key, const std::string& dflt,
                        const std::string& where) const {
    const json* v = member(obj, key);
    return v == nullptr ? dflt : string(*v, where + "." + key);
  }
  bool boolean_or(const json& obj, const char* key, bool dflt, const std::string& where) const {
    const json* v = member(obj, key);
    if (v == nullptr) return dflt;
    if (!v->is_boolean()) invalid(where + "." + key + " is not a boolean");
    return v->get<bool>();
  }
  int64_t integer(const json& v, const std::string& what) const {
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      return u > static_cast<uint64_t>(kMaxId) ? kMaxId : static_cast<int64_t>(u);
    }
    if (!v.is_number_integer()) invalid(what + " is not an integer");
    return v.get<int64_t>();
  }
  int32_t token_id(const json& v, const std::string& what) const {
    const int64_t id = integer(v, what);
    if (id < 0 || id >= id_limit_) {
      invalid(what + " = " + std::to_string(id) + " is out of range (0.." +
              std::to_string(id_limit_ - 1) + ")");
    }
    return static_cast<int32_t>(id);
  }
  // The type name of a component object.
  std::string type_of(const json& v, const std::string& where) const {
    if (!v.is_object()) invalid(where + " is not an object");
    const json* t = member(v, "type");
    if (t == nullptr) invalid(where + ": missing \"type\"");
    return string(*t, where + ".type");
  }
  // A Replace/Split pattern {"String": s} or {"Regex": r}; returns s, sets is_regex.
  std::string pattern(const json& v, const std::string& where, bool& is_regex) const {
    const json& p = object(v, "pattern", where);
    if (const json* s = member(p, "String")) {
      is_regex = false;
      return string(*s, where + ".pattern.String");
    }
    if (const json* r = member(p, "Regex")) {
      is_regex = true;
      return string(*r, where + ".pattern.Regex");
    }
    invalid(where + ".pattern has neither \"String\" nor \"Regex\"");
  }

  void parse(const json& root, const json* config);

 private:
  void parse_model(const json& root);
  void parse_added_tokens(const json& root);
  void parse_merges(const json& model, const std::unordered_map<std::string, int32_t>& vocab,
                    const std::string& prefix);
  void parse_normalizer(const json& v, const std::string& where, int depth);
  void parse_pre_tokenizer(const json& v, const std::string& where, int depth);
  void parse_decoder(const json& v, const std::string& where, int depth);
  void parse_post_processor(const json& v, const std::string& where, int depth);
  // A "Sequence" node: each element of v[key] parsed by `step` one level deeper.
  using StepParser = void (Parser::*)(const json&, const std::string&, int);
  void parse_sequence(const json& v, const char* key, const std::string& where, int depth, StepParser step);
  void resolve_special_tokens(const json* config);
  int32_t special_token_id(const json* token) const;  // string or {"content": …}; -1 if none

  const std::string& file_;
  HfTokenizerSpec& spec_;
  int64_t id_limit_ = kMaxId;
  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<int32_t> template_prefix_, template_suffix_;
};

void Parser::parse(const json& root, const json* config) {
  if (!root.is_object()) invalid("the top level is not a JSON object");
  parse_model(root);
  if (const json* n = member(root, "normalizer")) parse_normalizer(*n, "normalizer", 0);
  if (const json* p = member(root, "pre_tokenizer")) parse_pre_tokenizer(*p, "pre_tokenizer", 0);
  if (const json* d = member(root, "decoder")) {
    parse_decoder(*d, "decoder", 0);
  } else {
    for (const auto& step : spec_.pre_tokenizers) {
      if (step.kind == HfPreTokenizerStep::Kind::kByteLevel) spec_.decoder.byte_level = true;
    }
  }
  if (const json* p = member(root, "post_processor")) parse_post_processor(*p, "post_processor", 0);
  resolve_special_tokens(config);
}

void Parser::parse_model(const json& root) {
  const json& model = object(root, "model", "tokenizer");
  // Very old files have no "type"; they are BPE when they have merges.
  const std::string type = member(model, "type") != nullptr ? string(model["type"], "model.type")
                           : member(model, "merges") != nullptr ? "BPE" : "";
  if (type != "BPE") {
    unsupported("tokenizer model type \"" + type + "\" is not supported (only BPE)");
  }
  const json& vocab = object(model, "vocab", "model");
  const json* added = member(root, "added_tokens");
  if (added != nullptr && !added->is_array()) invalid("\"added_tokens\" is not an array");
  const int64_t entries = static_cast<int64_t>(vocab.size()) + (added ? added->size() : 0);
  id_limit_ = std::min(kMaxId, entries + kIdSlack);

  if (vocab.empty()) invalid("model.vocab is empty");
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = token_id(it.value(), "model.vocab[\"" + it.key() + "\"]");
    vocab_.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  std::vector<std::string> pieces(static_cast<size_t>(max_id + 1));
  std::vector<bool> present(pieces.size(), false);
  for (const auto& [piece, id] : vocab_) {
    if (present[id]) {
      invalid("model.vocab: id " + std::to_string(id) + " is used by both \"" + pieces[id] +
              "\" and \"" + piece + "\"");
    }
    pieces[id] = piece;
    present[id] = true;
  }
  parse_added_tokens(root);
  for (const HfAddedToken& t : spec_.added_tokens) max_id = std::max(max_id, t.id);
  spec_.vocab_size = max_id + 1;
  pieces.resize(static_cast<size_t>(spec_.vocab_size));
  for (const HfAddedToken& t : spec_.added_tokens) {
    if (pieces[t.id].empty()) pieces[t.id] = t.content;  // shown, but not a model piece
  }

  BpeOptions opt;
  opt.byte_fallback = boolean_or(model, "byte_fallback", false, "model");
  opt.fuse_unk = boolean_or(model, "fuse_unk", false, "model");
  opt.ignore_merges = boolean_or(model, "ignore_merges", false, "model");
  opt.continuing_subword_prefix = string_or(model, "continuing_subword_prefix", "", "model");
  opt.end_of_word_suffix = string_or(model, "end_of_word_suffix", "", "model");
  if (const json* unk = member(model, "unk_token")) {
    const auto it = vocab_.find(string(*unk, "model.unk_token"));
    opt.unk_id = it == vocab_.end() ? -1 : it->second;
  }
  if (const json* dropout = member(model, "dropout")) {
    if (!dropout->is_number()) invalid("model.dropout is not a number");
    if (dropout->get<double>() > 0.0) {
      unsupported("BPE dropout (model.dropout > 0) makes encoding random; it is not supported");
    }
  }
  const std::string prefix = opt.continuing_subword_prefix;
  spec_.model = std::make_unique<BpeModel>(std::move(pieces), std::move(present), std::move(opt));
  parse_merges(model, vocab_, prefix);
}

void Parser::parse_added_tokens(const json& root) {
  const json* added = member(root, "added_tokens");
  if (added == nullptr) return;
  for (size_t i = 0; i < added->size(); ++i) {
    const std::string where = "added_tokens[" + std::to_string(i) + "]";
    const json& t = (*added)[i];
    if (!t.is_object()) invalid(where + " is not an object");
    HfAddedToken tok;
    if (member(t, "id") == nullptr) invalid(where + ": missing \"id\"");
    tok.id = token_id(t["id"], where + ".id");
    if (member(t, "content") == nullptr) invalid(where + ": missing \"content\"");
    tok.content = string(t["content"], where + ".content");
    tok.special = boolean_or(t, "special", false, where);
    spec_.added_tokens.push_back(std::move(tok));
  }
}

void Parser::parse_merges(const json& model, const std::unordered_map<std::string, int32_t>& vocab,
                          const std::string& prefix) {
  const json* merges = member(model, "merges");
  if (merges == nullptr) return;
  if (!merges->is_array()) invalid("model.merges is not an array");
  const auto lookup = [&](const std::string& piece, const std::string& where) {
    const auto it = vocab.find(piece);
    if (it == vocab.end()) invalid(where + ": \"" + piece + "\" is not in model.vocab");
    return it->second;
  };
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string where = "model.merges[" + std::to_string(i) + "]";
    const json& m = (*merges)[i];
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        invalid(where + " = \"" + s + "\" is not of the form \"a b\"");
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      invalid(where + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    const int32_t left = lookup(a, where);
    const int32_t right = lookup(b, where);
    const bool strip = !prefix.empty() && b.compare(0, prefix.size(), prefix) == 0;
    const int32_t merged = lookup(a + (strip ? b.substr(prefix.size()) : b), where);
    spec_.model->add_merge(left, right, merged);
  }
}

void Parser::parse_sequence(const json& v, const char* key, const std::string& where, int depth,
                            StepParser step) {
  const json* list = member(v, key);
  if (list == nullptr || !list->is_array()) invalid(where + "." + key + " is not an array");
  for (size_t i = 0; i < list->size(); ++i) {
    (this->*step)((*list)[i], where + "." + key + "[" + std::to_string(i) + "]", depth + 1);
  }
}

void Parser::parse_normalizer(const json& v, const std::string& where, int depth) {
  if (depth > kMaxNesting) invalid(where + ": nested too deeply");
  const std::string type = type_of(v, where);
  if (type == "Sequence") {
    parse_sequence(v, "normalizers", where, depth, &Parser::parse_normalizer);
  } else if (type == "Prepend") {
    const json* p = member(v, "prepend");
    if (p == nullptr) invalid(where + ": missing \"prepend\"");
    spec_.normalizers.push_back({HfNormalizerStep::Kind::kPrepend, string(*p, where + ".prepend"), {}});
  } else if (type == "Replace") {
    bool regex = false;
    std::string from = pattern(v, where, regex);
    if (regex) unsupported(where + ": Replace with a regex pattern is not supported");
    if (from.empty()) invalid(where + ": empty Replace pattern");
    const json* c = member(v, "content");
    if (c == nullptr) invalid(where + ": missing \"content\"");
    spec_.normalizers.push_back(
        {HfNormalizerStep::Kind::kReplace, std::move(from), string(*c, where + ".content")});
  } else if (type != "NFC") {  // NFC: treated as identity (input assumed NFC), see hf_tokenizer.h
    unsupported(where + ": normalizer \"" + type + "\" is not supported");
  }
}

void Parser::parse_pre_tokenizer(const json& v, const std::string& where, int depth) {
  if (depth > kMaxNesting) invalid(where + ": nested too deeply");
  const std::string type = type_of(v, where);
  HfPreTokenizerStep step;
  if (type == "Sequence") {
    parse_sequence(v, "pretokenizers", where, depth, &Parser::parse_pre_tokenizer);
    return;
  }
  if (type == "Metaspace") {
    step.kind = HfPreTokenizerStep::Kind::kMetaspace;
    step.replacement = string_or(v, "replacement", step.replacement, where);
    if (step.replacement.empty()) invalid(where + ".replacement is empty");
    const std::string scheme = string_or(
        v, "prepend_scheme", boolean_or(v, "add_prefix_space", true, where) ? "always" : "never",
        where);
    if (scheme == "always") {
      step.prepend = HfPreTokenizerStep::Prepend::kAlways;
    } else if (scheme == "first") {
      step.prepend = HfPreTokenizerStep::Prepend::kFirst;
    } else if (scheme == "never") {
      step.prepend = HfPreTokenizerStep::Prepend::kNever;
    } else {
      invalid(where + ".prepend_scheme \"" + scheme + "\" is not always/first/never");
    }
    step.split = boolean_or(v, "split", true, where);
  } else if (type == "ByteLevel") {
    step.kind = HfPreTokenizerStep::Kind::kByteLevel;
    step.add_prefix_space = boolean_or(v, "add_prefix_space", true, where);
    step.use_regex = boolean_or(v, "use_regex", true, where);
  } else if (type == "Split") {
    step.kind = HfPreTokenizerStep::Kind::kSplit;
    bool regex = false;
    const std::string re = pattern(v, where, regex);
    const auto known = regex ? split_pattern_from_regex(re) : std::nullopt;
    if (!known) {
      unsupported(where + ": Split pattern \"" + re +
                  "\" is not supported (known: the GPT-2, LLaMA-3 and Qwen2 regexes)");
    }
    step.pattern = *known;
    const std::string behavior = string_or(v, "behavior", "Isolated", where);
    if (behavior != "Isolated") unsupported(where + ": Split behavior \"" + behavior + "\"");
    if (boolean_or(v, "invert", false, where)) unsupported(where + ": Split with invert=true");
  } else {
    unsupported(where + ": pre-tokenizer \"" + type + "\" is not supported");
  }
  spec_.pre_tokenizers.push_back(std::move(step));
}

void Parser::parse_decoder(const json& v, const std::string& where, int depth) {
  if (depth > kMaxNesting) invalid(where + ": nested too deeply");
  const std::string type = type_of(v, where);
  HfDecoderSpec& d = spec_.decoder;
  if (type == "Sequence") {
    parse_sequence(v, "decoders", where, depth, &Parser::parse_decoder);
  } else if (type == "ByteLevel") {
    d.byte_level = true;
  } else if (type == "ByteFallback") {
    d.byte_fallback = true;
  } else if (type == "Replace") {
    bool regex = false;
    std::string from = pattern(v, where, regex);
    if (regex) unsupported(where + ": Replace with a regex pattern is not supported");
    if (from.empty()) invalid(where + ": empty Replace pattern");
    const json* c = member(v, "content");
    if (c == nullptr) invalid(where + ": missing \"content\"");
    d.replacements.emplace_back(std::move(from), string(*c, where + ".content"));
  } else if (type == "Strip") {
    if (string_or(v, "content", " ", where) != " ") unsupported(where + ": Strip of a non-space");
    const json* start = member(v, "start");
    d.strip_leading_spaces = start == nullptr ? 0 : static_cast<int>(std::clamp<int64_t>(
                                                        integer(*start, where + ".start"), 0, 16));
  } else if (type == "Metaspace") {
    const std::string repl = string_or(v, "replacement", "\xE2\x96\x81", where);
    if (repl.empty()) invalid(where + ".replacement is empty");
    d.replacements.emplace_back(repl, " ");
    const std::string scheme = string_or(
        v, "prepend_scheme", boolean_or(v, "add_prefix_space", true, where) ? "always" : "never",
        where);
    if (scheme != "never") d.strip_leading_spaces = 1;
  } else if (type != "Fuse") {
    unsupported(where + ": decoder \"" + type + "\" is not supported");
  }
}

void Parser::parse_post_processor(const json& v, const std::string& where, int depth) {
  if (depth > kMaxNesting) invalid(where + ": nested too deeply");
  const std::string type = type_of(v, where);
  if (type == "Sequence") {
    parse_sequence(v, "processors", where, depth, &Parser::parse_post_processor);
  } else if (type == "TemplateProcessing") {
    const json* single = member(v, "single");
    if (single == nullptr || !single->is_array()) invalid(where + ".single is not an array");
    const json* specials = member(v, "special_tokens");
    bool after_sequence = false;
    for (size_t i = 0; i < single->size(); ++i) {
      const std::string w = where + ".single[" + std::to_string(i) + "]";
      const json& piece = (*single)[i];
      if (member(piece, "Sequence") != nullptr) {
        after_sequence = true;
        continue;
      }
      const json* st = member(piece, "SpecialToken");
      if (st == nullptr) invalid(w + " is neither a Sequence nor a SpecialToken");
      const json* name = member(*st, "id");
      if (name == nullptr) invalid(w + ".SpecialToken: missing \"id\"");
      const std::string key = string(*name, w + ".SpecialToken.id");
      const json* entry = specials != nullptr ? member(*specials, key.c_str()) : nullptr;
      const json* ids = entry != nullptr ? member(*entry, "ids") : nullptr;
      if (ids == nullptr || !ids->is_array()) {
        invalid(w + ": special token \"" + key + "\" has no ids in " + where + ".special_tokens");
      }
      for (size_t k = 0; k < ids->size(); ++k) {
        const int32_t id = token_id((*ids)[k], where + ".special_tokens[\"" + key + "\"].ids");
        if (id >= spec_.vocab_size) invalid(w + ": id " + std::to_string(id) + " is not a token");
        (after_sequence ? template_suffix_ : template_prefix_).push_back(id);
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    const json* cls = member(v, "cls");
    if (cls == nullptr || !cls->is_array() || cls->size() != 2) invalid(where + ".cls is not [token, id]");
    const int32_t id = token_id((*cls)[1], where + ".cls[1]");
    if (id >= spec_.vocab_size) invalid(where + ".cls: id " + std::to_string(id) + " is not a token");
    template_prefix_.push_back(id);
  } else if (type != "ByteLevel") {
    unsupported(where + ": post-processor \"" + type + "\" is not supported");
  }
}

int32_t Parser::special_token_id(const json* token) const {
  if (token == nullptr) return -1;
  std::string content;
  if (token->is_string()) {
    content = token->get<std::string>();
  } else if (const json* c = member(*token, "content"); c != nullptr && c->is_string()) {
    content = c->get<std::string>();
  } else {
    return -1;
  }
  for (const HfAddedToken& t : spec_.added_tokens) {
    if (t.content == content) return t.id;
  }
  const auto it = vocab_.find(content);
  return it == vocab_.end() ? -1 : it->second;
}

void Parser::resolve_special_tokens(const json* config) {
  const json* add_bos = config != nullptr ? member(*config, "add_bos_token") : nullptr;
  const int32_t config_bos = config != nullptr ? special_token_id(member(*config, "bos_token")) : -1;
  if (add_bos != nullptr && add_bos->is_boolean()) {
    // transformers rebuilds the post-processor from add_bos_token, so the config wins.
    if (add_bos->get<bool>()) {
      spec_.bos_prefix = config_bos >= 0 ? std::vector<int32_t>{config_bos} : template_prefix_;
    }
  } else {
    spec_.bos_prefix = template_prefix_;
  }
  spec_.bos_id = spec_.bos_prefix.empty() ? -1 : spec_.bos_prefix.front();

  spec_.eos_id = config != nullptr ? special_token_id(member(*config, "eos_token")) : -1;
  if (spec_.eos_id < 0 && !template_suffix_.empty()) spec_.eos_id = template_suffix_.front();
  for (const char* name : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
    if (spec_.eos_id >= 0) break;
    const json token = name;
    spec_.eos_id = special_token_id(&token);
  }
}

}  // namespace

HfTokenizerSpec hf_tokenizer_parse(std::string_view json_text,
                                   std::optional<std::string_view> config_json,
                                   const std::string& file_name) {
  HfTokenizerSpec spec;
  json root;
  json config;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    throw_invalid(file_name + ": not valid JSON: " + e.what());
  }
  const std::string config_name = path_join(path_dirname(file_name), "tokenizer_config.json");
  if (config_json) {
    try {
      config = json::parse(config_json->begin(), config_json->end());
    } catch (const json::exception& e) {
      throw_invalid(config_name + ": not valid JSON: " + e.what());
    }
    if (!config.is_object()) throw_invalid(config_name + ": the top level is not a JSON object");
  }
  try {
    Parser(file_name, spec).parse(root, config_json ? &config : nullptr);
  } catch (const json::exception& e) {
    // Every access is type-checked first; this is a safety net that still names the file.
    throw_invalid(file_name + ": unexpected JSON structure: " + e.what());
  }
  return spec;
}

}  // namespace ostq
