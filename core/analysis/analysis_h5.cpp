// SPDX-License-Identifier: Apache-2.0
// See Note [ostq.h5 layout] in analysis_h5.h.
#include "core/analysis/analysis_h5.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "core/analysis/h5_io.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

using h5::ArrayInfo;
using h5::Handle;

constexpr const char* kFormat = "ostq-analysis";

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int64_t b2i(bool b) { return b ? 1 : 0; }

// ---- save ------------------------------------------------------------------------------------

void write_tensor_stats(const h5::Writer& w, hid_t parent, const TensorStats& s,
                        const AnalysisInfo& info, const std::string& where) {
  Handle g = w.group(parent, s.name, where);
  const bool act = s.kind == TensorKind::kActivation;
  w.attr(g, "kind", std::string(tensor_kind_name(s.kind)), where);
  w.attr(g, "rows", s.rows, where);
  w.attr(g, "channels", s.channels, where);
  w.attr(g, "absmax", s.pooled.absmax, where);
  w.attr(g, "pooled_mean", s.pooled.mean, where);
  w.attr(g, "pooled_variance", s.pooled.variance, where);
  w.attr(g, "pooled_kurtosis", s.pooled.kurtosis, where);
  w.attr(g, "median_channel_absmax", s.median_channel_absmax, where);
  w.attr(g, "outlier_ratio", s.outlier_ratio, where);
  w.attr(g, "histogram_range", s.histogram.range, where);
  w.attr(g, "sample_rows", s.sample_rows, where);
  w.attr(g, "has_qsur", b2i(s.has_qsur), where);
  if (s.has_qsur) {
    const QsurResult& q = s.qsur;
    w.attr(g, "qsur_d", q.d, where);
    w.attr(g, "qsur_samples", q.samples, where);
    w.attr(g, "qsur_exact_root", q.exact_root, where);
    w.attr(g, "qsur_axis_root", q.axis_root, where);
    w.attr(g, "qsur_log_exact", q.log_exact, where);
    w.attr(g, "qsur_log_axis", q.log_axis, where);
    w.attr(g, "qsur_log_det", q.log_det, where);
    w.attr(g, "qsur_lambda_max", q.lambda_max, where);
    w.attr(g, "qsur_qmax_inf", q.qmax_inf, where);
    w.attr(g, "qsur_max_var", q.max_var, where);
    w.attr(g, "qsur_rank_deficient", b2i(q.rank_deficient), where);
    w.attr(g, "qsur_alpha", q.alpha, where);
    w.attr(g, "qsur_c", q.c, where);
    w.attr(g, "qsur_center", b2i(q.center), where);
  }
  const hsize_t c = static_cast<hsize_t>(s.channels);
  const char* unit = act ? "activation value" : "weight value";
  w.array(g, "channel_absmax", s.channel_absmax.data(), {c},
          {unit, "[channels]", "max |x| per channel over all rows"}, where);
  const hsize_t rows = s.row_absmax.size();
  if (act && info.windows > 0 && static_cast<int64_t>(rows) == info.windows * info.seqlen) {
    w.array(g, "token_absmax", s.row_absmax.data(),
            {static_cast<hsize_t>(info.windows), static_cast<hsize_t>(info.seqlen)},
            {unit, "[windows, seqlen]", "max |x| per token over channels"}, where);
  } else {
    w.array(g, act ? "token_absmax" : "row_absmax", s.row_absmax.data(), {rows},
            {unit, "[rows]",
             act ? "max |x| per token over channels (window-major)" : "max |w| per output row"},
            where);
  }
  w.array(g, "mean", s.mean.data(), {s.mean.size()}, {unit, "[channels]", "mean per channel"},
          where);
  w.array(g, "var", s.variance.data(), {s.variance.size()},
          {"squared value", "[channels]", "population variance per channel"}, where);
  w.array(
      g, "kurtosis", s.kurtosis.data(), {s.kurtosis.size()},
      {"1", "[channels]", "Pearson kurtosis per channel (Gaussian 3; 0 for a constant channel)"},
      where);
  w.array(g, "histogram", s.histogram.counts.data(), {s.histogram.counts.size()},
          {"count", "[bins]",
           "counts of all values in equal bins over [-histogram_range, histogram_range]"},
          where);
  const std::vector<double> edges = s.histogram.edges();
  w.array(g, "hist_edges", edges.data(), {s.histogram.counts.empty() ? 0 : edges.size()},
          {unit, "[bins + 1]", "bin edges"}, where);
  w.array(g, "topk_channels", s.topk_channels.data(), {s.topk_channels.size()},
          {"channel index", "[k]", "channels with the largest absmax, descending"}, where);
  w.array(g, "topk_values", s.topk_values.data(), {s.topk_values.size()},
          {unit, "[k]", "their absmax"}, where);
  const hsize_t sc = s.sample_channels.size();
  if (sc > 0 && s.sample_rows > 0) {
    w.array(g, "magnitude_sample", s.magnitude_sample.data(),
            {static_cast<hsize_t>(s.sample_rows), sc},
            {unit, "[sample_rows, sample channels]", "|x| of the first rows at sample_channels"},
            where);
    w.array(g, "sample_channels", s.sample_channels.data(), {sc},
            {"channel index", "[sample channels]", "columns of magnitude_sample"}, where);
  }
}

void write_analysis(const Analysis& a, const std::string& file, hid_t f) {
  h5::Writer w(file);
  const AnalysisInfo& i = a.info;
  w.attr(f, "format", std::string(kFormat), "/");
  w.attr(f, "format_version", int64_t{kAnalysisFormatVersion}, "/");
  w.attr(f, "created", i.created, "/");
  w.attr(f, "ostq_version", i.ostq_version, "/");
  {
    Handle m = w.group(f, "model", "/model");
    w.attr(m, "path", i.model_path, "/model");
    w.attr(m, "name", i.model_name, "/model");
    w.attr(m, "config_summary", i.config_summary, "/model");
    w.attr(m, "config_json", i.config_json, "/model");
    w.attr(m, "dtype", i.dtype, "/model");
    w.attr(m, "n_layers", i.n_layers, "/model");
    w.attr(m, "dim", i.dim, "/model");
    w.attr(m, "hidden_dim", i.hidden_dim, "/model");
    w.attr(m, "parameters", i.parameters, "/model");
  }
  {
    const std::string p = "/settings";
    Handle s = w.group(f, "settings", p);
    w.attr(s, "data_path", i.data_path, p);
    w.attr(s, "tokenizer_path", i.tokenizer_path, p);
    w.attr(s, "windows", i.windows, p);
    w.attr(s, "seqlen", i.seqlen, p);
    w.attr(s, "transform", i.transform, p);
    w.attr_u64(s, "seed", i.seed, p);
    w.attr(s, "smooth_alpha", i.smooth_alpha, p);
    w.attr(s, "histogram_bins", i.histogram_bins, p);
    w.attr(s, "top_k", i.top_k, p);
    w.attr(s, "sample_tokens", i.sample_tokens, p);
    w.attr(s, "residual_sites", b2i(i.residual_sites), p);
    w.attr(s, "qsur_alpha", i.qsur.alpha, p);
    w.attr(s, "qsur_eig_floor", i.qsur.eig_floor, p);
    w.attr(s, "qsur_center", b2i(i.qsur.center), p);
    w.attr(s, "seconds", i.seconds, p);
    w.strings(s, "transform_notes", i.transform_notes, p);
  }
  {
    Handle layers = w.group(f, "layers", "/layers");
    w.attr(layers, "count", static_cast<int64_t>(a.layers.size()), "/layers");
    for (size_t li = 0; li < a.layers.size(); ++li) {
      const LayerAnalysis& l = a.layers[li];
      const std::string p = "/layers/" + std::to_string(li);
      Handle g = w.group(layers, std::to_string(li), p);
      w.attr(g, "layer", l.layer, p);
      w.attr(g, "capture_seconds", l.capture_seconds, p);
      w.attr(g, "weight_seconds", l.weight_seconds, p);
      w.attr(g, "qsur_seconds", l.qsur_seconds, p);
      for (const auto& [group_name, list] :
           {std::pair<const char*, const std::vector<TensorStats>*>{"sites", &l.sites},
            {"weights", &l.weights}}) {
        const std::string gp = p + "/" + group_name;
        Handle sg = w.group(g, group_name, gp);
        std::vector<std::string> names;
        for (const TensorStats& s : *list) names.push_back(s.name);
        w.attr(sg, "names", join(names), gp);
        for (const TensorStats& s : *list) write_tensor_stats(w, sg, s, i, gp + "/" + s.name);
      }
    }
  }
  {
    const std::vector<QsurRow> rows = a.qsur_table();
    Handle q = w.group(f, "qsur", "/qsur");
    std::vector<int64_t> layer, d, samples, rank;
    std::vector<std::string> name, kind;
    std::vector<double> er, ar, le, la;
    for (const QsurRow& r : rows) {
      layer.push_back(r.layer);
      name.push_back(r.name);
      kind.push_back(tensor_kind_name(r.kind));
      d.push_back(r.d);
      samples.push_back(r.samples);
      er.push_back(r.exact_root);
      ar.push_back(r.axis_root);
      le.push_back(r.log_exact);
      la.push_back(r.log_axis);
      rank.push_back(b2i(r.rank_deficient));
    }
    const hsize_t n = rows.size();
    w.attr(q, "rows", static_cast<int64_t>(n), "/qsur");
    w.array(q, "layer", layer.data(), {n}, {"layer index", "[rows]", ""}, "/qsur");
    w.strings(q, "name", name, "/qsur");
    w.strings(q, "kind", kind, "/qsur");
    w.array(q, "d", d.data(), {n}, {"channels", "[rows]", "dimension"}, "/qsur");
    w.array(q, "samples", samples.data(), {n},
            {"rows", "[rows]", "samples behind the Gaussian fit"}, "/qsur");
    w.array(q, "exact_root", er.data(), {n},
            {"1", "[rows]", "QSUR^(1/d), exact per-coordinate form"}, "/qsur");
    w.array(q, "axis_root", ar.data(), {n}, {"1", "[rows]", "QSUR^(1/d), principal-axis form"},
            "/qsur");
    w.array(q, "log_exact", le.data(), {n}, {"nat", "[rows]", "ln QSUR, exact form"}, "/qsur");
    w.array(q, "log_axis", la.data(), {n}, {"nat", "[rows]", "ln QSUR, axis form"}, "/qsur");
    w.array(q, "rank_deficient", rank.data(), {n}, {"bool", "[rows]", "eigenvalue floor applied"},
            "/qsur");
  }
  if (!a.comparison.empty()) {
    const QsurComparison& c = a.comparison;
    Handle g = w.group(f, "comparison", "/comparison");
    const hsize_t n = c.rows.size(), t = c.transforms.size();
    w.strings(g, "transforms", c.transforms, "/comparison");
    std::vector<int64_t> layer, d;
    std::vector<std::string> name, kind;
    std::vector<double> er, ar;
    for (const QsurComparison::Row& r : c.rows) {
      layer.push_back(r.layer);
      d.push_back(r.d);
      name.push_back(r.name);
      kind.push_back(tensor_kind_name(r.kind));
      er.insert(er.end(), r.exact_root.begin(), r.exact_root.end());
      ar.insert(ar.end(), r.axis_root.begin(), r.axis_root.end());
    }
    w.attr(g, "rows", static_cast<int64_t>(n), "/comparison");
    w.array(g, "layer", layer.data(), {n}, {"layer index", "[rows]", ""}, "/comparison");
    w.strings(g, "name", name, "/comparison");
    w.strings(g, "kind", kind, "/comparison");
    w.array(g, "d", d.data(), {n}, {"channels", "[rows]", "dimension"}, "/comparison");
    w.array(g, "exact_root", er.data(), {n, t},
            {"1", "[rows, transforms]", "QSUR^(1/d), exact form"}, "/comparison");
    w.array(g, "axis_root", ar.data(), {n, t}, {"1", "[rows, transforms]", "QSUR^(1/d), axis form"},
            "/comparison");
  }
}

// ---- load ------------------------------------------------------------------------------------

TensorStats read_tensor_stats(const h5::Reader& r, hid_t parent, const std::string& name,
                              const std::string& where) {
  Handle g = r.group(parent, name, where);
  TensorStats s;
  s.name = name;
  const std::string kind = r.attr_str(g, "kind", where);
  if (kind != "activation" && kind != "weight") r.fail(where + "@kind is \"" + kind + "\"");
  s.kind = kind == "weight" ? TensorKind::kWeight : TensorKind::kActivation;
  s.rows = r.attr_i64(g, "rows", where);
  s.channels = r.attr_i64(g, "channels", where);
  s.pooled.absmax = r.attr_f64(g, "absmax", where);
  s.pooled.mean = r.attr_f64(g, "pooled_mean", where);
  s.pooled.variance = r.attr_f64(g, "pooled_variance", where);
  s.pooled.kurtosis = r.attr_f64(g, "pooled_kurtosis", where);
  s.median_channel_absmax = r.attr_f64(g, "median_channel_absmax", where);
  s.outlier_ratio = r.attr_f64(g, "outlier_ratio", where);
  s.histogram.range = r.attr_f64(g, "histogram_range", where);
  s.sample_rows = r.attr_i64(g, "sample_rows", where);
  s.has_qsur = r.attr_i64(g, "has_qsur", where) != 0;
  if (s.has_qsur) {
    QsurResult& q = s.qsur;
    q.d = r.attr_i64(g, "qsur_d", where);
    q.samples = r.attr_i64(g, "qsur_samples", where);
    q.exact_root = r.attr_f64(g, "qsur_exact_root", where);
    q.axis_root = r.attr_f64(g, "qsur_axis_root", where);
    q.log_exact = r.attr_f64(g, "qsur_log_exact", where);
    q.log_axis = r.attr_f64(g, "qsur_log_axis", where);
    q.log_det = r.attr_f64(g, "qsur_log_det", where);
    q.lambda_max = r.attr_f64(g, "qsur_lambda_max", where);
    q.qmax_inf = r.attr_f64(g, "qsur_qmax_inf", where);
    q.max_var = r.attr_f64(g, "qsur_max_var", where);
    q.rank_deficient = r.attr_i64(g, "qsur_rank_deficient", where) != 0;
    q.alpha = r.attr_f64(g, "qsur_alpha", where);
    q.c = r.attr_f64(g, "qsur_c", where);
    q.center = r.attr_i64(g, "qsur_center", where) != 0;
  }
  s.channel_absmax = r.array_f32(g, "channel_absmax", where);
  s.row_absmax =
      r.array_f32(g, s.kind == TensorKind::kActivation ? "token_absmax" : "row_absmax", where);
  s.mean = r.array_f64(g, "mean", where);
  s.variance = r.array_f64(g, "var", where);
  s.kurtosis = r.array_f64(g, "kurtosis", where);
  s.histogram.counts = r.array_i64(g, "histogram", where);
  s.topk_channels = r.array_i64(g, "topk_channels", where);
  s.topk_values = r.array_f32(g, "topk_values", where);
  std::vector<hsize_t> dims;
  s.magnitude_sample = r.array_f32(g, "magnitude_sample", where, &dims);
  s.sample_channels = r.array_i64(g, "sample_channels", where);
  // Consistency: every per-channel array matches `channels`, the sample matches its header.
  const size_t c = static_cast<size_t>(s.channels);
  for (size_t n : {s.channel_absmax.size(), s.mean.size(), s.variance.size(), s.kurtosis.size()}) {
    if (n != c) r.fail(where + ": per-channel arrays do not match channels = " + std::to_string(c));
  }
  if (s.row_absmax.size() != static_cast<size_t>(s.rows))
    r.fail(where + ": row absmax does not match rows");
  if (s.topk_channels.size() != s.topk_values.size())
    r.fail(where + ": top-k arrays differ in length");
  if (!s.magnitude_sample.empty() &&
      (dims.size() != 2 || dims[0] != static_cast<hsize_t>(s.sample_rows) ||
       dims[1] != s.sample_channels.size())) {
    r.fail(where + ": magnitude sample shape does not match sample_rows × sample_channels");
  }
  if (s.magnitude_sample.empty() && s.sample_rows != 0)
    r.fail(where + ": magnitude sample missing");
  return s;
}

Analysis read_analysis(const std::string& file, hid_t f) {
  h5::Reader r(file);
  Analysis a;
  AnalysisInfo& i = a.info;
  i.created = r.attr_str(f, "created", "/");
  i.ostq_version = r.attr_str(f, "ostq_version", "/");
  {
    Handle m = r.group(f, "model", "/model");
    i.model_path = r.attr_str(m, "path", "/model");
    i.model_name = r.attr_str(m, "name", "/model");
    i.config_summary = r.attr_str(m, "config_summary", "/model");
    i.config_json = r.attr_str(m, "config_json", "/model");
    i.dtype = r.attr_str(m, "dtype", "/model");
    i.n_layers = r.attr_i64(m, "n_layers", "/model");
    i.dim = r.attr_i64(m, "dim", "/model");
    i.hidden_dim = r.attr_i64(m, "hidden_dim", "/model");
    i.parameters = r.attr_i64(m, "parameters", "/model");
  }
  {
    const std::string p = "/settings";
    Handle s = r.group(f, "settings", p);
    i.data_path = r.attr_str(s, "data_path", p);
    i.tokenizer_path = r.attr_str(s, "tokenizer_path", p);
    i.windows = r.attr_i64(s, "windows", p);
    i.seqlen = r.attr_i64(s, "seqlen", p);
    i.transform = r.attr_str(s, "transform", p);
    i.seed = r.attr_u64(s, "seed", p);
    i.smooth_alpha = r.attr_f64(s, "smooth_alpha", p);
    i.histogram_bins = r.attr_i64(s, "histogram_bins", p);
    i.top_k = r.attr_i64(s, "top_k", p);
    i.sample_tokens = r.attr_i64(s, "sample_tokens", p);
    i.residual_sites = r.attr_i64(s, "residual_sites", p) != 0;
    i.qsur.alpha = r.attr_f64(s, "qsur_alpha", p);
    i.qsur.eig_floor = r.attr_f64(s, "qsur_eig_floor", p);
    i.qsur.center = r.attr_i64(s, "qsur_center", p) != 0;
    i.seconds = r.attr_f64(s, "seconds", p);
    i.transform_notes = r.strings(s, "transform_notes", p);
  }
  {
    Handle layers = r.group(f, "layers", "/layers");
    const int64_t count = r.attr_i64(layers, "count", "/layers");
    if (count < 0 || count > 100000) r.fail("/layers@count is implausible");
    for (int64_t li = 0; li < count; ++li) {
      const std::string p = "/layers/" + std::to_string(li);
      Handle g = r.group(layers, std::to_string(li), p);
      LayerAnalysis l;
      l.layer = r.attr_i64(g, "layer", p);
      l.capture_seconds = r.attr_f64(g, "capture_seconds", p);
      l.weight_seconds = r.attr_f64(g, "weight_seconds", p);
      l.qsur_seconds = r.attr_f64(g, "qsur_seconds", p);
      for (const auto& [group_name, list] :
           {std::pair<const char*, std::vector<TensorStats>*>{"sites", &l.sites},
            {"weights", &l.weights}}) {
        const std::string gp = p + "/" + group_name;
        Handle sg = r.group(g, group_name, gp);
        for (const std::string& name : split(r.attr_str(sg, "names", gp))) {
          list->push_back(read_tensor_stats(r, sg, name, gp + "/" + name));
        }
      }
      a.layers.push_back(std::move(l));
    }
  }
  if (r.has_link(f, "comparison")) {
    Handle g = r.group(f, "comparison", "/comparison");
    QsurComparison& c = a.comparison;
    c.transforms = r.strings(g, "transforms", "/comparison");
    const std::vector<int64_t> layer = r.array_i64(g, "layer", "/comparison");
    const std::vector<int64_t> d = r.array_i64(g, "d", "/comparison");
    const std::vector<std::string> name = r.strings(g, "name", "/comparison");
    const std::vector<std::string> kind = r.strings(g, "kind", "/comparison");
    const std::vector<double> er = r.array_f64(g, "exact_root", "/comparison");
    const std::vector<double> ar = r.array_f64(g, "axis_root", "/comparison");
    const size_t n = layer.size(), t = c.transforms.size();
    if (d.size() != n || name.size() != n || kind.size() != n || er.size() != n * t ||
        ar.size() != n * t) {
      r.fail("/comparison: inconsistent table sizes");
    }
    for (size_t k = 0; k < n; ++k) {
      QsurComparison::Row row;
      row.layer = layer[k];
      row.name = name[k];
      row.kind = kind[k] == "weight" ? TensorKind::kWeight : TensorKind::kActivation;
      row.d = d[k];
      row.exact_root.assign(er.begin() + k * t, er.begin() + (k + 1) * t);
      row.axis_root.assign(ar.begin() + k * t, ar.begin() + (k + 1) * t);
      c.rows.push_back(std::move(row));
    }
  }
  return a;
}

}  // namespace

Status analysis_save(const Analysis& analysis, const std::string& path) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  Status st = status_guard([&] {
    h5::QuietErrors quiet;
    {
      // The 1.10 file format: single-chunk and fixed-array chunk indexes keep the many small
      // datasets small (stories260K: 2.7 MB instead of 4.3 MB). Readable by HDF5 ≥ 1.10.
      Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
      Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
      if (f.get() < 0) throw_io(path + ": cannot create " + tmp);
      write_analysis(analysis, path, f);
      if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || !f.reset())
        throw_io(path + ": cannot write (disk full?)");
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!synced) throw_io(path + ": cannot sync " + tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw_io(path + ": cannot rename " + tmp + " onto it");
  });
  if (!st.is_ok()) std::remove(tmp.c_str());
  return st;
}

Result<Analysis> analysis_load(const std::string& path) {
  return status_guard([&] {
    h5::QuietErrors quiet;
    if (!file_exists(path)) throw_io(path + ": no such file");
    if (H5Fis_hdf5(path.c_str()) <= 0) throw_invalid(path + ": not an HDF5 file");
    Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (f.get() < 0) throw_invalid(path + ": truncated or corrupt HDF5 file");
    h5::Reader r(path);
    if (!r.has_attr(f, "format") || r.attr_str(f, "format", "/") != kFormat) {
      throw_invalid(path +
                    ": an HDF5 file but not an OSTQ analysis (no format = \"ostq-analysis\")");
    }
    const int64_t version = r.attr_i64(f, "format_version", "/");
    if (version > kAnalysisFormatVersion) {
      throw_unsupported(path + ": analysis format version " + std::to_string(version) +
                        "; this build reads up to " + std::to_string(kAnalysisFormatVersion));
    }
    if (version < 1)
      throw_invalid(path + ": invalid analysis format version " + std::to_string(version));
    return read_analysis(path, f);
  });
}

}  // namespace ostq
