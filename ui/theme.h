// SPDX-License-Identifier: Apache-2.0
// Light / dark: the workbench follows the system palette (Qt ≥ 6.5: the platform colour scheme;
// earlier: the window colour's lightness) and picks the matching Qt Charts theme, so charts stay
// readable beside the widgets.
#pragma once

#include <QChart>
#include <QColor>

namespace theme {

bool isDark();
QChart::ChartTheme chartTheme();
// Applies the chart theme and a transparent-free background that matches the palette.
void applyTo(QChart* chart);
// Colours for the series roles used across the views (readable on both palettes).
QColor outlierColor();
QColor gridColor();
QColor seriesColor(int index);

}  // namespace theme
