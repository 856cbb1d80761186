// SPDX-License-Identifier: Apache-2.0
// Registration of the `ostq` subcommands. Each register_* adds its CLI11 subcommand and sets the
// callback that runs it; callbacks throw StatusError, which main() turns into a message and exit 1.
#pragma once

namespace CLI {
class App;
}

namespace ostq::cli {

void register_info(CLI::App& app);
void register_eval(CLI::App& app);
void register_generate(CLI::App& app);
void register_synth(CLI::App& app);
void register_convert(CLI::App& app);
void register_quantize(CLI::App& app);
void register_compare(CLI::App& app);
void register_analyze(CLI::App& app);
void register_calibrate(CLI::App& app);
void register_export(CLI::App& app);
void register_verify(CLI::App& app);

}  // namespace ostq::cli
