// SPDX-License-Identifier: Apache-2.0
#include "ui/engine_worker.h"

#include <QCoreApplication>
#include <QMetaObject>

#include <chrono>
#include <exception>

#include "core/util/status.h"

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) { thread_ = std::thread([this] { loop(); }); }

EngineWorker::~EngineWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    cancel_running_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

quint64 EngineWorker::submit(const QString& title, const QString& tag, QObject* context, Work work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!tag.isEmpty()) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      it = it->tag == tag ? queue_.erase(it) : it + 1;
    }
  }
  const quint64 id = next_id_++;
  queue_.push_back(Job{id, title, tag, QPointer<QObject>(context), std::move(work)});
  wake_.notify_one();
  return id;
}

void EngineWorker::cancel(quint64 id) {
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_ == id) cancel_running_ = true;
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->id == id) {
        queue_.erase(it);
        dropped = true;
        break;
      }
    }
  }
  if (dropped) Q_EMIT jobFailed(id, tr("Cancelled before it started"), true);
}

bool EngineWorker::busy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_ != 0 || !queue_.empty();
}

void EngineWorker::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      running_ = job.id;
      cancel_running_ = false;
    }
    run_one(std::move(job));
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = 0;
  }
}

void EngineWorker::run_one(Job job) {
  const quint64 id = job.id;
  // Signals are emitted from this thread; receivers in the GUI thread get them queued.
  Q_EMIT jobStarted(id, job.title);
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  QString last_stage;
  ostq::ProgressFn progress = [&](const ostq::Progress& p) {
    const auto now = std::chrono::steady_clock::now();
    const QString stage = QString::fromStdString(p.stage);
    if (stage != last_stage || now - last >= std::chrono::milliseconds(40) || p.fraction >= 1.0) {
      last = now;
      last_stage = stage;
      Q_EMIT jobProgress(id, p.fraction, stage, QString::fromStdString(p.detail));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    return !cancel_running_;
  };
  try {
    // A job that returns normally completed (a cancel it never polled came too late), so its
    // result is delivered; a cancelled one has thrown Cancelled.
    Deliver deliver = job.work(progress);
    QPointer<QObject> context = job.context;
    QPointer<EngineWorker> self(this);
    QMetaObject::invokeMethod(
        qApp,
        [self, id, context, deliver = std::move(deliver)] {
          if (context && deliver) deliver();
          if (self) Q_EMIT self->jobFinished(id);
        },
        Qt::QueuedConnection);
  } catch (const ostq::StatusError& e) {
    const bool cancelled = e.status().code() == ostq::StatusCode::kCancelled;
    Q_EMIT jobFailed(id, QString::fromStdString(e.status().to_string()), cancelled);
  } catch (const std::exception& e) {
    Q_EMIT jobFailed(id, tr("internal error: %1").arg(QString::fromUtf8(e.what())), false);
  }
}
