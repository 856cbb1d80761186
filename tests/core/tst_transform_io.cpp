// SPDX-License-Identifier: Apache-2.0
// Saving, loading and importing transform sets (core/calib/transform_io.h): bit-exact round trips
// (torch::equal on every tensor, exact flags, seed, notes and provenance) for the stories260K shape
// and a synthetic GQA shape; every rejection names the file and, where there is one, the tensor or
// key; the temporary file is gone after a save. Import of reference checkpoints is tested on files
// written here two ways: torch::pickle_save of a dict (what LibTorch writes), and a hand-assembled
// Python-protocol-2 pickle in a torch.save() zip with nn.Parameter values and "cuda:0" storages
// (what the reference's torch.save writes). Tolerance: exact, except the geometric mean of an
// untied S_qk pair (relative 1e-15).
#include <QtTest/QtTest>

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "core/calib/transform_io.h"
#include "core/io/safetensors.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/quant/hadamard.h"
#include "core/util/file_util.h"
#include "test_data.h"

using namespace ostq;

namespace {

ModelConfig stories260k_shape() {
  // The shape of stories260K (d 64, d_ff 172, 5 layers, 8/4 heads, d_h 8) without needing the file.
  SynthOptions o;
  o.dim = 64;
  o.hidden_dim = 172;
  o.n_layers = 5;
  o.n_heads = 8;
  o.n_kv_heads = 4;
  o.vocab_size = 512;
  o.max_seq_len = 512;
  return synth_model(o)->config;
}

ModelConfig gqa_shape() {
  SynthOptions o;
  o.dim = 96;
  o.hidden_dim = 160;
  o.n_layers = 2;
  o.n_heads = 6;
  o.n_kv_heads = 2;
  o.vocab_size = 300;
  o.max_seq_len = 128;
  return synth_model(o)->config;
}

at::Tensor random_scale(int64_t n, at::Generator& gen) {
  return torch::exp(0.5 * torch::randn({n}, gen, torch::kDouble));
}

TransformSet random_full_set(const ModelConfig& c, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  TransformSet t = transform_set_identity(c);
  t.r_res = random_orthogonal(c.dim, seed);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    LayerTransforms& l = t.layers[li];
    for (int64_t h = 0; h < c.n_kv_heads; ++h)
      l.r_ov.push_back(random_orthogonal(c.head_dim, seed + 100 * li + h));
    l.s_attn = random_scale(c.dim, gen);
    l.s_ffn = random_scale(c.dim, gen);
    l.s_ov = random_scale(c.kv_dim(), gen);
    l.s_qk = random_scale(c.kv_dim() / 2, gen);
    l.s_up_down = random_scale(c.hidden_dim, gen);
  }
  t.ffn_rotation = true;
  t.qk_hadamard = true;
  t.seed = std::numeric_limits<uint64_t>::max() - 14;  // above 2^53: must survive as text exactly
  t.notes = {"R_res: learned", "unicode \xC3\xBC and \"quotes\"\nnewline", ""};
  return t;
}

bool same(const at::Tensor& a, const at::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  return !a.defined() || (a.scalar_type() == b.scalar_type() && torch::equal(a, b));
}

void verify_equal(const TransformSet& a, const TransformSet& b) {
  QVERIFY(same(a.r_res, b.r_res));
  QCOMPARE(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerTransforms &x = a.layers[i], &y = b.layers[i];
    QCOMPARE(x.r_ov.size(), y.r_ov.size());
    for (size_t h = 0; h < x.r_ov.size(); ++h) QVERIFY(same(x.r_ov[h], y.r_ov[h]));
    QVERIFY(same(x.s_attn, y.s_attn));
    QVERIFY(same(x.s_ffn, y.s_ffn));
    QVERIFY(same(x.s_ov, y.s_ov));
    QVERIFY(same(x.s_qk, y.s_qk));
    QVERIFY(same(x.s_up_down, y.s_up_down));
  }
  QCOMPARE(a.ffn_rotation, b.ffn_rotation);
  QCOMPARE(a.qk_hadamard, b.qk_hadamard);
  QCOMPARE(a.seed, b.seed);
  QCOMPARE(a.notes, b.notes);
}

// Runs fn, expects a StatusError whose message contains every string in `needles`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& needles,
                  StatusCode code = StatusCode::kInvalidInput) {
  try {
    fn();
  } catch (const StatusError& e) {
    const std::string msg = e.status().message();
    qInfo("  rejected: %s", msg.c_str());
    QCOMPARE(static_cast<int>(e.status().code()), static_cast<int>(code));
    for (const std::string& n : needles) {
      QVERIFY2(msg.find(n) != std::string::npos,
               qPrintable(QString::fromStdString("'" + n + "' not in: " + msg)));
    }
    return;
  }
  QFAIL("no StatusError thrown");
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Rewrites a valid transform file with edited metadata and/or without one tensor.
void rewrite(const std::string& from, const std::string& to,
             const std::map<std::string, std::string>& meta_edits, const std::string& drop = {}) {
  SafetensorsFile f = SafetensorsFile::open(from);
  std::map<std::string, std::string> meta = f.header().metadata;
  for (const auto& [k, v] : meta_edits) meta[k] = v;
  std::vector<TensorToWrite> tensors;
  for (const TensorInfo& i : f.header().tensors) {
    if (i.name != drop)
      tensors.push_back(TensorToWrite{i.name, i.dtype, i.shape, f.tensor_data(i), i.nbytes});
  }
  safetensors_write(to, tensors, meta);
}

// ---- reference checkpoints ----

// The §3.9 dict for `c` as fp32 tensors (what the reference trains), S_qk tied across RoPE pairs.
std::map<std::string, at::Tensor> reference_entries(const ModelConfig& c, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  std::map<std::string, at::Tensor> e;
  e["R_res.weight"] = random_orthogonal(c.dim, seed).to(torch::kFloat);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const std::string p = "model.layers." + std::to_string(li) + ".R_S_modules.";
    for (int64_t h = 0; h < c.n_kv_heads; ++h) {
      e[p + "R_ov.weight." + std::to_string(h)] =
          random_orthogonal(c.head_dim, seed + 10 * li + h).to(torch::kFloat);
    }
    e[p + "S_up_down.weight"] = random_scale(c.hidden_dim, gen).to(torch::kFloat);
    at::Tensor half =
        random_scale(c.kv_dim() / 2, gen).to(torch::kFloat).view({c.n_kv_heads, 1, c.head_dim / 2});
    e[p + "S_qk.weight"] = torch::cat({half, half}, 1).reshape({c.kv_dim()});
    e[p + "S_ov.weight"] = random_scale(c.kv_dim(), gen).to(torch::kFloat);
    e[p + "S_norm_qkv.weight"] = random_scale(c.dim, gen).to(torch::kFloat);
    e[p + "S_norm_upgate.weight"] = random_scale(c.dim, gen).to(torch::kFloat);
  }
  return e;
}

// torch::pickle_save of a c10::Dict<std::string, at::Tensor> (typed) or of a GenericDict(str, Any).
void save_with_libtorch(const std::string& path, const std::map<std::string, at::Tensor>& e,
                        bool typed, const std::string& prefix = {}) {
  c10::IValue v;
  if (typed) {
    c10::Dict<std::string, at::Tensor> d;
    for (const auto& [k, t] : e) d.insert(prefix + k, t);
    v = d;
  } else {
    c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
    for (const auto& [k, t] : e) d.insert(prefix + k, t);
    v = d;
  }
  const std::vector<char> bytes = torch::pickle_save(v);
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
}

// Python pickle protocol 2, written the way CPython's pickler writes torch.save()'s data.pkl.
class PyPickle {
 public:
  std::string bytes = "\x80\x02";
  void global(const std::string& module, const std::string& name) {
    bytes += "c" + module + "\n" + name + "\n";
  }
  void op(char c) { bytes += c; }
  void str(const std::string& s) {
    bytes += 'X';
    const uint32_t n = static_cast<uint32_t>(s.size());
    bytes.append(reinterpret_cast<const char*>(&n), 4);
    bytes += s;
  }
  void integer(int32_t v) {
    bytes += 'J';
    bytes.append(reinterpret_cast<const char*>(&v), 4);
  }
  void int_tuple(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(static_cast<int32_t>(x));
    op('t');
  }
  void empty_ordered_dict() {
    global("collections", "OrderedDict");
    op(')');
    op('R');
  }
  // torch._utils._rebuild_parameter(_rebuild_tensor_v2(storage, 0, size, stride, False,
  // OrderedDict()),
  //                                 True, OrderedDict()) over storage `key` saved on "cuda:0".
  void parameter(const at::Tensor& t, const std::string& key) {
    global("torch._utils", "_rebuild_parameter");
    op('(');
    global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(');
    str("storage");
    global("torch", "FloatStorage");
    str(key);
    str("cuda:0");
    integer(static_cast<int32_t>(t.numel()));
    op('t');
    op('Q');  // BINPERSID
    integer(0);
    int_tuple(t.sizes().vec());
    int_tuple(t.strides().vec());
    op('\x89');  // False
    empty_ordered_dict();
    op('t');
    op('R');
    op('\x88');  // requires_grad True
    empty_ordered_dict();
    op('t');
    op('R');
  }
};

// A torch.save()-style zip: data.pkl holding {key: Parameter} (a plain dict, or a collections
// .OrderedDict like a raw state_dict()), the fp32 storages under data/<n>.
void save_like_python(const std::string& path, const std::map<std::string, at::Tensor>& e,
                      bool ordered_dict) {
  PyPickle p;
  if (ordered_dict) {
    p.empty_ordered_dict();
  } else {
    p.op('}');
  }
  p.op('(');
  std::vector<at::Tensor> storages;
  for (const auto& [k, t] : e) {
    storages.push_back(t.contiguous());  // the strides written must be those of the stored bytes
    p.str(k);
    p.parameter(storages.back(), std::to_string(storages.size() - 1));
  }
  p.op('u');  // SETITEMS
  p.op('.');
  caffe2::serialize::PyTorchStreamWriter w(path);
  w.writeRecord("data.pkl", p.bytes.data(), p.bytes.size());
  for (size_t i = 0; i < storages.size(); ++i) {
    w.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(),
                  storages[i].numel() * sizeof(float));
  }
  w.writeEndOfFile();
}

void verify_import(const TransformSet& t, const std::map<std::string, at::Tensor>& e,
                   const ModelConfig& c) {
  auto d = [](const at::Tensor& x) { return x.to(torch::kDouble); };
  QVERIFY(same(t.r_res, d(e.at("R_res.weight"))));
  QCOMPARE(static_cast<int64_t>(t.layers.size()), c.n_layers);
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const std::string p = "model.layers." + std::to_string(li) + ".R_S_modules.";
    const LayerTransforms& l = t.layers[li];
    QCOMPARE(static_cast<int64_t>(l.r_ov.size()), c.n_kv_heads);
    for (int64_t h = 0; h < c.n_kv_heads; ++h)
      QVERIFY(same(l.r_ov[h], d(e.at(p + "R_ov.weight." + std::to_string(h)))));
    QVERIFY(same(l.s_attn, d(e.at(p + "S_norm_qkv.weight"))));
    QVERIFY(same(l.s_ffn, d(e.at(p + "S_norm_upgate.weight"))));
    QVERIFY(same(l.s_ov, d(e.at(p + "S_ov.weight"))));
    QVERIFY(same(l.s_up_down, d(e.at(p + "S_up_down.weight"))));
    QCOMPARE(l.s_qk.sizes().vec(), std::vector<int64_t>({c.kv_dim() / 2}));
  }
  QVERIFY(t.ffn_rotation);
  QVERIFY(!t.qk_hadamard);
}

// The first half of each head of a tied S_qk: what the import must return exactly.
at::Tensor tied_half(const at::Tensor& s_qk, const ModelConfig& c) {
  return s_qk.view({c.n_kv_heads, 2, c.head_dim / 2}).select(1, 0).reshape({-1}).to(torch::kDouble);
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += x + "\n";
  return s;
}

}  // namespace

class TestTransformIo : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void stories260kShapeMatchesTheFile() {
    OSTQ_REQUIRE_SHARED(path, "models/stories260K.bin");
    auto m = model_load(path);
    QVERIFY2(m.is_ok(), m.status().to_string().c_str());
    const ModelConfig &real = m.value()->config, shape = stories260k_shape();
    QCOMPARE(shape.dim, real.dim);
    QCOMPARE(shape.hidden_dim, real.hidden_dim);
    QCOMPARE(shape.n_layers, real.n_layers);
    QCOMPARE(shape.n_heads, real.n_heads);
    QCOMPARE(shape.n_kv_heads, real.n_kv_heads);
    QCOMPARE(shape.head_dim, real.head_dim);
  }

  void roundTripIsBitExact_data() {
    QTest::addColumn<int>("shape");
    QTest::newRow("stories260K shape") << 0;
    QTest::newRow("synthetic GQA shape") << 1;
  }
  void roundTripIsBitExact() {
    QFETCH(int, shape);
    const ModelConfig c = shape == 0 ? stories260k_shape() : gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    const TransformSet t = random_full_set(c, 17);
    const std::string provenance =
        R"({"method":"ostquant","bits":4,"steps":150,"data":"sha256:ab12"})";
    save_transform_set(path, t, c, provenance);
    std::string got_provenance;
    const TransformSet back = load_transform_set(path, c, &got_provenance);
    verify_equal(t, back);
    QCOMPARE(got_provenance, provenance);
    // Atomic write: nothing but the final file is left in the directory.
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden | QDir::System),
             QStringList({"t.safetensors"}));
  }

  void partialAndIdentitySetsRoundTrip() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    TransformSet identity = transform_set_identity(c);
    save_transform_set(path, identity, c);
    TransformSet back = load_transform_set(path, c);
    QVERIFY(back.empty());
    verify_equal(identity, back);
    // Undefined members stay undefined; one layer with R_ov only, another with S_qk only.
    TransformSet partial = transform_set_identity(c);
    partial.r_res = random_hadamard(c.dim, 3).matrix;
    partial.layers[0].r_ov = {random_orthogonal(c.head_dim, 1), random_orthogonal(c.head_dim, 2)};
    partial.layers[1].s_qk = torch::full({c.kv_dim() / 2}, 0.75, torch::kDouble);
    save_transform_set(path, partial, c);  // overwrites the previous file
    verify_equal(partial, load_transform_set(path, c));
    // An empty layers vector is saved as all-identity layers.
    TransformSet no_layers;
    save_transform_set(path, no_layers, c);
    QCOMPARE(static_cast<int64_t>(load_transform_set(path, c).layers.size()), c.n_layers);
  }

  void wrongModelShapeNamesTheTensor() {
    const ModelConfig c = stories260k_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    save_transform_set(path, random_full_set(c, 5), c);
    ModelConfig other = c;
    other.hidden_dim = 176;
    expect_error([&] { load_transform_set(path, other); },
                 {path, "layers.0.s_up_down", "[172]", "[176]"});
    other = c;
    other.dim = 72;
    other.n_heads = 9;
    other.n_kv_heads = 3;
    expect_error([&] { load_transform_set(path, other); }, {path, "r_res", "[64,64]"});
    other = c;
    other.n_layers = 4;
    expect_error([&] { load_transform_set(path, other); }, {path, "layers.4.", "out of range"});
    other = c;
    other.n_layers = 6;  // every tensor fits; the metadata shape catches it
    expect_error([&] { load_transform_set(path, other); }, {path, "n_layers=5", "n_layers=6"});
    // Saving against the wrong shape is refused the same way.
    other = c;
    other.hidden_dim = 176;
    expect_error([&] { save_transform_set(path, random_full_set(c, 5), other); },
                 {path, "layers.0.s_up_down"});
  }

  void truncatedFileNamesTheFile() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    const std::string cut = ostq_test::qstr(dir.path()) + "/cut.safetensors";
    save_transform_set(path, random_full_set(c, 5), c);
    const std::string bytes = read_file(path);
    for (size_t keep :
         {bytes.size() - 8, bytes.size() / 2, size_t(200), size_t(20), size_t(5), size_t(0)}) {
      write_bytes(cut, bytes.substr(0, keep));
      try {
        load_transform_set(cut, c);
        QFAIL(qPrintable(QString("a file cut to %1 bytes was accepted").arg(keep)));
      } catch (const StatusError& e) {
        qInfo("  cut to %zu bytes: %s", keep, e.what());
        QVERIFY(std::string(e.what()).find(cut) != std::string::npos);
      }
    }
    expect_error([&] { load_transform_set(path + ".absent", c); }, {path + ".absent"},
                 StatusCode::kIoError);
  }

  void wrongFormatTagIsRejected() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    const std::string bad = ostq_test::qstr(dir.path()) + "/bad.safetensors";
    save_transform_set(path, random_full_set(c, 5), c);
    rewrite(path, bad, {{"format", "pt"}});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "format", "'pt'", "ostq-transforms"});
    // A plain safetensors file without metadata.
    const std::vector<double> x(c.dim * c.dim, 0.0);
    safetensors_write(
        bad, {TensorToWrite{"r_res", DType::kF64, {c.dim, c.dim}, x.data(), x.size() * 8}}, {});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "format tag is absent"});
    rewrite(path, bad, {{"version", "2"}});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "version '2'"},
                 StatusCode::kUnsupported);
    rewrite(path, bad, {{"notes", "[1,2"}});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "'notes'"});
    rewrite(path, bad, {{"seed", "-1"}});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "'seed'"});
  }

  void missingOrUnknownTensorIsRejected() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    const std::string bad = ostq_test::qstr(dir.path()) + "/bad.safetensors";
    save_transform_set(path, random_full_set(c, 5), c);
    rewrite(path, bad, {}, "layers.1.s_ov");
    expect_error([&] { load_transform_set(bad, c); }, {bad, "layers.1.s_ov", "missing"});
    // One R_ov head dropped from the file and from the list: the layer is incomplete.
    SafetensorsFile f = SafetensorsFile::open(path);
    std::string listed = f.header().metadata.at("tensors");
    const std::string gone = "\"layers.0.r_ov.1\",";
    listed.erase(listed.find(gone), gone.size());
    rewrite(path, bad, {{"tensors", listed}}, "layers.0.r_ov.1");
    expect_error([&] { load_transform_set(bad, c); }, {bad, "layers.0.r_ov.1", "1 of 2"});
    // A tensor that is not part of a transform set.
    const std::vector<double> x(4, 1.0);
    safetensors_write(
        bad, {TensorToWrite{"layers.0.s_bogus", DType::kF64, {4}, x.data(), 32}},
        {{"format", "ostq-transforms"}, {"version", "1"}, {"tensors", "[\"layers.0.s_bogus\"]"}});
    expect_error([&] { load_transform_set(bad, c); }, {bad, "layers.0.s_bogus"});
  }

  void nonFiniteOrNonPositiveValuesAreRejected() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/t.safetensors";
    // Save refuses them (never writes a file load would reject) ...
    TransformSet t = random_full_set(c, 5);
    t.layers[1].s_attn[7] = std::numeric_limits<double>::quiet_NaN();
    expect_error([&] { save_transform_set(path, t, c); }, {path, "layers.1.s_attn", "non-finite"});
    t = random_full_set(c, 5);
    t.layers[0].s_up_down[3] = -1.0;
    expect_error([&] { save_transform_set(path, t, c); },
                 {path, "layers.0.s_up_down", "non-positive"});
    t = random_full_set(c, 5);
    t.r_res = t.r_res * 1.01;
    expect_error([&] { save_transform_set(path, t, c); }, {path, "r_res", "not orthogonal"});
    expect_error([&] { save_transform_set(path, random_full_set(c, 5), c, "[1]"); },
                 {path, "provenance"});
    QVERIFY(!file_exists(path));
    // ... and load finds a NaN patched into a valid file.
    save_transform_set(path, random_full_set(c, 5), c);
    uint64_t offset = 0;
    {
      SafetensorsFile f = SafetensorsFile::open(path);
      offset = f.find("layers.1.s_ffn")->data_offset + 3 * sizeof(double);
    }
    std::string bytes = read_file(path);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::memcpy(&bytes[offset], &nan, sizeof nan);
    write_bytes(path, bytes);
    expect_error([&] { load_transform_set(path, c); }, {path, "layers.1.s_ffn", "non-finite"});
  }

  void importReferenceDict_data() {
    QTest::addColumn<bool>("typed");
    QTest::addColumn<QString>("prefix");
    QTest::newRow("Dict<str,Tensor>") << true << QString();
    QTest::newRow("GenericDict(str,Any)") << false << QString();
    QTest::newRow("module. prefix") << true << QStringLiteral("module.");
  }
  void importReferenceDict() {
    QFETCH(bool, typed);
    QFETCH(QString, prefix);
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/ref.pt";
    const auto e = reference_entries(c, 9);
    save_with_libtorch(path, e, typed, ostq_test::qstr(prefix));
    const TransformSet t = import_reference_transforms(path, c);
    verify_import(t, e, c);
    // Tied pairs: the geometric mean of (a, a) is a, exactly; the note reports no mismatch.
    for (int64_t li = 0; li < c.n_layers; ++li) {
      const std::string k = "model.layers." + std::to_string(li) + ".R_S_modules.S_qk.weight";
      QVERIFY(same(t.layers[li].s_qk, tied_half(e.at(k), c)));
    }
    QVERIFY2(joined(t.notes).find("largest relative pair mismatch 0 ") != std::string::npos,
             joined(t.notes).c_str());
  }

  void importUntiedQkUsesGeometricMean() {
    const ModelConfig c = stories260k_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/ref.pt";
    auto e = reference_entries(c, 4);
    // Layer 3, KV head 2, pair 1: (1.25, 1.0), mismatch exactly 0.25; layer 1 a smaller one.
    at::Tensor s = e.at("model.layers.3.R_S_modules.S_qk.weight").clone();
    const int64_t i = 2 * c.head_dim + 1, j = i + c.head_dim / 2;
    s[i] = 1.25f;
    s[j] = 1.0f;
    e["model.layers.3.R_S_modules.S_qk.weight"] = s;
    at::Tensor s1 = e.at("model.layers.1.R_S_modules.S_qk.weight").clone();
    s1[0] = s1[0].item<float>() * 1.125f;
    e["model.layers.1.R_S_modules.S_qk.weight"] = s1;
    save_with_libtorch(path, e, true);
    const TransformSet t = import_reference_transforms(path, c);
    verify_import(t, e, c);
    const double got = t.layers[3].s_qk[2 * c.head_dim / 2 + 1].item<double>();
    QVERIFY(std::abs(got - std::sqrt(1.25)) <= 1e-15 * std::sqrt(1.25));
    QVERIFY2(
        joined(t.notes).find("mismatch 0.25 (max(a/b, b/a) - 1, layer 3)") != std::string::npos,
        joined(t.notes).c_str());
    // Unchanged pairs of that layer are still exact.
    QVERIFY(t.layers[3].s_qk[0].item<double>() ==
            e.at("model.layers.3.R_S_modules.S_qk.weight")[0].item<double>());
  }

  void importPythonTorchSave() {
    // What the reference's torch.save() writes: Python pickle protocol 2, nn.Parameter values,
    // storages saved from "cuda:0". Read with every storage mapped to the CPU.
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/ref.pt";
    const auto e = reference_entries(c, 21);
    save_like_python(path, e, false);
    verify_import(import_reference_transforms(path, c), e, c);
    // A raw state_dict() (collections.OrderedDict at the top) is beyond LibTorch 1.13's unpickler:
    // a clear error that says how to re-save.
    save_like_python(path, e, true);
    expect_error([&] { import_reference_transforms(path, c); }, {path, "re-save"});
  }

  void importRejectsBadKeys() {
    const ModelConfig c = gqa_shape();
    QTemporaryDir dir;
    const std::string path = ostq_test::qstr(dir.path()) + "/ref.pt";
    auto e = reference_entries(c, 9);
    auto missing = e;
    missing.erase("model.layers.1.R_S_modules.S_ov.weight");
    save_with_libtorch(path, missing, true);
    expect_error([&] { import_reference_transforms(path, c); },
                 {path, "missing key", "model.layers.1.R_S_modules.S_ov.weight"});
    missing = e;
    missing.erase("model.layers.0.R_S_modules.R_ov.weight.1");
    save_with_libtorch(path, missing, true);
    expect_error([&] { import_reference_transforms(path, c); },
                 {path, "model.layers.0.R_S_modules.R_ov.weight.1"});
    auto extra = e;
    extra["model.layers.0.self_attn.q_proj.weight"] = torch::zeros({4});
    save_with_libtorch(path, extra, true);
    expect_error([&] { import_reference_transforms(path, c); },
                 {path, "unknown key", "model.layers.0.self_attn.q_proj.weight"});
    extra = e;
    extra["model.layers.0.R_S_modules.R_ov.weight.2"] = torch::eye(c.head_dim);  // only 2 KV heads
    save_with_libtorch(path, extra, true);
    expect_error([&] { import_reference_transforms(path, c); },
                 {path, "R_ov.weight.2", "out of range"});
    extra = e;
    extra["model.layers.1.R_S_modules.S_up_gate.weight"] = torch::ones({c.hidden_dim});
    save_with_libtorch(path, extra, true);
    expect_error([&] { import_reference_transforms(path, c); }, {path, "S_up_gate"},
                 StatusCode::kUnsupported);
    auto wrong = e;
    wrong["model.layers.0.R_S_modules.S_qk.weight"] =
        torch::ones({c.kv_dim() / 2});  // already tied: not the reference layout
    save_with_libtorch(path, wrong, true);
    expect_error([&] { import_reference_transforms(path, c); }, {path, "S_qk.weight", "shape"});
    wrong = e;
    wrong["model.layers.1.R_S_modules.S_norm_qkv.weight"] =
        e.at("model.layers.1.R_S_modules.S_norm_qkv.weight").clone();
    wrong["model.layers.1.R_S_modules.S_norm_qkv.weight"][5] =
        std::numeric_limits<float>::infinity();
    save_with_libtorch(path, wrong, true);
    expect_error([&] { import_reference_transforms(path, c); },
                 {path, "S_norm_qkv.weight", "non-finite"});
    // Not a torch.save() file at all, and a truncated one.
    write_bytes(path, "not a zip file");
    expect_error([&] { import_reference_transforms(path, c); }, {path, "torch.save"});
    save_with_libtorch(path, e, true);
    const std::string bytes = read_file(path);
    write_bytes(path, bytes.substr(0, bytes.size() / 2));
    expect_error([&] { import_reference_transforms(path, c); }, {path});
  }
};

QTEST_GUILESS_MAIN(TestTransformIo)
#include "tst_transform_io.moc"
