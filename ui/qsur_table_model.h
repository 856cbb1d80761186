// SPDX-License-Identifier: Apache-2.0
// The QSUR numbers behind the QSUR chart: one row per site or weight per layer, one column per
// transform set (QSUR^(1/d), exact form or the paper's axis form). Filled from an analysis
// snapshot — its transform comparison when it has one, else its own QSUR — or row by row while
// an analysis streams in.
#pragma once

#include <QAbstractTableModel>
#include <QStringList>
#include <QVector>

#include <memory>

namespace ostq {
struct Analysis;
struct LayerAnalysis;
}  // namespace ostq

class QsurTableModel final : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { kLayer, kTensor, kKind, kDim, kFirstTransform };
  enum class Form { Exact, Axis };
  struct Row {
    int layer = 0;
    QString name;
    bool weight = false;
    qint64 d = 0;
    QVector<double> exact, axis;  // [transforms]
    bool rankDeficient = false;   // of the first transform (the analysis itself)
  };

  explicit QsurTableModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

  void setAnalysis(const std::shared_ptr<const ostq::Analysis>& analysis);
  // Streaming: the transform set being analysed ("none") and then each layer as it arrives.
  void beginStream(const QString& transform);
  void appendLayer(const ostq::LayerAnalysis& layer);
  void clear();
  void setForm(Form form);
  Form form() const { return m_form; }

  const QStringList& transforms() const { return m_transforms; }  // AnalysisSession names
  const QVector<Row>& rows() const { return m_rows; }
  double value(const Row& row, int transform) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  QStringList m_transforms;
  QVector<Row> m_rows;
  Form m_form = Form::Exact;
};
