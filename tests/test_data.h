// SPDX-License-Identifier: Apache-2.0
// Where tests find ../shared (models, data). OSTQ_SHARED_DIR overrides the compiled-in default.
#pragma once

#include <QtTest/QtTest>

#include <cstdlib>
#include <string>

#include "core/util/file_util.h"

namespace ostq_test {

inline std::string shared_dir() {
  const char* env = std::getenv("OSTQ_SHARED_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(OSTQ_DEFAULT_SHARED_DIR);
}

inline std::string shared_path(const std::string& relative) {
  return ostq::path_join(shared_dir(), relative);
}

// A fresh temporary directory for one test case (removed by QTemporaryDir).
inline std::string qstr(const QString& s) { return s.toStdString(); }

}  // namespace ostq_test

// Skips (never passes) the current test when a shared file is absent.
#define OSTQ_REQUIRE_SHARED(var, relative)                                                     \
  const std::string var = ostq_test::shared_path(relative);                                    \
  if (!ostq::file_exists(var)) {                                                               \
    QSKIP(qPrintable(QStringLiteral("shared file absent: ") + QString::fromStdString(var) +   \
                     QStringLiteral(" (set OSTQ_SHARED_DIR)")));                               \
  }
