// SPDX-License-Identifier: Apache-2.0
// File ▸ Open Recent: the last 10 models and analyses opened, kept in QSettings ("recentFiles"),
// most recent first; a missing file is dropped when chosen.
#pragma once

#include <QObject>
#include <QStringList>

class QMenu;

class RecentFiles : public QObject {
  Q_OBJECT
 public:
  static constexpr int kMax = 10;
  RecentFiles(QMenu* menu, QObject* parent = nullptr);
  void add(const QString& path);
  QStringList files() const;

 Q_SIGNALS:
  void chosen(const QString& path);

 private:
  void rebuild();
  QMenu* m_menu;
};
