// SPDX-License-Identifier: Apache-2.0
// Token × channel magnitude |x| as a heat map (Qt Data Visualization is not a dependency): reads
// a NumericTableModel (rows = tokens, columns = sampled channels), colours on a log scale shared
// with its before/after twin (setRange), draws axes labels and a colour bar. Right-click exports
// PNG, SVG (the same painting into QSvgGenerator) and CSV of the model.
#pragma once

#include <QImage>
#include <QPointer>
#include <QString>
#include <QWidget>

class NumericTableModel;

class HeatMapView final : public QWidget {
  Q_OBJECT
 public:
  HeatMapView(NumericTableModel* data, QWidget* parent = nullptr);

  void setTitle(const QString& title);
  void setPlaceholder(const QString& text);  // shown when the model is empty
  // Colour range of |x| (log scale from hi·1e-3 to hi); both views of a pair get the same.
  void setRange(double hi);
  double dataMax() const;
  const QImage& image() const { return m_image; }

  bool exportPng(const QString& path);
  bool exportSvg(const QString& path);
  bool exportCsv(const QString& path);
  QSize sizeHint() const override { return {480, 320}; }

 protected:
  void paintEvent(QPaintEvent* event) override;
  void contextMenuEvent(QContextMenuEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  void rebuild();
  void paint(QPainter& p, const QRect& rect);
  QPointer<NumericTableModel> m_data;
  QString m_title, m_placeholder;
  double m_hi = 1.0;
  QImage m_image;
};
