// SPDX-License-Identifier: Apache-2.0
#include "core/quant/quant_config.h"

#include <sstream>

namespace ostq {

namespace {

// The activation sites of §7.2 that a plain "A" bit width controls.
constexpr Site kActSites[] = {Site::kAttnInput, Site::kOProjInput, Site::kFfnInput, Site::kDownProjInput};
constexpr Site kKvSites[] = {Site::kKeyRope, Site::kValue};
// Every site a quantizer may sit at (the residual stream never is).
constexpr Site kQuantizableSites[] = {Site::kAttnInput,     Site::kOProjInput, Site::kFfnInput,
                                      Site::kDownProjInput, Site::kKeyRope,    Site::kValue};

bool parse_bits(const std::string& s, int* bits) {
  if (s.empty() || s.size() > 2 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  *bits = std::stoi(s);
  return *bits >= 2 && *bits <= 16;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

}  // namespace

bool QuantConfig::quantizes_activations() const {
  for (const ActQuantSpec& s : sites) {
    if (s.enabled()) return true;
  }
  return false;
}

bool QuantConfig::quantizes_kv() const { return site(Site::kKeyRope).enabled() || site(Site::kValue).enabled(); }

std::string QuantConfig::describe() const {
  std::ostringstream o;
  o << (weight.enabled() ? weight.describe() : std::string("W16"));
  for (Site s : kQuantizableSites) {
    const ActQuantSpec& a = site(s);
    if (!a.enabled()) continue;
    o << " | " << site_name(s) << " " << a.describe();
    // K/V rows are [.., n_kv, d_h]: "per token" there means one range per token and head.
    if (a.group_size == 0 && (s == Site::kKeyRope || s == Site::kValue)) o << " per head";
  }
  if (!quantizes_activations()) o << " | activations 16-bit";
  return o.str();
}

Result<QuantConfig> quant_config_parse(const std::string& bits, int64_t head_dim) {
  std::vector<std::string> parts = split(bits, '-');
  int w = 0, a = 0, kv = 0;
  if (parts.size() != 3 || !parse_bits(parts[0], &w) || !parse_bits(parts[1], &a) || !parse_bits(parts[2], &kv)) {
    return Status::invalid_input("bits '" + bits + "': expected W-A-KV with each between 2 and 16, e.g. 4-4-4 or 4-16-16");
  }
  QuantConfig c;
  c.bits = bits;
  c.weight.bits = w;  // symmetric per output channel, MSE clip sweep (§7.2 defaults)
  for (Site s : kActSites) c.site(s).bits = a;  // asymmetric per token, clip 1.0
  c.site(Site::kOProjInput).group_size = head_dim;  // per head (§7.2 [rec])
  // K/V arrive as [B, T, n_kv, d_h]: per token over the last dimension is per head.
  for (Site s : kKvSites) c.site(s).bits = kv;
  return c;
}

Status quant_config_override(QuantConfig& config, const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos) return Status::invalid_input("override '" + spec + "': expected SITE=BITS[:options]");
  const std::string target = spec.substr(0, eq);
  std::vector<std::string> fields = split(spec.substr(eq + 1), ':');
  int bits = 0;
  if (fields.empty() || !parse_bits(fields[0], &bits)) {
    return Status::invalid_input("override '" + spec + "': bits must be between 2 and 16");
  }
  std::vector<ActQuantSpec*> acts;
  WeightQuantSpec* weight = nullptr;
  if (target == "weight") {
    weight = &config.weight;
  } else if (target == "act") {
    for (Site s : kActSites) acts.push_back(&config.site(s));
  } else if (target == "kv") {
    for (Site s : kKvSites) acts.push_back(&config.site(s));
  } else {
    for (Site s : kQuantizableSites) {
      if (target == site_name(s)) acts.push_back(&config.site(s));
    }
    if (acts.empty()) {
      return Status::invalid_input("override '" + spec + "': unknown site '" + target +
                                   "' (weight, act, kv, attn_input, o_proj_input, ffn_input, down_proj_input, key_rope, value)");
    }
  }
  if (weight != nullptr) weight->bits = bits;
  for (ActQuantSpec* a : acts) a->bits = bits;
  for (size_t i = 1; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    try {
      if (f == "sym" || f == "asym") {
        if (weight != nullptr) weight->symmetric = f == "sym";
        for (ActQuantSpec* a : acts) a->symmetric = f == "sym";
      } else if (f == "absmax") {
        if (weight != nullptr) weight->sym_scale = SymmetricScale::kAbsMax;
        for (ActQuantSpec* a : acts) a->sym_scale = SymmetricScale::kAbsMax;
      } else if (f == "nomse" && weight != nullptr) {
        weight->mse_clip = false;
      } else if (f.size() > 1 && f[0] == 'g') {
        const int64_t g = std::stoll(f.substr(1));
        if (g < 0) throw std::invalid_argument("negative group");
        if (weight != nullptr) weight->group_size = g;
        for (ActQuantSpec* a : acts) a->group_size = g;
      } else if (f.rfind("clip", 0) == 0 && !acts.empty()) {
        const double clip = std::stod(f.substr(4));
        if (!(clip > 0.0 && clip <= 1.0)) throw std::invalid_argument("clip out of (0, 1]");
        for (ActQuantSpec* a : acts) a->clip_ratio = clip;
      } else {
        throw std::invalid_argument("unknown option");
      }
    } catch (const std::exception&) {
      return Status::invalid_input("override '" + spec + "': bad option '" + f +
                                   "' (sym, asym, absmax, gN, clipX for activations, nomse for weights)");
    }
  }
  config.overrides.push_back(spec);
  return Status::ok();
}

void ActivationQuantHooks::on_site(int64_t, Site site, at::Tensor& x) {
  const ActQuantSpec& spec = config_.site(site);
  if (spec.enabled()) x = fake_quant_activation(x, spec, ste_);
}

}  // namespace ostq
