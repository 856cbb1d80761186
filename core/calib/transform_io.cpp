// SPDX-License-Identifier: Apache-2.0
// ostq-transforms files (see Note [ostq-transforms format]) and the import of the reference
// implementation's torch.save()d transforms (OSTQUANT_SPEC.md §3.9).
#include "core/calib/transform_io.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <sstream>

#include "core/io/safetensors.h"
#include "core/model/model.h"
#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

namespace {

using nlohmann::json;

constexpr const char* kFormatTag = "ostq-transforms";
constexpr const char* kFormatVersion = "1";
constexpr double kOrthogonalityTol = 1e-3;  // ‖RᵀR·v − v‖ / ‖v‖ on random probes
constexpr int64_t kOrthogonalityProbes = 8;

enum class Kind { kRRes, kROv, kSAttn, kSFfn, kSOv, kSQk, kSUpDown };

// One tensor of a TransformSet: what it is and where it goes.
struct Slot {
  Kind kind = Kind::kRRes;
  int64_t layer = -1;  // -1 for r_res
  int64_t head = -1;   // KV head of an r_ov
};

bool is_rotation(Kind k) { return k == Kind::kRRes || k == Kind::kROv; }

// `reference`: the reference implementation's untied S_qk, d_h values per KV head.
std::vector<int64_t> expected_shape(Kind k, const ModelConfig& c, bool reference = false) {
  switch (k) {
    case Kind::kRRes:
      return {c.dim, c.dim};
    case Kind::kROv:
      return {c.head_dim, c.head_dim};
    case Kind::kSAttn:
    case Kind::kSFfn:
      return {c.dim};
    case Kind::kSOv:
      return {c.kv_dim()};
    case Kind::kSQk:
      return {reference ? c.kv_dim() : c.kv_dim() / 2};
    case Kind::kSUpDown:
      return {c.hidden_dim};
  }
  return {};
}

// Strict non-negative decimal (no sign, no spaces); false when `s` is anything else.
template <typename T>
bool parse_decimal(std::string_view s, T* out) {
  if (s.empty() || s.size() > 20 || s[0] < '0' || s[0] > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

const std::map<std::string, Kind>& scale_names() {
  static const std::map<std::string, Kind> m = {{"s_attn", Kind::kSAttn},
                                                {"s_ffn", Kind::kSFfn},
                                                {"s_ov", Kind::kSOv},
                                                {"s_qk", Kind::kSQk},
                                                {"s_up_down", Kind::kSUpDown}};
  return m;
}

// "r_res", "layers.<i>.r_ov.<h>", "layers.<i>.<s_…>"; false for any other name.
bool parse_name(const std::string& name, Slot* slot) {
  if (name == "r_res") {
    *slot = Slot{Kind::kRRes, -1, -1};
    return true;
  }
  const std::string prefix = "layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return false;
  int64_t layer = 0;
  if (!parse_decimal(std::string_view(name).substr(prefix.size(), dot - prefix.size()), &layer))
    return false;
  const std::string rest = name.substr(dot + 1);
  if (rest.compare(0, 5, "r_ov.") == 0) {
    int64_t head = 0;
    if (!parse_decimal(std::string_view(rest).substr(5), &head)) return false;
    *slot = Slot{Kind::kROv, layer, head};
    return true;
  }
  auto it = scale_names().find(rest);
  if (it == scale_names().end()) return false;
  *slot = Slot{it->second, layer, -1};
  return true;
}

std::string layer_name(int64_t layer, const std::string& member) {
  return "layers." + std::to_string(layer) + "." + member;
}

// Values of a transform tensor (fp64, shape already checked): finite; scales > 0; rotations
// orthogonal on random probes. `where` is "<file>: tensor <name>".
void check_values(const at::Tensor& x, Kind kind, const std::string& where) {
  if (!x.isfinite().all().item<bool>()) throw_invalid(where + " has non-finite values");
  if (!is_rotation(kind)) {
    if (!(x > 0).all().item<bool>())
      throw_invalid(where + " has non-positive scales (min " +
                    std::to_string(x.min().item<double>()) + ")");
    return;
  }
  // RᵀR = I checked on seeded Gaussian probes: O(n²) instead of the O(n³) product.
  at::Generator gen = at::detail::createCPUGenerator(1234);
  const at::Tensor v =
      at::randn({x.size(0), kOrthogonalityProbes}, gen, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor err = (at::matmul(x.t(), at::matmul(x, v)) - v).norm(2, {0}) / v.norm(2, {0});
  const double worst = err.max().item<double>();
  if (!(worst <= kOrthogonalityTol)) {
    std::ostringstream s;
    s << where << " is not orthogonal (|R^T R v - v| / |v| = " << worst << " > "
      << kOrthogonalityTol << ")";
    throw_invalid(s.str());
  }
}

// The scale vector of kind `k` in a layer.
template <typename Layer>
auto& member(Layer& l, Kind k) {
  switch (k) {
    case Kind::kSAttn:
      return l.s_attn;
    case Kind::kSFfn:
      return l.s_ffn;
    case Kind::kSOv:
      return l.s_ov;
    case Kind::kSQk:
      return l.s_qk;
    default:
      return l.s_up_down;
  }
}

// Shape and index checks shared by save and load; `where` is "<file>: tensor <name>".
void check_slot(const Slot& slot, const std::vector<int64_t>& shape, const ModelConfig& c,
                const std::string& where, bool reference = false) {
  if (slot.layer >= c.n_layers) {
    throw_invalid(where + ": layer " + std::to_string(slot.layer) +
                  " is out of range for a model with " + std::to_string(c.n_layers) + " layers");
  }
  if (slot.kind == Kind::kROv && slot.head >= c.n_kv_heads) {
    throw_invalid(where + ": KV head " + std::to_string(slot.head) +
                  " is out of range for a model with " + std::to_string(c.n_kv_heads) +
                  " KV heads");
  }
  const std::vector<int64_t> want = expected_shape(slot.kind, c, reference);
  if (shape != want) {
    throw_invalid(where + " has shape " + shape_to_string(shape) + ", the model (" + c.summary() +
                  ") expects " + shape_to_string(want));
  }
}

struct ModelShapeField {
  const char* key;
  int64_t ModelConfig::*field;
};
constexpr ModelShapeField kShapeFields[] = {
    {"dim", &ModelConfig::dim},           {"n_layers", &ModelConfig::n_layers},
    {"n_heads", &ModelConfig::n_heads},   {"n_kv_heads", &ModelConfig::n_kv_heads},
    {"head_dim", &ModelConfig::head_dim}, {"hidden_dim", &ModelConfig::hidden_dim},
};

std::string json_dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

// ---- save ----

std::string serialize_transform_set(const TransformSet& t, const ModelConfig& c, const std::string& provenance_json,
                                    const std::string& path) {
  c.validate(path);
  json provenance = json::parse(provenance_json, nullptr, /*allow_exceptions=*/false);
  if (!provenance.is_object())
    throw_invalid(path + ": provenance must be a JSON object, got: " + provenance_json);
  if (!t.layers.empty() && static_cast<int64_t>(t.layers.size()) != c.n_layers) {
    throw_invalid(path + ": the transform set has " + std::to_string(t.layers.size()) +
                  " layers, the model " + std::to_string(c.n_layers));
  }
  at::NoGradGuard no_grad;
  std::vector<std::pair<std::string, at::Tensor>> named;
  auto add = [&](const std::string& name, const at::Tensor& x, const Slot& slot) {
    if (!x.defined()) return;
    const std::string where = path + ": tensor " + name;
    check_slot(slot, x.sizes().vec(), c, where);
    at::Tensor d = x.detach().to(at::kCPU).to(at::kDouble).contiguous();
    check_values(d, slot.kind, where);
    named.emplace_back(name, d);
  };
  add("r_res", t.r_res, Slot{Kind::kRRes, -1, -1});
  for (int64_t li = 0; li < static_cast<int64_t>(t.layers.size()); ++li) {
    const LayerTransforms& l = t.layers[li];
    if (!l.r_ov.empty() && static_cast<int64_t>(l.r_ov.size()) != c.n_kv_heads) {
      throw_invalid(path + ": layer " + std::to_string(li) + " has " +
                    std::to_string(l.r_ov.size()) + " R_ov matrices, the model " +
                    std::to_string(c.n_kv_heads) + " KV heads");
    }
    for (int64_t h = 0; h < static_cast<int64_t>(l.r_ov.size()); ++h) {
      if (!l.r_ov[h].defined())
        throw_invalid(path + ": tensor " + layer_name(li, "r_ov." + std::to_string(h)) +
                      " is undefined");
      add(layer_name(li, "r_ov." + std::to_string(h)), l.r_ov[h], Slot{Kind::kROv, li, h});
    }
    for (const auto& [suffix, kind] : scale_names()) {
      add(layer_name(li, suffix), member(l, kind), Slot{kind, li, -1});
    }
  }

  std::map<std::string, std::string> meta;
  meta["format"] = kFormatTag;
  meta["version"] = kFormatVersion;
  meta["ffn_rotation"] = t.ffn_rotation ? "true" : "false";
  meta["qk_hadamard"] = t.qk_hadamard ? "true" : "false";
  meta["seed"] = std::to_string(t.seed);
  meta["notes"] = json_dump(json(t.notes));
  for (const ModelShapeField& f : kShapeFields) meta[f.key] = std::to_string(c.*(f.field));
  meta["provenance"] = provenance_json;
  json names = json::array();
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, x] : named) {
    names.push_back(name);
    tensors.push_back(TensorToWrite{name, DType::kF64, x.sizes().vec(), x.data_ptr(),
                                    static_cast<uint64_t>(x.numel()) * sizeof(double)});
  }
  meta["tensors"] = json_dump(names);
  return safetensors_serialize(tensors, meta, path);
}

void save_transform_set(const std::string& path, const TransformSet& t, const ModelConfig& c,
                        const std::string& provenance_json) {
  const std::string bytes = serialize_transform_set(t, c, provenance_json, path);
  AtomicFile f(path, bytes.size());
  f.write(bytes);
  f.commit();
}

// ---- load ----

TransformSet load_transform_set(const std::string& path, const ModelConfig& c,
                                std::string* provenance_json) {
  c.validate(path);
  // io / invalid naming the file; a truncated file fails here (see Note [safetensors validation]).
  SafetensorsFile file = SafetensorsFile::open(path);
  const std::map<std::string, std::string>& meta = file.header().metadata;
  auto find_meta = [&](const std::string& key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  auto require_meta = [&](const std::string& key) -> const std::string& {
    const std::string* v = find_meta(key);
    if (v == nullptr) throw_invalid(path + ": metadata key '" + key + "' is missing");
    return *v;
  };
  const std::string* tag = find_meta("format");
  if (tag == nullptr || *tag != kFormatTag) {
    throw_invalid(path + ": format tag is " +
                  (tag == nullptr ? std::string("absent") : "'" + *tag + "'") + ", expected '" +
                  kFormatTag + "' (not a transform file written by the workbench)");
  }
  if (require_meta("version") != kFormatVersion) {
    throw_unsupported(path + ": ostq-transforms version '" + require_meta("version") +
                      "' is not supported (this build reads " + kFormatVersion + ")");
  }
  auto parse_json = [&](const std::string& key) {
    json j = json::parse(require_meta(key), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw_invalid(path + ": metadata key '" + key + "' is not valid JSON");
    return j;
  };
  auto string_list = [&](const std::string& key) {
    json j = parse_json(key);
    std::vector<std::string> out;
    if (!j.is_array())
      throw_invalid(path + ": metadata key '" + key + "' must be a JSON array of strings");
    for (const json& e : j) {
      if (!e.is_string())
        throw_invalid(path + ": metadata key '" + key + "' must be a JSON array of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  };
  const std::vector<std::string> listed = string_list("tensors");

  at::NoGradGuard no_grad;
  TransformSet t = transform_set_identity(c);
  std::vector<std::map<int64_t, at::Tensor>> r_ov(static_cast<size_t>(c.n_layers));
  for (const TensorInfo& info : file.header().tensors) {
    const std::string where = path + ": tensor " + info.name;
    Slot slot;
    if (!parse_name(info.name, &slot)) throw_invalid(where + " is not a transform tensor");
    if (std::find(listed.begin(), listed.end(), info.name) == listed.end()) {
      throw_invalid(where + " is not listed in the metadata");
    }
    check_slot(slot, info.shape, c, where);
    if (info.dtype != DType::kF64)
      throw_invalid(where + " has dtype " + dtype_name(info.dtype) + ", expected F64");
    at::Tensor x = at::empty(info.shape, at::TensorOptions().dtype(at::kDouble));
    // Copied out: the map need not be 8-aligned.
    std::memcpy(x.data_ptr(), file.tensor_data(info), info.nbytes);
    check_values(x, slot.kind, where);
    if (slot.kind == Kind::kRRes) {
      t.r_res = x;
    } else if (slot.kind == Kind::kROv) {
      r_ov[slot.layer][slot.head] = x;
    } else {
      member(t.layers[slot.layer], slot.kind) = x;
    }
  }
  for (const std::string& name : listed) {
    if (file.find(name) == nullptr)
      throw_invalid(path + ": tensor " + name + " is missing (listed in the metadata)");
  }
  for (int64_t li = 0; li < c.n_layers; ++li) {
    if (r_ov[li].empty()) continue;
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      auto it = r_ov[li].find(h);
      if (it == r_ov[li].end()) {
        throw_invalid(path + ": tensor " + layer_name(li, "r_ov." + std::to_string(h)) +
                      " is missing (layer " + std::to_string(li) + " has R_ov for " +
                      std::to_string(r_ov[li].size()) + " of " + std::to_string(c.n_kv_heads) +
                      " KV heads)");
      }
      t.layers[li].r_ov.push_back(it->second);
    }
  }
  // Model shape last, so a mismatch visible in a tensor is reported with the tensor's name first.
  for (const ModelShapeField& f : kShapeFields) {
    int64_t v = 0;
    if (!parse_decimal(require_meta(f.key), &v))
      throw_invalid(path + ": metadata key '" + f.key + "' is not a count");
    if (v != c.*(f.field)) {
      throw_invalid(path + ": saved for a model with " + f.key + "=" + std::to_string(v) +
                    ", this model (" + c.summary() + ") has " + f.key + "=" +
                    std::to_string(c.*(f.field)));
    }
  }
  auto flag = [&](const std::string& key) {
    const std::string& v = require_meta(key);
    if (v != "true" && v != "false")
      throw_invalid(path + ": metadata key '" + key + "' must be true or false");
    return v == "true";
  };
  t.ffn_rotation = flag("ffn_rotation");
  t.qk_hadamard = flag("qk_hadamard");
  if (!parse_decimal(require_meta("seed"), &t.seed))
    throw_invalid(path + ": metadata key 'seed' is not a uint64");
  t.notes = string_list("notes");
  if (!parse_json("provenance").is_object())
    throw_invalid(path + ": metadata key 'provenance' must be a JSON object");
  if (provenance_json != nullptr) *provenance_json = require_meta("provenance");
  return t;
}

// ---- reference import ----

namespace {

constexpr const char* kReSaveHint =
    "expected a zip-format torch.save() of a plain dict of tensors; a raw state_dict() (an "
    "OrderedDict) cannot be read here, re-save it in Python with "
    "torch.save({k: v.detach().cpu() for k, v in sd.items()}, path)";

// nn.Parameter values (torch._utils._rebuild_parameter[_with_state]) are read as their tensor:
// the resolver names a marker class and the loader keeps the tensor in slot 0.
struct ParameterUnwrap {
  std::shared_ptr<torch::jit::CompilationUnit> cu = std::make_shared<torch::jit::CompilationUnit>();
  c10::ClassTypePtr marker;

  ParameterUnwrap() {
    marker = c10::ClassType::create(c10::QualifiedName("__ostq__.Parameter"), cu);
    marker->addAttribute("data", c10::TensorType::get());
  }
  torch::jit::TypeResolver resolver() {
    return [this](const c10::QualifiedName& q) -> c10::StrongTypePtr {
      const std::string name = q.qualifiedName();
      if (name == "torch._utils._rebuild_parameter" ||
          name == "torch._utils._rebuild_parameter_with_state") {
        return c10::StrongTypePtr(cu, marker);
      }
      // Type tags of LibTorch's own pickles ("Dict[str, Tensor]"); throws for an unknown global.
      return c10::StrongTypePtr(cu, torch::jit::Unpickler::defaultTypeParser(name));
    };
  }
  torch::jit::ObjLoader loader() {
    return [this](const at::StrongTypePtr&, const c10::IValue& args) {
      TORCH_CHECK(args.isTuple() && !args.toTupleRef().elements().empty() &&
                      args.toTupleRef().elements()[0].isTensor(),
                  "malformed nn.Parameter");
      auto obj = c10::ivalue::Object::create(c10::StrongTypePtr(cu, marker), 1);
      obj->setSlot(0, args.toTupleRef().elements()[0]);
      return obj;
    };
  }
  // The tensor behind a value: a tensor, or a Parameter read through the marker.
  bool tensor_of(const c10::IValue& v, at::Tensor* out) const {
    if (v.isTensor()) {
      *out = v.toTensor();
      return true;
    }
    if (v.isObject() && v.toObjectRef().type() == marker && v.toObjectRef().getSlot(0).isTensor()) {
      *out = v.toObjectRef().getSlot(0).toTensor();
      return true;
    }
    return false;
  }
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// What one §3.9 key means; false for any other key.
bool parse_reference_key(const std::string& key, Slot* slot, bool* up_gate) {
  *up_gate = false;
  if (key == "R_res.weight") {
    *slot = Slot{Kind::kRRes, -1, -1};
    return true;
  }
  const std::string prefix = "model.layers.";
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos) return false;
  int64_t layer = 0;
  if (!parse_decimal(std::string_view(key).substr(prefix.size(), dot - prefix.size()), &layer))
    return false;
  std::string rest = key.substr(dot + 1);
  const std::string mods = "R_S_modules.";
  if (rest.compare(0, mods.size(), mods) != 0) return false;
  rest = rest.substr(mods.size());
  const std::string r_ov = "R_ov.weight.";
  if (rest.compare(0, r_ov.size(), r_ov) == 0) {
    int64_t head = 0;
    if (!parse_decimal(std::string_view(rest).substr(r_ov.size()), &head)) return false;
    *slot = Slot{Kind::kROv, layer, head};
    return true;
  }
  static const std::map<std::string, Kind> scales = {{"S_norm_qkv.weight", Kind::kSAttn},
                                                     {"S_norm_upgate.weight", Kind::kSFfn},
                                                     {"S_ov.weight", Kind::kSOv},
                                                     {"S_qk.weight", Kind::kSQk},
                                                     {"S_up_down.weight", Kind::kSUpDown}};
  if (rest == "S_up_gate.weight") {
    *up_gate = true;
    return false;
  }
  auto it = scales.find(rest);
  if (it == scales.end()) return false;
  *slot = Slot{it->second, layer, -1};
  return true;
}

std::string reference_key(const Slot& s) {
  const std::string layer = "model.layers." + std::to_string(s.layer) + ".R_S_modules.";
  switch (s.kind) {
    case Kind::kRRes:
      return "R_res.weight";
    case Kind::kROv:
      return layer + "R_ov.weight." + std::to_string(s.head);
    case Kind::kSAttn:
      return layer + "S_norm_qkv.weight";
    case Kind::kSFfn:
      return layer + "S_norm_upgate.weight";
    case Kind::kSOv:
      return layer + "S_ov.weight";
    case Kind::kSQk:
      return layer + "S_qk.weight";
    case Kind::kSUpDown:
      return layer + "S_up_down.weight";
  }
  return {};
}

// Reads the torch.save() zip at `path` with every storage mapped to the CPU (reference checkpoints
// are saved from CUDA tensors; this LibTorch may have no CUDA).
c10::IValue read_torch_save(const std::string& path, ParameterUnwrap& unwrap) {
  if (!file_exists(path)) throw_io(path + ": no such file");
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    return torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                             unwrap.resolver(), unwrap.loader(),
                                             at::Device(at::kCPU), reader);
  } catch (const c10::Error& e) {
    throw_invalid(path + ": cannot read it as a torch.save() file (" +
                  first_line(e.what_without_backtrace()) + "); " + kReSaveHint);
  } catch (const std::exception& e) {
    throw_invalid(path + ": cannot read it as a torch.save() file (" + first_line(e.what()) +
                  "); " + kReSaveHint);
  }
}

}  // namespace

TransformSet import_reference_transforms(const std::string& path, const ModelConfig& c) {
  c.validate(path);
  if (c.head_dim % 2 != 0)
    throw_invalid(path + ": head_dim " + std::to_string(c.head_dim) + " is odd (no RoPE pairs)");
  ParameterUnwrap unwrap;
  const c10::IValue root = read_torch_save(path, unwrap);
  if (!root.isGenericDict()) {
    throw_invalid(path + ": expected a dict of tensors at the top level, found " + root.tagKind() +
                  "; " + kReSaveHint);
  }
  at::NoGradGuard no_grad;
  // Key → tensor (fp64, CPU), the "module." prefix of DataParallel checkpoints removed.
  std::map<std::string, at::Tensor> entries;
  for (const auto& kv : root.toGenericDict()) {
    if (!kv.key().isString())
      throw_invalid(path + ": a key of the top-level dict is a " + kv.key().tagKind() +
                    ", not a string");
    std::string key = kv.key().toStringRef();
    const std::string original = key;
    if (key.compare(0, 7, "module.") == 0) key = key.substr(7);
    Slot slot;
    bool up_gate = false;
    if (!parse_reference_key(key, &slot, &up_gate)) {
      if (up_gate) {
        throw_unsupported(path + ": key '" + original +
                          "': S_up_gate needs a modified SiLU and is not supported");
      }
      throw_invalid(path + ": unknown key '" + original +
                    "' (expected R_res.weight and model.layers.{i}.R_S_modules." +
                    "{R_ov.weight.{h}, S_up_down, S_qk, S_ov, S_norm_qkv, S_norm_upgate}.weight)");
    }
    at::Tensor x;
    if (!unwrap.tensor_of(kv.value(), &x)) {
      throw_invalid(path + ": key '" + original + "' holds a " + kv.value().tagKind() +
                    ", not a tensor");
    }
    const std::string where = path + ": key '" + original + "'";
    check_slot(slot, x.sizes().vec(), c, where, /*reference=*/true);
    if (!x.is_floating_point()) throw_invalid(where + " is not a floating-point tensor");
    x = x.detach().to(at::kCPU).to(at::kDouble).contiguous();
    check_values(x, slot.kind, where);
    if (!entries.emplace(key, x).second)
      throw_invalid(where + " appears twice (with and without 'module.')");
  }
  auto take = [&](const Slot& s) {
    const std::string key = reference_key(s);
    auto it = entries.find(key);
    if (it == entries.end()) throw_invalid(path + ": missing key '" + key + "'");
    return it->second;
  };

  TransformSet t = transform_set_identity(c);
  t.r_res = take(Slot{Kind::kRRes, -1, -1});
  double worst_pair = 0.0;
  int64_t worst_layer = 0;
  for (int64_t li = 0; li < c.n_layers; ++li) {
    LayerTransforms& l = t.layers[li];
    for (int64_t h = 0; h < c.n_kv_heads; ++h) l.r_ov.push_back(take(Slot{Kind::kROv, li, h}));
    l.s_attn = take(Slot{Kind::kSAttn, li, -1});
    l.s_ffn = take(Slot{Kind::kSFfn, li, -1});
    l.s_ov = take(Slot{Kind::kSOv, li, -1});
    l.s_up_down = take(Slot{Kind::kSUpDown, li, -1});
    // S_qk [n_kv·d_h] → RoPE pairs (i, i + d_h/2) of each head tied by their geometric mean.
    const at::Tensor s = take(Slot{Kind::kSQk, li, -1}).view({c.n_kv_heads, 2, c.head_dim / 2});
    const at::Tensor a = s.select(1, 0), b = s.select(1, 1);
    l.s_qk = at::sqrt(a * b).reshape({c.kv_dim() / 2}).contiguous();
    const double mismatch = (at::maximum(a, b) / at::minimum(a, b)).max().item<double>() - 1.0;
    if (mismatch > worst_pair) {
      worst_pair = mismatch;
      worst_layer = li;
    }
  }
  t.ffn_rotation = true;
  t.qk_hadamard = false;
  t.notes.push_back("imported from the reference checkpoint " + path);
  std::ostringstream qk;
  qk << "S_qk: RoPE pairs (i, i+d_h/2) tied by their geometric mean; "
     << "largest relative pair mismatch " << worst_pair << " (max(a/b, b/a) - 1";
  if (worst_pair > 0) qk << ", layer " << worst_layer;
  qk << ")";
  t.notes.push_back(qk.str());
  t.notes.push_back(
      "merged in exact mode: S_ov on o_proj input columns, S_up_down before the H_ff fold "
      "(the reference merges W_down·H·diag(s); equal only where S_up_down is constant)");
  return t;
}

}  // namespace ostq
