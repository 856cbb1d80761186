// SPDX-License-Identifier: Apache-2.0
#include "ui/model_loader_job.h"

#include <QCoreApplication>
#include <QMetaObject>
#include <QPointer>

#include <thread>

#include "core/model/model.h"

void ModelLoaderJob::start(const QString& path) {
  QPointer<ModelLoaderJob> self(this);
  std::thread([self, p = path.toStdString()] {
    auto result = ostq::model_load(p);
    // Back to the GUI thread; dropped when the receiver is gone.
    QMetaObject::invokeMethod(
        qApp, [self, result] {
          if (!self) return;
          if (result.is_ok()) {
            Q_EMIT self->modelLoaded(result.value());
          } else {
            Q_EMIT self->loadFailed(QString::fromStdString(result.status().to_string()));
          }
        },
        Qt::QueuedConnection);
  }).detach();
}
