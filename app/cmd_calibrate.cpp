// SPDX-License-Identifier: Apache-2.0
// `ostq calibrate MODEL --method ostquant|spinquant --bits 4-4-4 --calib FILE --out DIR`: the
// calibration job (core/calib/calibration_job.h) with a live progress line, a live loss log
// (DIR.ckpt/loss_log.csv while training; DIR/loss_log.csv at the end) and Ctrl-C as "pause":
// the job writes a checkpoint and `--resume DIR.ckpt` continues it.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "app/cli_common.h"
#include "app/commands.h"
#include "app/learn_args.h"
#include "core/calib/calibration_job.h"
#include "core/calib/calibration_request.h"

namespace ostq::cli {

namespace {

struct CalibrateArgs {
  std::string model, dtype = "fp32";
  bool quiet = false;
  CalibrationRequest req;  // everything else: core/calib/calibration_request.h
};

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Progress line + live CSV of training steps + cancellation on Ctrl-C.
ProgressFn calibrate_progress(bool quiet, const std::string& live_log) {
  ProgressFn line = stderr_progress(quiet);
  auto header_written = std::make_shared<bool>(false);
  return [line, live_log, header_written](const Progress& p) {
    if (p.train) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(live_log).parent_path(), ec);
      std::ofstream out(live_log, std::ios::app);
      if (!*header_written && p.train->step == 1) {
        out << "step,loss,lr_rotation,lr_scale,grad_norm,orthogonality_error,tokens_per_second\n";
      }
      *header_written = true;
      const TrainStep& t = *p.train;
      out << t.step << ',' << t.loss << ',' << t.lr_rotation << ',' << t.lr_scale << ',' << t.grad_norm << ','
          << t.orthogonality_error << ',' << t.tokens_per_second << '\n';
    }
    if (line) line(p);
    return !g_interrupted.load();
  };
}

void run_calibrate(const CalibrateArgs& a) {
  auto model = load_model_or_throw(a.model, a.dtype);
  auto tokenizer = load_tokenizer_or_throw(a.req.tokenizer, *model);
  CalibrationJobOptions o = calibration_job_options_from(a.req, *model);
  const std::string live_log = (std::filesystem::path(o.learn.checkpoint_dir) / "loss_log.csv").string();
  if (!o.learn.resume) {
    std::error_code ec;
    std::filesystem::remove(live_log, ec);
  }
  o.progress = calibrate_progress(a.quiet, live_log);

  std::signal(SIGINT, on_sigint);
  Result<CalibrationJobResult> r = run_calibration_job(*model, *tokenizer, o);
  std::signal(SIGINT, SIG_DFL);
  if (r.status().is_cancelled()) {
    std::fprintf(stderr, "\n%s\nresume with: ostq calibrate %s ... --resume %s --out %s\n",
                 r.status().message().c_str(), a.model.c_str(), o.learn.checkpoint_dir.c_str(), a.req.out.c_str());
  }
  throw_if_error(r.status());
  for (const auto& [k, v] : r->report) std::printf("%-20s %s\n", k.c_str(), v.c_str());
  std::printf("%-20s %s (evaluate with: ostq eval %s --data FILE)\n", "saved", a.req.out.c_str(), a.req.out.c_str());
}

}  // namespace

void register_calibrate(CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Learn OSTQuant or SpinQuant transforms, merge, quantize the weights (GPTQ) and save");
  cmd->add_option("model", a->model, "llama2.c checkpoint or Hugging Face model directory")->required();
  cmd->add_option("--method", a->req.method,
                  "ostquant (default) or spinquant; ostquant variants: ostquant:hadamard|womi:noscales:kl_top|kl|ce:wfq");
  cmd->add_option("--bits", a->req.bits, "W-A-KV bits: 4-16-16, 4-4-16, 4-4-4 (default), ...");
  cmd->add_option("--override", a->req.overrides, "Quantizer override SITE=BITS[:opts], repeatable (see `ostq quantize`)");
  cmd->add_option("--calib", a->req.calib, "Calibration text file(s), repeatable")->required();
  cmd->add_option("--calib-windows", a->req.calib_windows, "Calibration windows sampled from the text (default 128)");
  cmd->add_option("--seqlen", a->req.seqlen, "Window length (default min(2048, model context))");
  add_learn_options(cmd, a->req.learn, "--batch");
  cmd->add_option("--forward-batch", a->req.batch, "Windows per forward pass in GPTQ and evaluation (default 4)");
  cmd->add_flag("--rtn", a->req.rtn, "RTN instead of GPTQ for the weights after learning");
  cmd->add_option("--seed", a->req.seed, "Seed: init, window sampling and order (default 42)");
  cmd->add_option("--checkpoint-every", a->req.checkpoint_every, "Steps between checkpoints (default 10; 0 = off)");
  cmd->add_option("--resume", a->req.resume, "Continue from this checkpoint directory (default location: OUT.ckpt)");
  cmd->add_option("--eval", a->req.eval, "Evaluate FP and quantized perplexity on this text (held out!)");
  cmd->add_option("--eval-windows", a->req.eval_windows, "Evaluate at most this many windows (0 = all)");
  cmd->add_option("--tokenizer", a->req.tokenizer, "tokenizer.bin, tokenizer.model or tokenizer.json");
  cmd->add_option("--dtype", a->dtype, "Model dtype: fp32 or bf16 (training runs in fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--protocol", a->req.protocol, "plain or rows (how text files are read)")
      ->check(CLI::IsMember({"plain", "rows"}));
  cmd->add_option("--out", a->req.out, "Output directory (must not exist)")->required();
  cmd->add_flag("--quiet", a->quiet, "No progress on stderr");
  cmd->callback([a] { run_calibrate(*a); });
}

}  // namespace ostq::cli
