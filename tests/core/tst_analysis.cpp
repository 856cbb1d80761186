// SPDX-License-Identifier: Apache-2.0
// The analysis module on stories260K (shapes, histogram and absmax consistency, the streamed
// statistics against a direct fp64 computation, the heavy-tailed down_proj input of spec §14,
// per-layer callbacks, cancel) and on a synthetic model with planted outliers (QSUR ordering
// across transform sets); the `.ostq.h5` round trip and its error paths.
#include <QtTest/QtTest>

#include <hdf5.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/analysis/analysis.h"
#include "core/analysis/analysis_h5.h"
#include "core/engine/forward.h"
#include "core/engine/runtime.h"
#include "core/eval/calibration.h"
#include "core/model/model.h"
#include "core/model/synth.h"
#include "core/util/file_util.h"
#include "test_data.h"

using namespace ostq;

namespace {

const std::vector<std::string> kSites = {"attn_input",   "key_rope",  "value",
                                         "o_proj_input", "ffn_input", "down_proj_input"};

// Records every value of one site of one layer.
class SiteRecorder : public ForwardHooks {
 public:
  SiteRecorder(int64_t layer, Site site) : layer_(layer), site_(site) {}
  void on_site(int64_t layer, Site site, at::Tensor& x) override {
    // [B, T, ...] → one row per token (key_rope / value: all heads of the token).
    if (layer == layer_ && site == site_)
      rows.push_back(x.detach().reshape({x.size(0) * x.size(1), -1}).to(at::kDouble));
  }
  at::Tensor all() const { return at::cat(rows, 0); }
  std::vector<at::Tensor> rows;

 private:
  int64_t layer_;
  Site site_;
};

// Field-by-field equality of two analyses (exact: the file stores the binary values).
#define SAME(a, b)                               \
  if (!((a) == (b))) {                           \
    *why = QStringLiteral("%1 differs at %2")    \
               .arg(QStringLiteral(#a))          \
               .arg(QString::fromStdString(at)); \
    return false;                                \
  }

bool same_stats(const TensorStats& x, const TensorStats& y, const std::string& at, QString* why) {
  SAME(x.name, y.name);
  SAME(x.kind, y.kind);
  SAME(x.rows, y.rows);
  SAME(x.channels, y.channels);
  SAME(x.channel_absmax, y.channel_absmax);
  SAME(x.row_absmax, y.row_absmax);
  SAME(x.mean, y.mean);
  SAME(x.variance, y.variance);
  SAME(x.kurtosis, y.kurtosis);
  SAME(x.pooled.mean, y.pooled.mean);
  SAME(x.pooled.variance, y.pooled.variance);
  SAME(x.pooled.kurtosis, y.pooled.kurtosis);
  SAME(x.pooled.absmax, y.pooled.absmax);
  SAME(x.histogram.range, y.histogram.range);
  SAME(x.histogram.counts, y.histogram.counts);
  SAME(x.topk_channels, y.topk_channels);
  SAME(x.topk_values, y.topk_values);
  SAME(x.median_channel_absmax, y.median_channel_absmax);
  SAME(x.outlier_ratio, y.outlier_ratio);
  SAME(x.sample_rows, y.sample_rows);
  SAME(x.sample_channels, y.sample_channels);
  SAME(x.magnitude_sample, y.magnitude_sample);
  SAME(x.has_qsur, y.has_qsur);
  const QsurResult &p = x.qsur, &q = y.qsur;
  SAME(p.d, q.d);
  SAME(p.samples, q.samples);
  SAME(p.exact_root, q.exact_root);
  SAME(p.axis_root, q.axis_root);
  SAME(p.log_exact, q.log_exact);
  SAME(p.log_axis, q.log_axis);
  SAME(p.log_det, q.log_det);
  SAME(p.lambda_max, q.lambda_max);
  SAME(p.qmax_inf, q.qmax_inf);
  SAME(p.max_var, q.max_var);
  SAME(p.rank_deficient, q.rank_deficient);
  SAME(p.alpha, q.alpha);
  SAME(p.c, q.c);
  SAME(p.center, q.center);
  return true;
}

bool same_analysis(const Analysis& a, const Analysis& b, QString* why) {
  std::string at = "info";
  const AnalysisInfo &x = a.info, &y = b.info;
  SAME(x.model_path, y.model_path);
  SAME(x.model_name, y.model_name);
  SAME(x.config_summary, y.config_summary);
  SAME(x.config_json, y.config_json);
  SAME(x.dtype, y.dtype);
  SAME(x.n_layers, y.n_layers);
  SAME(x.dim, y.dim);
  SAME(x.hidden_dim, y.hidden_dim);
  SAME(x.parameters, y.parameters);
  SAME(x.data_path, y.data_path);
  SAME(x.tokenizer_path, y.tokenizer_path);
  SAME(x.windows, y.windows);
  SAME(x.seqlen, y.seqlen);
  SAME(x.transform, y.transform);
  SAME(x.seed, y.seed);
  SAME(x.smooth_alpha, y.smooth_alpha);
  SAME(x.transform_notes, y.transform_notes);
  SAME(x.histogram_bins, y.histogram_bins);
  SAME(x.top_k, y.top_k);
  SAME(x.sample_tokens, y.sample_tokens);
  SAME(x.residual_sites, y.residual_sites);
  SAME(x.qsur.alpha, y.qsur.alpha);
  SAME(x.qsur.eig_floor, y.qsur.eig_floor);
  SAME(x.qsur.center, y.qsur.center);
  SAME(x.created, y.created);
  SAME(x.ostq_version, y.ostq_version);
  SAME(x.seconds, y.seconds);
  SAME(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerAnalysis &l = a.layers[i], &m = b.layers[i];
    at = "layer " + std::to_string(i);
    SAME(l.layer, m.layer);
    SAME(l.capture_seconds, m.capture_seconds);
    SAME(l.weight_seconds, m.weight_seconds);
    SAME(l.qsur_seconds, m.qsur_seconds);
    SAME(l.sites.size(), m.sites.size());
    SAME(l.weights.size(), m.weights.size());
    for (size_t k = 0; k < l.sites.size(); ++k) {
      if (!same_stats(l.sites[k], m.sites[k], at + " " + l.sites[k].name, why)) return false;
    }
    for (size_t k = 0; k < l.weights.size(); ++k) {
      if (!same_stats(l.weights[k], m.weights[k], at + " " + l.weights[k].name, why)) return false;
    }
  }
  at = "comparison";
  SAME(a.comparison.transforms, b.comparison.transforms);
  SAME(a.comparison.rows.size(), b.comparison.rows.size());
  for (size_t k = 0; k < a.comparison.rows.size(); ++k) {
    const QsurComparison::Row &r = a.comparison.rows[k], &s = b.comparison.rows[k];
    SAME(r.layer, s.layer);
    SAME(r.name, s.name);
    SAME(r.kind, s.kind);
    SAME(r.d, s.d);
    SAME(r.exact_root, s.exact_root);
    SAME(r.axis_root, s.axis_root);
  }
  return true;
}

std::shared_ptr<Model> outlier_model() {
  SynthOptions s;
  s.dim = 256;
  s.hidden_dim = 768;
  s.n_layers = 2;
  s.n_heads = 8;
  s.n_kv_heads = 4;  // GQA
  s.vocab_size = 512;
  s.max_seq_len = 256;
  s.outliers = 4;
  s.outlier_scale = 32.0;
  s.seed = 3;
  return synth_model(s);
}

at::Tensor random_windows(int64_t n, int64_t t, int64_t vocab, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return torch::randint(3, vocab, {n, t}, gen, torch::kLong);
}

}  // namespace

class TestAnalysis : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    runtime_init();
    const std::string model_path = ostq_test::shared_path("models/stories260K.bin");
    const std::string tok_path = ostq_test::shared_path("models/tok512.bin");
    const std::string data_path = ostq_test::shared_path("data/tinystories_val.txt");
    if (!file_exists(model_path) || !file_exists(tok_path) || !file_exists(data_path)) return;
    auto m = model_load(model_path);
    QVERIFY2(m.is_ok(), m.status().to_string().c_str());
    model_ = m.value();
    auto tok = tokenizer_load(tok_path, 512);
    QVERIFY2(tok.is_ok(), tok.status().to_string().c_str());
    std::vector<int32_t> ids = tokenize_text_file(*tok.value(), data_path, TextProtocol::kPlain);
    windows_ = consecutive_windows(ids, 0, static_cast<int64_t>(ids.size()), 256, 4);
    QCOMPARE(windows_.size(0), int64_t{4});
  }

  void captureStories260K() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    if (!model_) QSKIP("stories260K, tok512.bin or tinystories_val.txt absent");
    AnalysisOptions o;
    o.capture.batch = 3;  // uneven batches: 3 + 1 windows
    std::vector<int64_t> seen;
    Result<Analysis> r = run_analysis(*model_, windows_, o, {},
                                      [&](const LayerAnalysis& l) { seen.push_back(l.layer); });
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    const Analysis& a = r.value();
    const ModelConfig& c = model_->config;
    QCOMPARE(seen, (std::vector<int64_t>{0, 1, 2, 3, 4}));
    QCOMPARE(static_cast<int64_t>(a.layers.size()), c.n_layers);
    const int64_t tokens = windows_.numel();
    const std::map<std::string, int64_t> channels = {
        {"attn_input", c.dim},       {"key_rope", c.kv_dim()}, {"value", c.kv_dim()},
        {"o_proj_input", c.q_dim()}, {"ffn_input", c.dim},     {"down_proj_input", c.hidden_dim}};
    for (const LayerAnalysis& l : a.layers) {
      QCOMPARE(l.sites.size(), kSites.size());
      double down_kurtosis = 0.0, other_kurtosis = 0.0;
      for (size_t k = 0; k < kSites.size(); ++k) {
        const TensorStats& s = l.sites[k];
        QCOMPARE(s.name, kSites[k]);
        QCOMPARE(s.channels, channels.at(s.name));
        QCOMPARE(s.rows, tokens);
        QCOMPARE(static_cast<int64_t>(s.row_absmax.size()), tokens);
        QCOMPARE(static_cast<int64_t>(s.channel_absmax.size()), s.channels);
        QCOMPARE(static_cast<int64_t>(s.kurtosis.size()), s.channels);
        QCOMPARE(static_cast<int64_t>(s.histogram.counts.size()), int64_t{128});
        QCOMPARE(s.histogram.total(), tokens * s.channels);
        const float cmax = *std::max_element(s.channel_absmax.begin(), s.channel_absmax.end());
        const float tmax = *std::max_element(s.row_absmax.begin(), s.row_absmax.end());
        QCOMPARE(cmax, tmax);
        QCOMPARE(static_cast<double>(cmax), s.pooled.absmax);
        QVERIFY(s.histogram.range >= cmax && s.histogram.range < 2.0 * cmax);
        QCOMPARE(s.topk_values.front(), cmax);
        QVERIFY(std::is_sorted(s.topk_values.rbegin(), s.topk_values.rend()));
        QCOMPARE(s.sample_rows, int64_t{128});
        QCOMPARE(static_cast<int64_t>(s.sample_channels.size()), s.channels);
        for (size_t i = 0; i < s.magnitude_sample.size(); ++i) {
          QVERIFY(s.magnitude_sample[i] >= 0.0f &&
                  s.magnitude_sample[i] <= s.channel_absmax[i % s.channels]);
        }
        QVERIFY(s.has_qsur);
        QCOMPARE(s.qsur.d, s.channels);
        QVERIFY(s.qsur.exact_root > 0.0 && s.qsur.exact_root < 1.0 && !s.qsur.rank_deficient);
        QVERIFY(std::isfinite(s.qsur.axis_root) && s.qsur.axis_root > 0.0);
        if (s.name == "down_proj_input") {
          down_kurtosis = s.pooled.kurtosis;
        } else {
          other_kurtosis = std::max(other_kurtosis, s.pooled.kurtosis);
        }
      }
      // Spec §14: the down_proj input is the only heavy-tailed site (kurtosis 26–84; others 3–6,
      // key 6–7).
      QVERIFY2(down_kurtosis > 15.0 && down_kurtosis > 2.0 * other_kurtosis,
               qPrintable(QStringLiteral("layer %1: down %2, others max %3")
                              .arg(l.layer)
                              .arg(down_kurtosis)
                              .arg(other_kurtosis)));
      QCOMPARE(l.weights.size(), size_t{7});
      const LayerWeights& lw = model_->weights.layers[l.layer];
      for (const auto& [name, w] :
           std::vector<std::pair<std::string, at::Tensor>>{{"q_proj", lw.wq},
                                                           {"k_proj", lw.wk},
                                                           {"v_proj", lw.wv},
                                                           {"o_proj", lw.wo},
                                                           {"gate_proj", lw.w_gate},
                                                           {"up_proj", lw.w_up},
                                                           {"down_proj", lw.w_down}}) {
        const TensorStats* s = l.weight(name);
        QVERIFY(s != nullptr);
        QCOMPARE(s->rows, w.size(0));
        QCOMPARE(s->channels, w.size(1));
        QCOMPARE(s->histogram.total(), w.numel());
        QCOMPARE(s->histogram.range, w.abs().max().item<double>());
        QCOMPARE(static_cast<double>(*std::max_element(s->row_absmax.begin(), s->row_absmax.end())),
                 s->pooled.absmax);
        QVERIFY(s->has_qsur && std::isfinite(s->qsur.log_exact));
        // Fewer rows than input columns (k/v: 32 × 64, down: 64 × 172): flagged, floored, finite.
        // Centred rows span at most rows − 1 dimensions: q/o 64 × 64, k/v 32 × 64, down 64 × 172
        // are flagged (eigenvalues floored, finite); gate/up 172 × 64 are not.
        QCOMPARE(s->qsur.rank_deficient, w.size(0) - 1 < w.size(1));
      }
    }
    QCOMPARE(a.qsur_table().size(), size_t{5 * 13});
  }

  void streamedStatisticsMatchDirect_data() {
    QTest::addColumn<int>("layer");
    QTest::addColumn<int>("site");
    QTest::newRow("layer 0 attn_input") << 0 << static_cast<int>(Site::kAttnInput);
    QTest::newRow("layer 3 down_proj_input") << 3 << static_cast<int>(Site::kDownProjInput);
    QTest::newRow("layer 4 key_rope") << 4 << static_cast<int>(Site::kKeyRope);
  }
  void streamedStatisticsMatchDirect() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    if (!model_) QSKIP("stories260K, tok512.bin or tinystories_val.txt absent");
    QFETCH(int, layer);
    QFETCH(int, site);
    CaptureOptions co;
    co.batch = 2;
    co.weights = false;
    ActivationCapture capture(*model_, windows_, co);
    LayerAnalysis l;
    for (int i = 0; i <= layer; ++i) {
      Result<LayerAnalysis> r = capture.capture_next();
      QVERIFY2(r.is_ok(), r.status().to_string().c_str());
      l = std::move(r).value();
    }
    QCOMPARE(capture.next_layer(), int64_t{layer + 1});
    const TensorStats* s = l.site(site_name(static_cast<Site>(site)));
    QVERIFY(s != nullptr);
    // Direct: the full forward with a recording hook, everything in fp64.
    SiteRecorder rec(layer, static_cast<Site>(site));
    ForwardOptions fo;
    fo.hooks = &rec;
    {
      torch::NoGradGuard g;
      model_forward(*model_, windows_, fo);
    }
    at::Tensor x = rec.all();
    QCOMPARE(x.size(0), s->rows);
    at::Tensor mean = x.mean(0), var = (x - mean).pow(2).mean(0);
    at::Tensor kurt = (x - mean).pow(4).mean(0) / var.pow(2);
    auto vec = [](const std::vector<double>& v) { return torch::tensor(v, torch::kDouble); };
    const double scale = var.max().item<double>();
    QVERIFY((vec(s->mean) - mean).abs().max().item<double>() < 1e-5 * std::sqrt(scale));
    QVERIFY(((vec(s->variance) - var).abs() / var).max().item<double>() < 1e-4);
    QVERIFY(((vec(s->kurtosis) - kurt).abs() / kurt).max().item<double>() < 1e-3);
    at::Tensor amax = torch::tensor(s->channel_absmax, torch::kFloat).to(torch::kDouble);
    QVERIFY((amax - x.abs().amax(0)).abs().max().item<double>() < 1e-5 * amax.max().item<double>());
    QsurResult direct = qsur_from_samples(x);
    QVERIFY2(std::fabs(s->qsur.exact_root / direct.exact_root - 1.0) < 1e-4,
             qPrintable(QStringLiteral("%1 vs %2").arg(s->qsur.exact_root).arg(direct.exact_root)));
    QVERIFY(std::fabs(s->qsur.axis_root / direct.axis_root - 1.0) < 1e-4);
  }

  void cancelGivesCancelledAndNoFile() {
    OSTQ_REQUIRE_SHARED(model_path, "models/stories260K.bin");
    if (!model_) QSKIP("stories260K, tok512.bin or tinystories_val.txt absent");
    QTemporaryDir tmp;
    const std::string out = ostq_test::qstr(tmp.path()) + "/cancelled.ostq.h5";
    int calls = 0;
    int layers_done = 0;
    ProgressFn cancel_soon = [&](const Progress&) { return ++calls < 6; };
    AnalysisOptions o;
    o.capture.batch = 1;
    Result<Analysis> r = run_analysis(*model_, windows_, o, cancel_soon,
                                      [&](const LayerAnalysis&) { ++layers_done; });
    QVERIFY(!r.is_ok());
    QVERIFY2(r.status().is_cancelled(), r.status().to_string().c_str());
    QVERIFY(layers_done >= 1 && layers_done < 5);
    // The front ends save only a finished analysis: nothing at the output path, no temporaries.
    if (r.is_ok()) QVERIFY(analysis_save(r.value(), out).is_ok());
    QVERIFY(!file_exists(out));
    QVERIFY(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden).isEmpty());
    // A capture that was cancelled part-way refuses to continue.
    ActivationCapture capture(*model_, windows_, CaptureOptions{});
    QVERIFY(capture.capture_next([](const Progress&) { return false; }).status().is_cancelled());
    QCOMPARE(capture.capture_next().status().code(), StatusCode::kInternal);
  }

  void h5RoundTrip() {
    auto model = outlier_model();
    at::Tensor tokens = random_windows(3, 64, 512, 11);
    AnalysisOptions o;
    o.transform = "rotate";
    o.data_path = "synthetic";
    o.tokenizer_path = "none";
    o.capture.residual_sites = true;
    o.capture.sample_tokens = 50;
    o.capture.sample_channels = 100;  // strided + top-k channels
    Result<Analysis> r = run_analysis(*model, tokens, o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    Analysis a = std::move(r).value();
    QVERIFY(!a.info.transform_notes.empty());
    QCOMPARE(a.layers[0].sites.size(), size_t{8});
    Result<QsurComparison> c = compare_transforms(*model, tokens, {"none", "rotate"}, o);
    QVERIFY2(c.is_ok(), c.status().to_string().c_str());
    a.comparison = std::move(c).value();
    QTemporaryDir tmp;
    const std::string path = ostq_test::qstr(tmp.path()) + "/synthetic.ostq.h5";
    Status st = analysis_save(a, path);
    QVERIFY2(st.is_ok(), st.to_string().c_str());
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files).size(), 1);  // no temporary left
    Result<Analysis> b = analysis_load(path);
    QVERIFY2(b.is_ok(), b.status().to_string().c_str());
    QString why;
    QVERIFY2(same_analysis(a, b.value(), &why), qPrintable(why));
    QCOMPARE(b->qsur_table().size(), a.qsur_table().size());
    // Arrays are chunked and deflate-compressed.
    {
      hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
      hid_t ds = H5Dopen2(f, "/layers/1/sites/down_proj_input/magnitude_sample", H5P_DEFAULT);
      QVERIFY(ds >= 0);
      hid_t dcpl = H5Dget_create_plist(ds);
      bool deflate = false;
      for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
        unsigned flags = 0;
        size_t n = 0;
        deflate = deflate || H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &n, nullptr, 0,
                                            nullptr, nullptr) == H5Z_FILTER_DEFLATE;
      }
      QCOMPARE(H5Pget_layout(dcpl), H5D_CHUNKED);
      H5Pclose(dcpl);
      H5Dclose(ds);
      H5Fclose(f);
      QVERIFY(deflate);
    }
    // Overwriting an existing file is atomic too.
    QVERIFY(analysis_save(b.value(), path).is_ok());
    QVERIFY(analysis_load(path).is_ok());
  }

  void h5ErrorsNameTheFile() {
    auto model = outlier_model();
    AnalysisOptions o;
    o.capture.weights = false;
    Result<Analysis> r = run_analysis(*model, random_windows(1, 32, 512, 2), o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path());
    const std::string good = dir + "/good.ostq.h5";
    QVERIFY(analysis_save(r.value(), good).is_ok());
    auto expect = [&](const std::string& path, StatusCode code, const char* words) {
      Result<Analysis> l = analysis_load(path);
      QVERIFY(!l.is_ok());
      QCOMPARE(l.status().code(), code);
      QVERIFY2(l.status().message().find(path) != std::string::npos, l.status().message().c_str());
      QVERIFY2(l.status().message().find(words) != std::string::npos, l.status().message().c_str());
    };
    expect(dir + "/absent.ostq.h5", StatusCode::kIoError, "no such file");
    const std::string text = dir + "/text.ostq.h5";
    std::ofstream(text) << "not an HDF5 file at all\n";
    expect(text, StatusCode::kInvalidInput, "not an HDF5 file");
    // Truncated copies: at half, and just past the superblock.
    const std::string bytes = read_file(good);
    for (size_t keep : {bytes.size() / 2, size_t{600}}) {
      const std::string cut = dir + "/cut" + std::to_string(keep) + ".ostq.h5";
      std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
      expect(cut, StatusCode::kInvalidInput, "corrupt");
    }
    // A newer format version.
    const std::string newer = dir + "/newer.ostq.h5";
    std::filesystem::copy_file(good, newer);
    {
      hid_t f = H5Fopen(newer.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      QVERIFY(f >= 0);
      hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
      const int64_t v = 99;
      QVERIFY(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
      H5Aclose(a);
      H5Fclose(f);
    }
    expect(newer, StatusCode::kUnsupported, "version 99");
    // Some other HDF5 file.
    const std::string other = dir + "/other.h5";
    H5Fclose(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    expect(other, StatusCode::kInvalidInput, "not an OSTQ analysis");
    // A missing group.
    const std::string gutted = dir + "/gutted.ostq.h5";
    std::filesystem::copy_file(good, gutted);
    {
      hid_t f = H5Fopen(gutted.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      QVERIFY(H5Ldelete(f, "/layers/1/sites/ffn_input", H5P_DEFAULT) >= 0);
      H5Fclose(f);
    }
    expect(gutted, StatusCode::kInvalidInput, "/layers/1/sites/ffn_input");
    // Saving into a missing directory fails cleanly.
    Status st = analysis_save(r.value(), dir + "/no/such/dir/x.ostq.h5");
    QCOMPARE(st.code(), StatusCode::kIoError);
  }

  void plantedOutliersQsurOrdering() {
    // Planted outliers (synth.h): 4 residual channels with RMSNorm gains ×32 (so the q/k/v and
    // gate/up inputs carry them) and 4 FFN channels with up rows ×32 (the down_proj input).
    auto model = outlier_model();
    at::Tensor tokens = random_windows(8, 128, 512, 5);  // 1024 tokens > d_ff = 768: full rank
    AnalysisOptions o;
    o.capture.weights = false;
    const std::vector<std::string> sets = {"none", "smooth", "rotate", "rotate+smooth",
                                           "rotate+equalize"};
    Result<QsurComparison> r = compare_transforms(*model, tokens, sets, o);
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    const QsurComparison& c = r.value();
    const int none = c.column("none"), smooth = c.column("smooth"), rot = c.column("rotate"),
              rot_smooth = c.column("rotate+smooth"), rot_eq = c.column("rotate+equalize");
    for (int64_t layer = 0; layer < 2; ++layer) {
      for (const char* site : {"attn_input", "ffn_input", "down_proj_input"}) {
        const QsurComparison::Row* row = c.find(layer, site);
        QVERIFY(row != nullptr);
        const auto& e = row->exact_root;
        qInfo(
            "layer %lld %-16s QSUR^(1/d) exact: none %.4f smooth %.4f rotate %.4f rotate+smooth "
            "%.4f "
            "rotate+equalize %.4f | axis: none %.4f rotate %.4f",
            static_cast<long long>(layer), site, e[none], e[smooth], e[rot], e[rot_smooth],
            e[rot_eq], row->axis_root[none], row->axis_root[rot]);
        // Rotation (with the norm gains folded) spreads the planted channels: a large rise.
        QVERIFY(e[rot] > 5.0 * e[none]);
        QVERIFY(row->axis_root[rot] > 5.0 * row->axis_root[none]);
        if (std::string(site) == "down_proj_input") {
          // S_attn / S_ffn do not reach the down_proj input; only H_ff acts there.
          QVERIFY(std::fabs(e[rot_smooth] / e[rot] - 1.0) < 1e-3);
          continue;
        }
        // attn_input / ffn_input, where S_attn / S_ffn act. Smoothing that equalises the diagonal
        // after the rotation raises the exact form (spec §2.3: QSUR_exact ∝ sqrt(det Σ)/max_j
        // Σ_jj^{d/2}; s_j = σ_j multiplies it by Π_j max σ / σ_j ≥ 1).
        QVERIFY2(e[rot_eq] > e[rot],
                 qPrintable(QStringLiteral("%1 vs %2").arg(e[rot_eq]).arg(e[rot])));
        // SmoothQuant (α = 0.5) balances activation against weight ranges instead: it still beats
        // no transform by far, but its weight-dependent scales unequalise the rotated diagonal.
        QVERIFY(e[smooth] > 5.0 * e[none] && e[rot_smooth] > 5.0 * e[none]);
        QVERIFY(e[rot_eq] >= e[rot_smooth]);
      }
    }
  }

 private:
  std::shared_ptr<Model> model_;
  at::Tensor windows_;
};

QTEST_GUILESS_MAIN(TestAnalysis)
#include "tst_analysis.moc"
