// SPDX-License-Identifier: Apache-2.0
// config.json ↔ ModelConfig; the mapping is spelled out in Note [hf config mapping].
#include "core/io/hf_config.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

namespace {

using nlohmann::json;

// Typed access to the keys of one JSON object; every error names the file and the key.
class Reader {
 public:
  Reader(const json& obj, std::string file, std::string prefix = "")
      : obj_(obj), file_(std::move(file)), prefix_(std::move(prefix)) {}

  // nullptr when the key is absent or null.
  const json* get(const char* key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  [[noreturn]] void fail(const char* key, const std::string& problem) const {
    throw_invalid(file_ + ": \"" + prefix_ + key + "\" " + problem);
  }
  [[noreturn]] void wrong_type(const char* key, const json& v, const char* expected) const {
    std::string shown = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shown.size() > 60) shown = shown.substr(0, 60) + "…";
    fail(key, std::string("must be ") + expected + ", got " + v.type_name() + " " + shown);
  }

  int64_t integer(const char* key, const json& v) const {
    if (!v.is_number_integer()) wrong_type(key, v, "an integer");
    if (v.is_number_unsigned() &&
        v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(key, "is out of range");
    }
    return v.get<int64_t>();
  }
  int64_t req_int(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    return integer(key, *v);
  }
  std::optional<int64_t> opt_int(const char* key) const {
    const json* v = get(key);
    return v == nullptr ? std::nullopt : std::optional<int64_t>(integer(key, *v));
  }
  double number(const char* key, const json& v) const {
    if (!v.is_number()) wrong_type(key, v, "a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(key, "must be finite");
    return d;
  }
  double req_num(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(key, "is missing");
    return number(key, *v);
  }
  double opt_num(const char* key, double fallback) const {
    const json* v = get(key);
    return v == nullptr ? fallback : number(key, *v);
  }
  bool opt_bool(const char* key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) wrong_type(key, *v, "true or false");
    return v->get<bool>();
  }
  std::optional<std::string> opt_str(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) wrong_type(key, *v, "a string");
    return v->get<std::string>();
  }

  // A token id (int32) or, for eos, a list whose first entry is used; absent/null/negative → -1.
  int32_t token_id(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) return -1;
    const json* first = v;
    if (v->is_array()) {
      for (const auto& e : *v) {
        if (!e.is_number_integer()) wrong_type(key, *v, "an integer or a list of integers");
      }
      if (v->empty()) return -1;
      first = &(*v)[0];
    }
    const int64_t id = integer(key, *first);
    if (id > std::numeric_limits<int32_t>::max()) fail(key, "is out of range for a token id");
    return id < 0 ? -1 : static_cast<int32_t>(id);
  }

 private:
  const json& obj_;
  std::string file_;
  std::string prefix_;
};

constexpr const char* kLlamaClass = "LlamaForCausalLM";
constexpr const char* kMistralClass = "MistralForCausalLM";
constexpr const char* kQwen2Class = "Qwen2ForCausalLM";

const char* class_name(Architecture a) {
  switch (a) {
    case Architecture::kLlama:
      return kLlamaClass;
    case Architecture::kMistral:
      return kMistralClass;
    case Architecture::kQwen2:
      return kQwen2Class;
  }
  return "?";
}

Architecture parse_architecture(const Reader& r, const std::string& file) {
  const std::string supported =
      std::string(" (supported: ") + kLlamaClass + ", " + kMistralClass + ", " + kQwen2Class + ")";
  if (const json* a = r.get("architectures")) {
    if (!a->is_array()) r.wrong_type("architectures", *a, "a list of strings");
    if (!a->empty()) {
      if (!(*a)[0].is_string()) r.wrong_type("architectures", *a, "a list of strings");
      const auto& name = (*a)[0].get_ref<const std::string&>();
      if (name == kLlamaClass) return Architecture::kLlama;
      if (name == kMistralClass) return Architecture::kMistral;
      if (name == kQwen2Class) return Architecture::kQwen2;
      throw_unsupported(file + ": unsupported architecture \"" + name.substr(0, 100) + "\"" +
                        supported);
    }
  }
  const auto type = r.opt_str("model_type");
  if (!type) throw_invalid(file + ": neither \"architectures\" nor \"model_type\" is given");
  if (*type == "llama") return Architecture::kLlama;
  if (*type == "mistral") return Architecture::kMistral;
  if (*type == "qwen2") return Architecture::kQwen2;
  throw_unsupported(file + ": unsupported model_type \"" + type->substr(0, 100) + "\"" + supported);
}

RopeScaling parse_rope_scaling(const json& v, const Reader& top, const std::string& file) {
  RopeScaling s;
  if (!v.is_object()) top.wrong_type("rope_scaling", v, "null or an object");
  const Reader r(v, file, "rope_scaling.");
  std::optional<std::string> type = r.opt_str("rope_type");
  if (!type) type = r.opt_str("type");
  if (!type) r.fail("rope_type", "is missing");
  if (*type == "default") return s;
  if (*type != "llama3") {
    throw_unsupported(file + ": rope_scaling type \"" + type->substr(0, 100) +
                      "\" is not supported (only \"llama3\")");
  }
  s.type = RopeScaling::Type::kLlama3;
  s.factor = r.req_num("factor");
  s.low_freq_factor = r.req_num("low_freq_factor");
  s.high_freq_factor = r.req_num("high_freq_factor");
  s.original_max_position_embeddings = r.req_int("original_max_position_embeddings");
  if (!(s.factor > 0)) r.fail("factor", "must be positive");
  if (!(s.low_freq_factor > 0)) r.fail("low_freq_factor", "must be positive");
  if (!(s.high_freq_factor > s.low_freq_factor)) {
    r.fail("high_freq_factor", "must be greater than low_freq_factor");
  }
  if (s.original_max_position_embeddings <= 0) {
    r.fail("original_max_position_embeddings", "must be positive");
  }
  return s;
}

ModelConfig parse_impl(std::string_view text, const std::string& file,
                       const std::string& fallback_name) {
  // nlohmann treats a NUL byte as the end of input and would ignore whatever follows it.
  if (text.find('\0') != std::string_view::npos) {
    throw_invalid(file + ": not valid JSON (contains a NUL byte)");
  }
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    throw_invalid(file + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw_invalid(file + ": not a JSON object");
  const Reader r(j, file);

  ModelConfig c;
  c.source = SourceFormat::kHuggingFace;
  c.arch = parse_architecture(r, file);
  if (r.get("quantization_config") != nullptr) {
    throw_unsupported(file +
                      ": the checkpoint is already quantized (quantization_config); load the "
                      "original floating-point model");
  }

  c.dim = r.req_int("hidden_size");
  c.hidden_dim = r.req_int("intermediate_size");
  c.n_layers = r.req_int("num_hidden_layers");
  c.n_heads = r.req_int("num_attention_heads");
  c.n_kv_heads = r.opt_int("num_key_value_heads").value_or(c.n_heads);
  c.vocab_size = r.req_int("vocab_size");
  c.max_seq_len = r.req_int("max_position_embeddings");
  if (c.n_heads <= 0) r.fail("num_attention_heads", "must be positive");
  if (auto hd = r.opt_int("head_dim")) {
    c.head_dim = *hd;
  } else {
    if (c.dim % c.n_heads != 0) {
      r.fail("hidden_size", "(" + std::to_string(c.dim) + ") is not divisible by " +
                                "num_attention_heads (" + std::to_string(c.n_heads) +
                                ") and head_dim is not given");
    }
    c.head_dim = c.dim / c.n_heads;
  }
  c.norm_eps = r.opt_num("rms_norm_eps", 1e-6);
  c.rope_theta = r.opt_num("rope_theta", 10000.0);
  if (const json* rs = r.get("rope_scaling")) c.rope_scaling = parse_rope_scaling(*rs, r, file);

  const std::string act = r.opt_str("hidden_act").value_or("silu");
  if (act != "silu") {
    throw_unsupported(file + ": hidden_act \"" + act.substr(0, 100) +
                      "\" is not supported (only silu)");
  }
  c.tied_embeddings = r.opt_bool("tie_word_embeddings", false);

  switch (c.arch) {
    case Architecture::kLlama:
    case Architecture::kMistral:
      if (r.opt_bool("attention_bias", false)) {
        throw_unsupported(file + ": attention_bias=true (biases on q/k/v/o_proj) is not supported");
      }
      if (r.opt_bool("mlp_bias", false)) {
        throw_unsupported(file + ": mlp_bias=true is not supported");
      }
      if (c.arch == Architecture::kMistral) {
        c.sliding_window = r.opt_int("sliding_window").value_or(0);
        if (c.sliding_window < 0) r.fail("sliding_window", "must be null or non-negative");
      }
      break;
    case Architecture::kQwen2:
      c.qkv_bias = true;  // no config key: Qwen2 q/k/v projections always carry biases
      if (r.opt_bool("use_sliding_window", false)) {
        throw_unsupported(file + ": use_sliding_window=true is not supported");
      }
      break;
  }

  c.bos_id = r.token_id("bos_token_id");
  c.eos_id = r.token_id("eos_token_id");
  const json* nop = r.get("_name_or_path");
  c.name = nop != nullptr && nop->is_string() && !nop->get_ref<const std::string&>().empty()
               ? nop->get<std::string>()
               : fallback_name;
  c.validate(file);
  return c;
}

std::string dir_name(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec);
  if (ec) p = dir;
  p = p.lexically_normal();
  std::string name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();  // "…/model/" form
  return name.empty() ? std::string("model") : name;
}

}  // namespace

ModelConfig hf_config_parse(std::string_view json_text, const std::string& file_name) {
  return parse_impl(json_text, file_name, dir_name(path_dirname(file_name)));
}

ModelConfig hf_config_load(const std::string& dir) {
  const std::string file = path_join(dir, "config.json");
  return parse_impl(read_file(file), file, dir_name(dir));
}

std::string hf_config_to_json(const ModelConfig& c, DType torch_dtype) {
  auto unsupported = [&](const std::string& m) {
    throw_unsupported("config.json for " + c.name + ": " + m);
  };
  if (c.arch == Architecture::kQwen2 && !c.qkv_bias) unsupported("qwen2 without q/k/v biases");
  if (c.arch != Architecture::kQwen2 && c.qkv_bias) {
    unsupported(std::string(architecture_name(c.arch)) + " with q/k/v biases only");
  }
  if (c.arch != Architecture::kMistral && c.sliding_window != 0) {
    unsupported(std::string("a sliding window for ") + architecture_name(c.arch));
  }

  nlohmann::ordered_json j;
  if (!c.name.empty()) j["_name_or_path"] = c.name;
  j["architectures"] = {class_name(c.arch)};
  j["model_type"] = architecture_name(c.arch);
  if (c.arch != Architecture::kQwen2) {
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
  }
  auto token = [](int32_t id) {
    return id < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(id);
  };
  j["bos_token_id"] = token(c.bos_id);
  j["eos_token_id"] = token(c.eos_id);
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["max_position_embeddings"] = c.max_seq_len;
  if (c.arch == Architecture::kQwen2) j["max_window_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_hidden_layers"] = c.n_layers;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["rms_norm_eps"] = c.norm_eps;
  if (c.rope_scaling.type == RopeScaling::Type::kLlama3) {
    j["rope_scaling"] = {
        {"factor", c.rope_scaling.factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings},
        {"rope_type", "llama3"}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["rope_theta"] = c.rope_theta;
  if (c.arch == Architecture::kMistral) {
    j["sliding_window"] = c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window)
                                               : nlohmann::ordered_json(nullptr);
  } else if (c.arch == Architecture::kQwen2) {
    j["sliding_window"] = c.max_seq_len;  // inactive: use_sliding_window is false
    j["use_sliding_window"] = false;
  }
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["torch_dtype"] = dtype_torch_name(torch_dtype);
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace ostq
