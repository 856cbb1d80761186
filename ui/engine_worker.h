// SPDX-License-Identifier: Apache-2.0
// The one long-lived thread that owns the model and the compute device (RenderDoc's replay
// thread, hotspot's job tracker). Jobs run there one at a time, in order; each gets a core
// ProgressFn whose return value is the cancel flag, and hands back a closure that runs on the GUI
// thread — dropped when its context object is gone. A queued job with
// the same non-empty tag as a newer one is replaced, so only the latest preview request runs.
// The GUI thread never runs numerical work here; progress signals are throttled to one per 40 ms.
#pragma once

#include <QObject>
#include <QPointer>
#include <QString>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "core/util/progress.h"

class EngineWorker : public QObject {
  Q_OBJECT
 public:
  // Runs on the worker thread; returns what to do on the GUI thread with the result (may be
  // empty). Errors are thrown as ostq::StatusError (or any std::exception: reported as internal).
  using Deliver = std::function<void()>;
  using Work = std::function<Deliver(const ostq::ProgressFn& progress)>;

  explicit EngineWorker(QObject* parent = nullptr);
  ~EngineWorker() override;  // cancels the running job, drops the queue, joins the thread

  // Queues `work` and returns its id (> 0). `context` guards the delivery (QPointer semantics).
  quint64 submit(const QString& title, const QString& tag, QObject* context, Work work);
  // Cancels a queued or running job: a running one sees its progress callback return false.
  void cancel(quint64 id);
  bool busy() const;

 Q_SIGNALS:
  void jobStarted(quint64 id, const QString& title);
  void jobProgress(quint64 id, double fraction, const QString& stage, const QString& detail);
  void jobFinished(quint64 id);
  // cancelled = true when the job stopped because it was asked to (the core's Cancelled status).
  void jobFailed(quint64 id, const QString& message, bool cancelled);

 private:
  struct Job {
    quint64 id = 0;
    QString title, tag;
    QPointer<QObject> context;
    Work work;
  };
  void loop();
  void run_one(Job job);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  quint64 next_id_ = 1;
  quint64 running_ = 0;       // id of the job on the thread, 0 when idle
  bool cancel_running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};
