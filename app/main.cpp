// SPDX-License-Identifier: Apache-2.0
// `ostq`: the OSTQ Workbench command line (headless; links the core only).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "app/commands.h"
#include "core/engine/runtime.h"
#include "core/util/status.h"

int main(int argc, char** argv) {
  CLI::App app{"OSTQ Workbench: post-training quantization of LLaMA-family models (OSTQuant)", "ostq"};
  app.set_version_flag("--version", std::string("ostq ") + OSTQ_VERSION);
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Compute threads (default: all cores)");
  ostq::cli::register_info(app);
  ostq::cli::register_eval(app);
  ostq::cli::register_generate(app);
  ostq::cli::register_synth(app);
  ostq::cli::register_convert(app);
  ostq::cli::register_quantize(app);
  ostq::cli::register_compare(app);
  ostq::cli::register_analyze(app);
  ostq::cli::register_calibrate(app);
  ostq::cli::register_export(app);
  ostq::cli::register_verify(app);
  app.parse_complete_callback([&] { ostq::runtime_init(threads); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (...) {
    ostq::Status status = ostq::status_from_current_exception();
    std::fprintf(stderr, "ostq: %s\n", status.to_string().c_str());
    return status.is_cancelled() ? 130 : 1;
  }
  return 0;
}
