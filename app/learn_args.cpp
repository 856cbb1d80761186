// SPDX-License-Identifier: Apache-2.0
#include "app/learn_args.h"

#include "app/cli_common.h"

namespace ostq::cli {

void add_learn_options(CLI::App* cmd, LearnArgs& a, const std::string& batch_flag) {
  cmd->add_option("--steps", a.steps, "Training steps (default 100)");
  cmd->add_option(batch_flag, a.batch,
                  "Windows per training step (default 16 for W4A16, 32 otherwise; SpinQuant 8)");
  cmd->add_option("--micro-batch", a.micro_batch,
                  "Windows per forward/backward; gradients accumulate up to the batch (default 4)");
  cmd->add_option("--lr-rot", a.lr_rot, "Rotation learning rate (default 0.0169 OSTQuant, 1.5 SpinQuant)");
  cmd->add_option("--lr-scale", a.lr_scale, "Scale learning rate (default 0.00179)");
  cmd->add_option("--loss", a.loss, "kl_top (OSTQuant default), kl or ce (SpinQuant default)")
      ->check(CLI::IsMember({"kl_top", "kl", "ce"}));
  cmd->add_option("--topk", a.topk, "KL-Top k (default 1000, capped at the vocabulary)");
  cmd->add_option("--init", a.init, "womi or hadamard (default: WOMI when activations are quantized)")
      ->check(CLI::IsMember({"womi", "hadamard"}));
  cmd->add_option("--val-windows", a.val_windows,
                  "Hold out this many windows, cut from the end of the calibration text (never trained on); keep the step "
                  "with the lowest loss on them (default 0 = off)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-every", a.val_every, "Steps between held-out evaluations (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-scales", a.no_scales, "OSTQuant: learn rotations only");
  cmd->add_flag("--no-online-hadamard", a.no_online_hadamard,
                "Learned methods: no online H_ff on the down_proj input (weight-only exports: gptq, gguf, llama2c)");
}

}  // namespace ostq::cli
