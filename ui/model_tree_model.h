// SPDX-License-Identifier: Apache-2.0
// The model tree (hotspot's CostTreeModel): layer → activation sites and weights, plus the
// embedding, final norm and head, with shape, dtype, size, QSUR^(1/d) and an outlier summary
// (largest / median channel absmax and the top channel). Built from the loaded model, an analysis
// snapshot, or both; replaced whole (one model reset) when either changes. A layer row shows its
// worst site's QSUR and largest outlier ratio so layers sort too.
#pragma once

#include <QAbstractItemModel>
#include <QSet>
#include <QString>

#include <memory>
#include <vector>

namespace ostq {
struct Analysis;
struct Model;
}  // namespace ostq

class ModelTreeModel final : public QAbstractItemModel {
  Q_OBJECT
 public:
  enum Column { kName, kShape, kDtype, kSize, kQsur, kOutlier, kTopChannel, kColumnCount };
  enum class Kind { Layer, Site, Weight, Other };
  enum Roles {
    KindRole = Qt::UserRole + 1,  // int(Kind)
    LayerRole,                    // layer index (−1 outside the layers)
    TensorNameRole,               // "ffn_input", "q_proj", …
    SortRole,                     // numbers for numeric columns (sort by value, not by text)
  };

  explicit ModelTreeModel(QObject* parent = nullptr);
  ~ModelTreeModel() override;

  // Either may be null. The snapshot is kept as is (immutable).
  void setData(std::shared_ptr<const ostq::Model> model, std::shared_ptr<const ostq::Analysis> analysis);
  void clear() { setData(nullptr, nullptr); }
  bool hasAnalysis() const { return m_hasAnalysis; }

  // Internal ids of the `n` activation sites with the lowest QSUR (the filter "worst n sites").
  QSet<quintptr> worstSites(int n) const;
  // The index of a site / weight (column 0), invalid when absent.
  QModelIndex find(int layer, const QString& name, Kind kind) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Node;
  int addNode(int parent, Node node);
  void addModelTensors(const ostq::Model& model);
  std::vector<Node> m_nodes;
  std::vector<int> m_top;  // node indices of the top-level rows
  bool m_hasAnalysis = false;
};
