// SPDX-License-Identifier: Apache-2.0
// `ostq-workbench MODEL --screenshot DIR [--data TEXT] [--bundle BUNDLE]`: opens the model, runs a
// small analysis over TEXT, selects the activation site with the lowest QSUR, waits for each view
// to hold its data and saves one PNG per view into DIR, then quits (packaging/screenshots.sh runs
// it under Xvfb for the README):
//   model.png                      the window: model tree with QSUR / outlier columns
//   distributions_absmax.png       per-channel absmax, before | after rotation
//   distributions_histogram.png    histograms with the INT4 grid, before | after
//   distributions_tokens.png       per-token absmax, before | after
//   distributions_magnitude.png    token × channel magnitude maps, before | after
//   qsur.png                       QSUR across layers per transform set, and the table
//   calibration.png                a short real OSTQuant W4A4 calibration on TEXT: loss, learning-rate
//                                  and gradient-norm curves, stats and log
//   evaluation.png                 its bundle against FP: perplexity table, rtn / quarot comparison,
//                                  FP | quantized greedy generation
//   export.png                     the export dialog for BUNDLE (with --bundle)
#pragma once

#include <QString>

class MainWindow;

struct ScreenshotOptions {
  QString model, dir, data, bundle;
  int timeoutMs = 480000;  // analysis + a real calibration + evaluation on a loaded 2-core machine
};

// Starts the sequence; the application exits with 0 when every PNG is written, 1 on a failure or
// after the timeout.
void start_screenshot_run(MainWindow& window, const ScreenshotOptions& options);
