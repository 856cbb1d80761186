// SPDX-License-Identifier: Apache-2.0
#include "core/quant/compare.h"

#include <torch/types.h>

#include <cmath>

#include "core/eval/calibration.h"
#include "core/util/status.h"

namespace ostq {

namespace {

std::string fmt(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

Result<CompareResult> compare_methods(const Model& model, const Tokenizer& tokenizer, const CompareOptions& o) {
  return status_guard([&]() -> CompareResult {
    const ModelConfig& c = model.config;
    if (o.methods.empty() || o.bits.empty()) throw_invalid("compare: give at least one method and one bits string");
    const int64_t seqlen = o.seqlen > 0 ? o.seqlen : default_window_length(c);
    if (seqlen > c.max_seq_len) throw_invalid("--seqlen exceeds the model context of " + std::to_string(c.max_seq_len));

    std::vector<QuantConfig> configs;
    for (const std::string& b : o.bits) {
      Result<QuantConfig> q = quant_config_parse(b, c.head_dim);
      if (!q.is_ok()) throw StatusError(q.status());
      for (const std::string& ov : o.overrides) {
        Status st = quant_config_override(q.value(), ov);
        if (!st.is_ok()) throw StatusError(st);
      }
      configs.push_back(q.value());
    }

    report_progress(o.progress, 0.0, "tokenize", o.data_path);
    std::vector<int32_t> data = tokenize_text_file(tokenizer, o.data_path, o.protocol);
    check_token_ids(c, data);
    const int64_t n = static_cast<int64_t>(data.size());
    CompareResult result;
    auto set = [&](const std::string& k, const std::string& v) { result.settings.emplace_back(k, v); };
    int64_t first_window = 0;
    // The learned methods' held-out windows (validation) come from text their training never sees.
    const int64_t held_out = o.learn.validation_windows;
    CalibrationWindows windows;
    if (o.calib_path.empty()) {
      if (!(o.calib_fraction > 0.0 && o.calib_fraction < 1.0)) throw_invalid("calibration fraction must be in (0, 1)");
      first_window = static_cast<int64_t>(std::ceil(o.calib_fraction * static_cast<double>(n) / seqlen));
      const int64_t calib_end = first_window * seqlen;
      windows = sample_windows_with_held_out(data, 0, calib_end, seqlen, o.calib_windows, held_out, o.seed,
                                             o.data_path + " (its calibration part)");
      set("calibration", "first " + fmt(100.0 * o.calib_fraction, 0) + "% of " + o.data_path + ": tokens [0, " +
                             std::to_string(calib_end) + ")");
      set("evaluation", o.data_path + ": tokens from " + std::to_string(calib_end) + " (window " +
                            std::to_string(first_window) + " on)");
    } else {
      std::vector<int32_t> calib_tokens = tokenize_text_file(tokenizer, o.calib_path, o.protocol);
      check_token_ids(c, calib_tokens);
      windows = sample_windows_with_held_out(calib_tokens, 0, static_cast<int64_t>(calib_tokens.size()), seqlen,
                                             o.calib_windows, held_out, o.seed, o.calib_path);
      set("calibration", o.calib_path + " (" + std::to_string(calib_tokens.size()) + " tokens)");
      set("evaluation", o.data_path + " (all windows)");
    }
    set("calibration_windows", windows.description);
    set("seed", std::to_string(o.seed));
    set("seqlen", std::to_string(seqlen));
    set("protocol", std::string(text_protocol_name(o.protocol)) + " text, one BOS, non-overlapping windows");
    set("smoothquant_alpha", fmt(o.smooth_alpha, 2));
    set("gap", "ppl / fp_ppl - 1");

    PerplexityOptions po;
    po.seqlen = seqlen;
    po.protocol = o.protocol;
    po.first_window = first_window;
    po.max_windows = o.max_eval_windows;
    po.batch = o.batch;
    const double steps = 1.0 + static_cast<double>(o.methods.size() * configs.size());
    po.progress = progress_range(o.progress, 0.0, 1.0 / steps, "fp");
    Result<PerplexityResult> fp = perplexity_evaluate_tokens(model, data, po);
    if (!fp.is_ok()) throw StatusError(fp.status());
    result.fp_ppl = fp->ppl;
    set("eval_windows", std::to_string(fp->windows) + " x " + std::to_string(seqlen) + " tokens (" +
                            std::to_string(fp->predicted) + " predicted)");

    double step = 1.0;
    for (const QuantConfig& cfg : configs) {
      for (const MethodSpec& m : o.methods) {
        const std::string label = m.name() + " " + cfg.bits;
        QuantizeOptions qo;
        qo.method = m;
        qo.config = cfg;
        qo.seed = o.seed;
        qo.smooth_alpha = o.smooth_alpha;
        qo.calibration = windows.windows;
        qo.batch = o.batch;
        qo.learn = o.learn;
        qo.progress = progress_range(o.progress, step / steps, (step + 0.5) / steps, label);
        Result<QuantizedModel> q = quantize_model(model, qo);
        if (!q.is_ok()) throw StatusError(q.status());
        ActivationQuantHooks hooks(q->config);
        po.hooks = &hooks;
        po.progress = progress_range(o.progress, (step + 0.5) / steps, (step + 1.0) / steps, label);
        Result<PerplexityResult> r = perplexity_evaluate_tokens(*q->model, data, po);
        if (!r.is_ok()) throw StatusError(r.status());
        CompareRow row;
        row.method = m.name();
        row.bits = cfg.bits;
        row.ppl = r->ppl;
        row.gap = r->ppl / result.fp_ppl - 1.0;
        row.quantize_seconds = q->seconds;
        row.eval_seconds = r->seconds;
        row.quantizers = cfg.describe();
        row.notes = q->notes;
        if (q->learned) {
          row.learning = q->learned->settings.describe();
          if (!q->learned->validation_summary.empty()) row.learning += "; " + q->learned->validation_summary;
          if (!q->learned->log.empty()) {
            row.first_loss = q->learned->log.front().loss;
            row.final_loss = q->learned->log.back().loss;
          }
        }
        result.rows.push_back(std::move(row));
        step += 1.0;
      }
    }
    report_progress(o.progress, 1.0, "compare", "done");
    return result;
  });
}

}  // namespace ostq
