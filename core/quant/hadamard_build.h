// SPDX-License-Identifier: Apache-2.0
// Internal to core/quant/hadamard*.cpp: the ±1 base matrices K that hadamard_plan() combines with
// Sylvester powers of two (OSTQUANT_SPEC.md §10).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ostq::detail {

// Paley bases are built only up to this order. A base of order K costs K multiply-adds per
// element in the online transform and K² bytes of cache, so a huge K is no faster than a dense
// matmul; every LLaMA/Qwen width we know factors with K ≤ 924 (Qwen2-72B: 924·32, paley2(461)).
constexpr int64_t kMaxPaleyOrder = 2048;

// The embedded tables (generated at configure time from resources/hadamard/had*.txt by
// core/quant/hadamard_tables.cmake): K lines of K '+'/'-' characters each.
struct HadamardTableText {
  int order;
  const char* text;
};
extern const HadamardTableText kHadamardTables[];
extern const int kHadamardTableCount;

// How a base of order K (≥ 4) is built: "table(172)", "paley1(11)", "paley2(17)"; "" if unknown.
// Stored tables win over Paley (they are the reference implementation's matrices).
std::string hadamard_base_construction(int64_t K);

// The ±1 base [K, K] row-major with A Aᵀ = K·I. Throws StatusError(unsupported) for unknown K.
std::vector<int8_t> hadamard_base_build(int64_t K);

}  // namespace ostq::detail
