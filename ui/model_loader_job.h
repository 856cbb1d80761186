// SPDX-License-Identifier: Apache-2.0
// Loads a model off the GUI thread and delivers the result (or the core's error message) back to
// it with a queued signal. The full workbench replaces this with the long-lived engine worker.
#pragma once

#include <QObject>
#include <QString>

#include <memory>

namespace ostq {
struct Model;
}

class ModelLoaderJob : public QObject {
  Q_OBJECT
 public:
  using QObject::QObject;
  void start(const QString& path);

 Q_SIGNALS:
  void modelLoaded(std::shared_ptr<ostq::Model> model);
  void loadFailed(const QString& message);
};
