// SPDX-License-Identifier: Apache-2.0
#include "ui/theme.h"

#include <QApplication>
#include <QFont>
#include <QPalette>
#include <QStyleHints>

namespace theme {

bool isDark() {
#if QT_VERSION >= QT_VERSION_CHECK(6, 5, 0)
  const Qt::ColorScheme scheme = QGuiApplication::styleHints()->colorScheme();
  if (scheme != Qt::ColorScheme::Unknown) return scheme == Qt::ColorScheme::Dark;
#endif
  return QApplication::palette().color(QPalette::Window).lightnessF() < 0.5;
}

QChart::ChartTheme chartTheme() { return isDark() ? QChart::ChartThemeDark : QChart::ChartThemeLight; }

void applyTo(QChart* chart) {
  chart->setTheme(chartTheme());
  chart->setBackgroundRoundness(0);
  chart->setMargins(QMargins(4, 4, 4, 4));
  QFont title = chart->titleFont();
  title.setPointSizeF(title.pointSizeF() * 0.95);
  title.setBold(true);
  chart->setTitleFont(title);
}

QColor outlierColor() { return isDark() ? QColor(255, 110, 90) : QColor(214, 39, 40); }

QColor gridColor() { return isDark() ? QColor(255, 210, 90, 150) : QColor(230, 120, 0, 150); }

QColor seriesColor(int index) {
  // Tableau-10, lightened on dark backgrounds.
  static const QRgb kColors[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
  QColor c = QColor::fromRgb(kColors[index % 10]);
  return isDark() ? c.lighter(135) : c;
}

}  // namespace theme
