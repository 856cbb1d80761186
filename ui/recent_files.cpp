// SPDX-License-Identifier: Apache-2.0
#include "ui/recent_files.h"

#include <QFileInfo>
#include <QMenu>
#include <QSettings>

namespace {
const QString kKey = QStringLiteral("recentFiles");
}

RecentFiles::RecentFiles(QMenu* menu, QObject* parent) : QObject(parent), m_menu(menu) { rebuild(); }

QStringList RecentFiles::files() const { return QSettings().value(kKey).toStringList(); }

void RecentFiles::add(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  QStringList list = files();
  list.removeAll(abs);
  list.prepend(abs);
  while (list.size() > kMax) list.removeLast();
  QSettings().setValue(kKey, list);
  rebuild();
}

void RecentFiles::rebuild() {
  m_menu->clear();
  const QStringList list = files();
  for (int i = 0; i < list.size(); ++i) {
    const QString path = list.at(i);
    QAction* a = m_menu->addAction(QStringLiteral("&%1  %2").arg((i + 1) % 10).arg(QFileInfo(path).fileName()));
    a->setToolTip(path);
    a->setStatusTip(path);
    connect(a, &QAction::triggered, this, [this, path] {
      if (!QFileInfo::exists(path)) {
        QStringList l = files();
        l.removeAll(path);
        QSettings().setValue(kKey, l);
        rebuild();
      }
      Q_EMIT chosen(path);  // a missing file still reaches the caller, which reports it
    });
  }
  if (list.isEmpty()) m_menu->addAction(tr("(none)"))->setEnabled(false);
  else {
    m_menu->addSeparator();
    m_menu->addAction(tr("Clear list"), this, [this] {
      QSettings().remove(kKey);
      rebuild();
    });
  }
  m_menu->setEnabled(true);
}
