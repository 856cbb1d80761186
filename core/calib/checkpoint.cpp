// SPDX-License-Identifier: Apache-2.0
// Stored with LibTorch's pickler (the torch.save payload format): a dict {"format", "meta",
// "tensors"}; readable from Python with torch.load for inspection.
#include "core/calib/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/types.h>

#include "core/util/file_util.h"
#include "core/util/status.h"

namespace ostq {

namespace {
constexpr const char* kFormatTag = "ostq-training-checkpoint-1";
}

void checkpoint_save(const std::string& path, const TrainingCheckpoint& checkpoint) {
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& [name, t] : checkpoint.tensors) tensors.insert(name, t.detach().contiguous());
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert(std::string("format"), std::string(kFormatTag));
  root.insert(std::string("meta"), checkpoint.meta_json);
  root.insert(std::string("tensors"), tensors);
  std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(root));
  AtomicFile out(path, bytes.size());
  out.write(bytes.data(), bytes.size());
  out.commit();
}

TrainingCheckpoint checkpoint_load(const std::string& path) {
  std::string raw = read_file(path);
  c10::IValue value;
  try {
    value = torch::jit::pickle_load(std::vector<char>(raw.begin(), raw.end()));
  } catch (const std::exception& e) {
    throw_invalid(path + ": not a readable training checkpoint (truncated or corrupt): " +
                  std::string(e.what()).substr(0, 200));
  }
  auto fail = [&](const std::string& what) { throw_invalid(path + ": not a training checkpoint of ours (" + what + ")"); };
  if (!value.isGenericDict()) fail("top level is not a dict");
  c10::impl::GenericDict root = value.toGenericDict();
  auto get = [&](const char* key) -> c10::IValue {
    auto it = root.find(std::string(key));
    if (it == root.end()) fail(std::string("no '") + key + "'");
    return it->value();
  };
  c10::IValue tag = get("format");
  if (!tag.isString() || tag.toStringRef() != kFormatTag) fail("format tag");
  c10::IValue meta = get("meta");
  if (!meta.isString()) fail("meta is not a string");
  c10::IValue tensors = get("tensors");
  if (!tensors.isGenericDict()) fail("tensors is not a dict");
  TrainingCheckpoint ck;
  ck.meta_json = meta.toStringRef();
  for (const auto& entry : tensors.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) fail("a tensor entry has the wrong type");
    ck.tensors[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return ck;
}

}  // namespace ostq
