// SPDX-License-Identifier: Apache-2.0
#include "core/calib/calibration_job.h"

#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "core/calib/transform_io.h"
#include "core/eval/calibration.h"
#include "core/quant/quantized_io.h"
#include "core/util/file_util.h"

namespace ostq {

namespace {

std::string fmt(double v, const char* format = "%.4f") {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

}  // namespace

std::string calibration_checkpoint_dir(const std::string& out_dir) {
  std::string d = out_dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + ".ckpt";
}

Result<CalibrationJobResult> run_calibration_job(const Model& model, const Tokenizer& tokenizer,
                                                 const CalibrationJobOptions& o) {
  return status_guard([&]() -> CalibrationJobResult {
    const ModelConfig& c = model.config;
    if (!method_learns_transforms(o.method.method)) {
      throw_invalid("calibrate: method '" + o.method.name() + "' learns nothing (use spinquant or ostquant; " +
                    "ostq quantize runs the training-free methods)");
    }
    if (o.out_dir.empty()) throw_invalid("calibrate: --out DIR is required");
    if (std::filesystem::exists(o.out_dir)) throw_invalid(o.out_dir + ": output already exists (choose a new --out)");
    if (o.calib_files.empty()) throw_invalid("calibrate: give at least one calibration text file (--calib)");
    Result<QuantConfig> config = quant_config_parse(o.bits, c.head_dim);
    if (!config.is_ok()) throw StatusError(config.status());
    for (const std::string& ov : o.overrides) {
      Status st = quant_config_override(config.value(), ov);
      if (!st.is_ok()) throw StatusError(st);
    }
    const int64_t seqlen = o.seqlen > 0 ? o.seqlen : default_window_length(c);
    if (seqlen > c.max_seq_len) throw_invalid("--seqlen exceeds the model context of " + std::to_string(c.max_seq_len));

    CalibrationJobResult result;
    auto report = [&](const std::string& k, const std::string& v) { result.report.emplace_back(k, v); };

    // Stage: data.
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < o.calib_files.size(); ++i) {
      report_progress(o.progress, 0.0, "data", "tokenizing " + o.calib_files[i]);
      std::vector<int32_t> part = tokenize_text_file(tokenizer, o.calib_files[i], o.protocol);
      check_token_ids(c, part);
      tokens.insert(tokens.end(), part.begin(), part.end());
    }
    std::string files;
    for (const std::string& f : o.calib_files) files += (files.empty() ? "" : ", ") + f;
    // Held-out windows (validation) come from the end of the text, which training never sees.
    const CalibrationWindows sampled =
        sample_windows_with_held_out(tokens, 0, static_cast<int64_t>(tokens.size()), seqlen, o.calib_windows,
                                     o.learn.validation_windows, o.seed, files);
    const at::Tensor& windows = sampled.windows;
    report("calibration", files + " (" + std::to_string(tokens.size()) + " tokens)");
    report("calibration_windows", sampled.description + " (seed " + std::to_string(o.seed) + ")");

    // Stages: init, train, merge, weights (inside quantize_model).
    QuantizeOptions qo;
    qo.method = o.method;
    qo.config = config.value();
    qo.seed = o.seed;
    qo.calibration = windows;
    qo.batch = o.batch;
    qo.learn = o.learn;
    if (qo.learn.checkpoint_dir.empty()) qo.learn.checkpoint_dir = calibration_checkpoint_dir(o.out_dir);
    const bool evaluate = !o.eval_file.empty();
    qo.progress = progress_range(o.progress, 0.0, evaluate ? 0.85 : 0.97);
    Result<QuantizedModel> q = quantize_model(model, qo);
    if (!q.is_ok()) throw StatusError(q.status());
    result.quantized = std::move(q).value();
    const QuantizedModel& qm = result.quantized;
    report("method", qm.method);
    report("quantizers", qm.config.describe());
    if (qm.learned) {
      report("learning", qm.learned->settings.describe());
      if (!qm.learned->log.empty()) {
        report("loss_first", fmt(qm.learned->log.front().loss, "%.6g"));
        report("loss_final", fmt(qm.learned->log.back().loss, "%.6g"));
      }
      report("train_seconds", fmt(qm.learned->seconds, "%.1f"));
      if (qm.learned->resumed_from_step > 0) report("resumed_from_step", std::to_string(qm.learned->resumed_from_step));
      if (!qm.learned->validation_summary.empty()) report("validation", qm.learned->validation_summary);
    }
    report("quantize_seconds", fmt(qm.seconds, "%.1f"));

    // Stage: evaluate.
    if (evaluate) {
      if (std::find(o.calib_files.begin(), o.calib_files.end(), o.eval_file) != o.calib_files.end()) {
        report("warning", "the evaluation file is also a calibration file: the perplexity is not held out");
      }
      PerplexityOptions po;
      po.seqlen = seqlen;
      po.protocol = o.protocol;
      po.max_windows = o.eval_windows;
      po.batch = o.batch;
      po.progress = progress_range(o.progress, 0.85, 0.91);
      Result<PerplexityResult> fp = perplexity_evaluate_file(model, tokenizer, o.eval_file, po);
      if (!fp.is_ok()) throw StatusError(fp.status());
      ActivationQuantHooks hooks(qm.config);
      po.hooks = &hooks;
      po.progress = progress_range(o.progress, 0.91, 0.97);
      Result<PerplexityResult> qp = perplexity_evaluate_file(*qm.model, tokenizer, o.eval_file, po);
      if (!qp.is_ok()) throw StatusError(qp.status());
      result.fp_ppl = fp->ppl;
      result.ppl = qp->ppl;
      report("evaluation", o.eval_file + " (" + std::to_string(qp->windows) + " x " + std::to_string(seqlen) + " tokens)");
      report("fp_ppl", fmt(fp->ppl));
      report("ppl", fmt(qp->ppl));
      report("gap", fmt(100.0 * (qp->ppl / fp->ppl - 1.0), "%+.2f%%"));
    }

    // Stage: write (one atomic directory: model, manifest, transforms, loss log, report).
    report_progress(o.progress, 0.97, "write", o.out_dir);
    nlohmann::json rep = nlohmann::json::object();
    for (const auto& [k, v] : result.report) rep[k] = v;
    std::vector<std::pair<std::string, std::string>> extra;
    extra.emplace_back("report.json", rep.dump(2) + "\n");
    if (qm.learned) extra.emplace_back("loss_log.csv", learn_log_csv(qm.learned->log));
    quantized_model_save(qm, o.out_dir, o.tokenizer_path, progress_range(o.progress, 0.97, 1.0), extra);
    result.out_dir = o.out_dir;
    // The run is complete: its checkpoint is no longer needed.
    if (qo.learn.checkpoint_dir == calibration_checkpoint_dir(o.out_dir)) {
      std::error_code ec;
      std::filesystem::remove_all(qo.learn.checkpoint_dir, ec);
    }
    return result;
  });
}

}  // namespace ostq
