// SPDX-License-Identifier: Apache-2.0
// `ostq-workbench MODEL --screenshot DIR [--bundle BUNDLE]`: opens the model, waits for each view to
// hold its data, saves PNGs of the windows into DIR and quits (packaging/screenshots.sh runs it
// under Xvfb for the README).
#pragma once

#include <QString>

class MainWindow;

// Starts the sequence; the application exits with 0 when every PNG is written, 1 on a failure or
// after `timeout_ms`.
void start_screenshot_run(MainWindow& window, const QString& model, const QString& dir, const QString& bundle,
                          int timeout_ms = 120000);
