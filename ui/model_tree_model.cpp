// SPDX-License-Identifier: Apache-2.0
#include "ui/model_tree_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/analysis/analysis.h"
#include "core/model/model.h"

struct ModelTreeModel::Node {
  Kind kind = Kind::Other;
  int layer = -1;
  QString name, shape, dtype;
  qint64 size = 0;
  double qsur = std::numeric_limits<double>::quiet_NaN();
  bool rankDeficient = false;
  double outlier = std::numeric_limits<double>::quiet_NaN();
  qint64 topChannel = -1;
  int parent = -1, row = 0;
  std::vector<int> children;
};

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString shapeText(const std::vector<int64_t>& dims) {
  QStringList parts;
  for (int64_t d : dims) parts << QString::number(d);
  return QLatin1Char('[') + parts.join(QStringLiteral(" × ")) + QLatin1Char(']');
}

QString dtypeText(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return QStringLiteral("fp32");
    case at::kBFloat16: return QStringLiteral("bf16");
    case at::kHalf: return QStringLiteral("fp16");
    case at::kDouble: return QStringLiteral("fp64");
    default: return QString::fromLatin1(c10::toString(t.scalar_type()));
  }
}

QString sizeText(qint64 n) {
  if (n <= 0) return {};
  if (n < 10000) return QString::number(n);
  if (n < 10000000) return QString::number(double(n) / 1e3, 'f', 1) + QStringLiteral(" k");
  if (n < 10000000000LL) return QString::number(double(n) / 1e6, 'f', 1) + QStringLiteral(" M");
  return QString::number(double(n) / 1e9, 'f', 1) + QStringLiteral(" G");
}

}  // namespace

ModelTreeModel::ModelTreeModel(QObject* parent) : QAbstractItemModel(parent) {}
ModelTreeModel::~ModelTreeModel() = default;

int ModelTreeModel::addNode(int parent, Node node) {
  node.parent = parent;
  std::vector<int>& siblings = parent < 0 ? m_top : m_nodes[size_t(parent)].children;
  node.row = int(siblings.size());
  m_nodes.push_back(std::move(node));
  const int id = int(m_nodes.size()) - 1;
  (parent < 0 ? m_top : m_nodes[size_t(parent)].children).push_back(id);
  return id;
}

void ModelTreeModel::setData(std::shared_ptr<const ostq::Model> model, std::shared_ptr<const ostq::Analysis> analysis) {
  beginResetModel();
  m_nodes.clear();
  m_top.clear();
  m_hasAnalysis = analysis != nullptr;
  const auto tensorNode = [](Kind kind, int layer, const QString& name, const at::Tensor& t) {
    Node n;
    n.kind = kind;
    n.layer = layer;
    n.name = name;
    n.shape = shapeText(t.sizes().vec());
    n.dtype = dtypeText(t);
    n.size = t.numel();
    return n;
  };
  const auto statsNode = [&](Kind kind, int layer, const ostq::TensorStats& s) {
    Node n;
    n.kind = kind;
    n.layer = layer;
    n.name = QString::fromStdString(s.name);
    n.shape = shapeText({s.rows, s.channels});
    n.dtype = QString::fromStdString(analysis->info.dtype);
    n.size = s.rows * s.channels;
    if (s.has_qsur) {
      n.qsur = s.qsur.exact_root;
      n.rankDeficient = s.qsur.rank_deficient;
    }
    if (!s.topk_channels.empty()) {
      n.outlier = s.outlier_ratio;
      n.topChannel = s.topk_channels.front();
    }
    return n;
  };
  if (model) m_nodes.reserve(size_t(model->weights.layers.size()) * 16 + 4);
  if (model) addNode(-1, tensorNode(Kind::Other, -1, QStringLiteral("embedding"), model->weights.embedding));
  const int64_t layers = model ? int64_t(model->weights.layers.size()) : analysis ? int64_t(analysis->layers.size()) : 0;
  for (int64_t i = 0; i < layers; ++i) {
    Node ln;
    ln.kind = Kind::Layer;
    ln.layer = int(i);
    ln.name = tr("layer %1").arg(i);
    const int layerId = addNode(-1, ln);
    const ostq::LayerAnalysis* la = nullptr;
    if (analysis) {
      for (const ostq::LayerAnalysis& l : analysis->layers)
        if (l.layer == i) la = &l;
    }
    if (la) {
      for (const ostq::TensorStats& s : la->sites) addNode(layerId, statsNode(Kind::Site, int(i), s));
    }
    if (model) {
      const ostq::LayerWeights& w = model->weights.layers[size_t(i)];
      const std::pair<const char*, const at::Tensor*> tensors[] = {
          {"attn_norm", &w.attn_norm}, {"q_proj", &w.wq},         {"k_proj", &w.wk},        {"v_proj", &w.wv},
          {"o_proj", &w.wo},           {"ffn_norm", &w.ffn_norm}, {"gate_proj", &w.w_gate}, {"up_proj", &w.w_up},
          {"down_proj", &w.w_down}};
      for (const auto& [name, t] : tensors) {
        Node n = tensorNode(Kind::Weight, int(i), QString::fromLatin1(name), *t);
        if (const ostq::TensorStats* s = la ? la->weight(name) : nullptr) {
          Node st = statsNode(Kind::Weight, int(i), *s);
          n.qsur = st.qsur;
          n.rankDeficient = st.rankDeficient;
          n.outlier = st.outlier;
          n.topChannel = st.topChannel;
        } else if (t->dim() == 1) {
          n.kind = Kind::Other;  // norm gains: no statistics
        }
        addNode(layerId, n);
      }
    } else if (la) {
      for (const ostq::TensorStats& s : la->weights) addNode(layerId, statsNode(Kind::Weight, int(i), s));
    }
    // The layer row summarises its sites: worst QSUR, largest outlier ratio.
    Node& layerNode = m_nodes[size_t(layerId)];
    for (int c : layerNode.children) {
      const Node& ch = m_nodes[size_t(c)];
      layerNode.size += ch.kind == Kind::Weight || ch.kind == Kind::Other ? ch.size : 0;
      if (ch.kind != Kind::Site) continue;
      if (std::isfinite(ch.qsur) && !(ch.qsur >= layerNode.qsur)) layerNode.qsur = ch.qsur;
      if (std::isfinite(ch.outlier) && !(ch.outlier <= layerNode.outlier)) {
        layerNode.outlier = ch.outlier;
        layerNode.topChannel = ch.topChannel;
      }
    }
  }
  if (model) {
    addNode(-1, tensorNode(Kind::Other, -1, QStringLiteral("final_norm"), model->weights.final_norm));
    if (!model->weights.lm_head.is_same(model->weights.embedding))
      addNode(-1, tensorNode(Kind::Other, -1, QStringLiteral("lm_head"), model->weights.lm_head));
  }
  endResetModel();
}

QSet<quintptr> ModelTreeModel::worstSites(int n) const {
  std::vector<int> sites;
  for (size_t i = 0; i < m_nodes.size(); ++i)
    if (m_nodes[i].kind == Kind::Site && std::isfinite(m_nodes[i].qsur)) sites.push_back(int(i));
  std::stable_sort(sites.begin(), sites.end(), [this](int a, int b) { return m_nodes[size_t(a)].qsur < m_nodes[size_t(b)].qsur; });
  QSet<quintptr> out;
  for (size_t i = 0; i < sites.size() && int(i) < n; ++i) out.insert(quintptr(sites[i]));
  return out;
}

QModelIndex ModelTreeModel::find(int layer, const QString& name, Kind kind) const {
  for (size_t i = 0; i < m_nodes.size(); ++i) {
    const Node& n = m_nodes[i];
    if (n.layer == layer && n.kind == kind && n.name == name) return createIndex(n.row, 0, quintptr(i));
  }
  return {};
}

QModelIndex ModelTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  const std::vector<int>& siblings = parent.isValid() ? m_nodes[size_t(parent.internalId())].children : m_top;
  return createIndex(row, column, quintptr(siblings[size_t(row)]));
}

QModelIndex ModelTreeModel::parent(const QModelIndex& child) const {
  if (!child.isValid()) return {};
  const int p = m_nodes[size_t(child.internalId())].parent;
  return p < 0 ? QModelIndex() : createIndex(m_nodes[size_t(p)].row, 0, quintptr(p));
}

int ModelTreeModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return int(m_top.size());
  if (parent.column() != 0) return 0;
  return int(m_nodes[size_t(parent.internalId())].children.size());
}

int ModelTreeModel::columnCount(const QModelIndex&) const { return kColumnCount; }

QVariant ModelTreeModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const Node& n = m_nodes[size_t(index.internalId())];
  switch (role) {
    case KindRole: return int(n.kind);
    case LayerRole: return n.layer;
    case TensorNameRole: return n.name;
    case Qt::TextAlignmentRole:
      return index.column() >= kSize ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    case Qt::ToolTipRole:
      if (index.column() == kQsur && n.rankDeficient)
        return tr("Rank-deficient covariance: eigenvalues floored; compare only with other flagged tensors.");
      if (index.column() == kQsur && n.kind == Kind::Layer) return tr("Lowest QSUR among the layer's activation sites");
      return {};
    case SortRole:
      switch (index.column()) {
        case kName: return n.kind == Kind::Layer ? QVariant(n.layer) : QVariant(n.name);
        case kSize: return n.size;
        case kQsur: return std::isfinite(n.qsur) ? n.qsur : 2.0;  // no QSUR sorts last ascending
        case kOutlier: return std::isfinite(n.outlier) ? n.outlier : -1.0;
        case kTopChannel: return n.topChannel;
        default: return data(index, Qt::DisplayRole);
      }
    case Qt::DisplayRole:
      switch (index.column()) {
        case kName: return n.name;
        case kShape: return n.shape;
        case kDtype: return n.dtype;
        case kSize: return sizeText(n.size);
        case kQsur:
          return std::isfinite(n.qsur) ? QString::number(n.qsur, 'f', 4) + (n.rankDeficient ? QStringLiteral("*") : QString())
                                       : QString();
        case kOutlier: return std::isfinite(n.outlier) ? QString::number(n.outlier, 'f', 1) + QStringLiteral("×") : QString();
        case kTopChannel: return n.topChannel >= 0 ? QStringLiteral("#%1").arg(n.topChannel) : QString();
        default: return {};
      }
    default: return {};
  }
}

QVariant ModelTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::DisplayRole) {
    static const char* const kNames[] = {"Tensor", "Shape", "Dtype", "Size", "QSUR", "Outlier", "Top ch."};
    return section >= 0 && section < kColumnCount ? tr(kNames[section]) : QVariant();
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case kShape: return tr("Activation sites: [tokens × channels]; weights: [out × in]");
      case kSize: return tr("Values (parameters for weights)");
      case kQsur: return tr("QSUR^(1/d), exact form: how much of the quantization cube the data ellipsoid fills (1 = all). * = rank-deficient");
      case kOutlier: return tr("Largest channel absmax / median channel absmax");
      case kTopChannel: return tr("Channel with the largest absmax");
      default: return {};
    }
  }
  return {};
}
