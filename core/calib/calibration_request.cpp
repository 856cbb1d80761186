// SPDX-License-Identifier: Apache-2.0
#include "core/calib/calibration_request.h"

#include <cctype>
#include <filesystem>
#include <sstream>

#include "core/calib/losses.h"
#include "core/eval/perplexity.h"
#include "core/model/model.h"
#include "core/quant/methods.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status.h"

namespace ostq {

namespace {

// Quotes an argument for a POSIX shell when it needs it.
std::string shell_quote(const std::string& s) {
  static const std::string kSafe = "-_./:=+,@%";
  bool plain = !s.empty();
  for (unsigned char c : s) plain = plain && (std::isalnum(c) || kSafe.find(static_cast<char>(c)) != std::string::npos);
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

LearnOptions learn_options_from(const LearnRequest& r) {
  LearnOptions o;
  o.steps = r.steps;
  o.batch = r.batch;
  o.micro_batch = r.micro_batch;
  o.topk = r.topk;
  o.lr_rotation = r.lr_rot;
  o.lr_scale = r.lr_scale;
  if (!r.loss.empty()) {
    Result<LossKind> loss = loss_kind_parse(r.loss);
    throw_if_error(loss.status());
    o.loss = loss.value();
  }
  if (!r.init.empty()) {
    Result<RotationInit> init = rotation_init_parse(r.init);
    throw_if_error(init.status());
    o.init = init.value();
  }
  o.validation_windows = r.val_windows;
  o.validate_every = r.val_every;
  o.learn_scales = !r.no_scales;
  o.online_ffn_hadamard = !r.no_online_hadamard;
  return o;
}

CalibrationJobOptions calibration_job_options_from(const CalibrationRequest& r, const Model& model) {
  CalibrationJobOptions o;
  Result<MethodSpec> method = method_spec_parse(r.method);
  throw_if_error(method.status());
  o.method = method.value();
  o.method.gptq_weights = !r.rtn;
  o.bits = r.bits;
  o.overrides = r.overrides;
  o.calib_files = r.calib;
  Result<TextProtocol> protocol = text_protocol_parse(r.protocol);
  throw_if_error(protocol.status());
  o.protocol = protocol.value();
  o.seqlen = r.seqlen;
  o.calib_windows = r.calib_windows;
  o.learn = learn_options_from(r.learn);
  o.learn.checkpoint_every = r.checkpoint_every;
  o.learn.checkpoint_dir = r.resume.empty() ? calibration_checkpoint_dir(r.out) : r.resume;
  o.learn.resume = !r.resume.empty();
  if (o.learn.resume && !std::filesystem::exists(std::filesystem::path(r.resume) / "checkpoint.pt")) {
    throw_invalid(r.resume + ": no checkpoint.pt to resume from");
  }
  o.seed = r.seed;
  o.batch = r.batch;
  o.eval_file = r.eval;
  o.eval_windows = r.eval_windows;
  o.out_dir = r.out;
  o.tokenizer_path = r.tokenizer.empty() ? tokenizer_find_for_model(model.path) : r.tokenizer;
  return o;
}

std::string calibration_command_line(const CalibrationRequest& r, const std::string& model_path) {
  std::vector<std::string> a{"ostq", "calibrate", model_path};
  auto opt = [&a](const char* flag, const std::string& value) {
    a.push_back(flag);
    a.push_back(value);
  };
  auto num = [](double v) {
    std::ostringstream s;
    s.precision(10);
    s << v;
    return s.str();
  };
  const LearnRequest& l = r.learn;
  opt("--method", r.method);
  opt("--bits", r.bits);
  for (const std::string& s : r.overrides) opt("--override", s);
  for (const std::string& f : r.calib) opt("--calib", f);
  opt("--calib-windows", std::to_string(r.calib_windows));
  if (r.seqlen > 0) opt("--seqlen", std::to_string(r.seqlen));
  if (r.protocol != "plain") opt("--protocol", r.protocol);
  opt("--steps", std::to_string(l.steps));
  if (l.batch > 0) opt("--batch", std::to_string(l.batch));
  opt("--micro-batch", std::to_string(l.micro_batch));
  opt("--forward-batch", std::to_string(r.batch));
  if (l.lr_rot > 0) opt("--lr-rot", num(l.lr_rot));
  if (l.lr_scale > 0) opt("--lr-scale", num(l.lr_scale));
  if (!l.loss.empty()) opt("--loss", l.loss);
  opt("--topk", std::to_string(l.topk));
  if (l.val_windows > 0) {
    opt("--val-windows", std::to_string(l.val_windows));
    opt("--val-every", std::to_string(l.val_every));
  }
  if (!l.init.empty()) opt("--init", l.init);
  if (l.no_scales) a.push_back("--no-scales");
  if (l.no_online_hadamard) a.push_back("--no-online-hadamard");
  opt("--seed", std::to_string(r.seed));
  if (r.rtn) a.push_back("--rtn");
  opt("--checkpoint-every", std::to_string(r.checkpoint_every));
  if (!r.tokenizer.empty()) opt("--tokenizer", r.tokenizer);
  if (!r.eval.empty()) opt("--eval", r.eval);
  if (r.eval_windows > 0) opt("--eval-windows", std::to_string(r.eval_windows));
  if (!r.resume.empty()) opt("--resume", r.resume);
  opt("--out", r.out);
  std::string line;
  for (const std::string& s : a) line += (line.empty() ? "" : " ") + shell_quote(s);
  return line;
}

}  // namespace ostq
