// SPDX-License-Identifier: Apache-2.0
// A directory that appears whole or not at all: `fill` writes into a temporary sibling
// ("<dir>.tmp-<pid>"), which is renamed onto `dir` when it returns; on any exception the sibling is
// removed and `dir` is left as it was. Used by every writer of model directories.
#pragma once

#include <functional>
#include <string>

namespace ostq {

// `dir` must not exist or be an empty directory (StatusError invalid otherwise); io errors name it.
void write_directory_atomically(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

}  // namespace ostq
