// SPDX-License-Identifier: Apache-2.0
// Base Hadamard constructions: the stored tables and Paley I / II over GF(q), q a prime power.
#include "core/quant/hadamard_build.h"

#include <algorithm>
#include <string_view>

#include "core/util/status.h"

namespace ostq::detail {
namespace {

// q = p^k with p prime, k ≥ 1; false otherwise.
bool prime_power(int64_t q, int64_t* p_out, int64_t* k_out) {
  if (q < 2) return false;
  int64_t p = q;
  for (int64_t d = 2; d * d <= q; ++d)
    if (q % d == 0) {
      p = d;
      break;
    }
  int64_t k = 0;
  for (; q % p == 0; q /= p) ++k;
  if (q != 1) return false;
  *p_out = p;
  *k_out = k;
  return true;
}

// GF(p^k): elements coded as base-p integers of their polynomial coefficients, so addition is
// digit-wise; only subtraction and the quadratic character are needed for Paley.
struct GaloisField {
  int64_t p = 0, k = 0, q = 0;
  std::vector<int8_t> chi;  // [q] quadratic character: 0 for 0, +1 nonzero square, -1 otherwise

  GaloisField(int64_t p_, int64_t k_) : p(p_), k(k_), q(1) {
    for (int64_t i = 0; i < k; ++i) q *= p;
    chi.assign(static_cast<size_t>(q), -1);
    chi[0] = 0;
    if (k == 1) {
      for (int64_t x = 1; x < p; ++x) chi[static_cast<size_t>(x * x % p)] = 1;
    } else {
      mark_squares_by_primitive_element();
    }
  }

  int64_t sub(int64_t a, int64_t b) const {
    int64_t r = 0, scale = 1;
    for (int64_t i = 0; i < k; ++i, a /= p, b /= p, scale *= p) r += ((a % p - b % p + p) % p) * scale;
    return r;
  }

 private:
  // Find a monic f of degree k for which x has order q-1 in GF(p)[x]/f (then f is irreducible and
  // x primitive); the nonzero squares are exactly the even powers of x.
  void mark_squares_by_primitive_element() {
    std::vector<int64_t> f(static_cast<size_t>(k)), c(static_cast<size_t>(k));
    for (int64_t low = 1; low < q; ++low) {
      for (int64_t i = 0, v = low; i < k; ++i, v /= p) f[i] = v % p;  // f = x^k + Σ f_i x^i
      if (f[0] == 0) continue;
      std::fill(c.begin(), c.end(), 0);
      c[0] = 1;
      int64_t order = 0;
      for (int64_t e = 1; e < q; ++e) {  // c ← c·x mod f, using x^k ≡ -Σ f_i x^i
        const int64_t top = c[k - 1];
        for (int64_t i = k - 1; i >= 0; --i) c[i] = ((i ? c[i - 1] : 0) - top * f[i] % p + p) % p;
        if (c[0] == 1 && std::all_of(c.begin() + 1, c.end(), [](int64_t v) { return v == 0; })) {
          order = e;
          break;
        }
      }
      if (order != q - 1) continue;
      std::fill(c.begin(), c.end(), 0);
      c[0] = 1;
      for (int64_t e = 0; e < q - 1; ++e) {
        int64_t code = 0;
        for (int64_t i = k - 1; i >= 0; --i) code = code * p + c[i];
        chi[static_cast<size_t>(code)] = (e % 2 == 0) ? 1 : -1;
        const int64_t top = c[k - 1];
        for (int64_t i = k - 1; i >= 0; --i) c[i] = ((i ? c[i - 1] : 0) - top * f[i] % p + p) % p;
      }
      return;
    }
    throw StatusError(Status::internal("no primitive polynomial found for GF(" + std::to_string(q) + ")"));
  }
};

// Jacobsthal matrix Q [q, q], Q[a][b] = χ(a - b).
std::vector<int8_t> jacobsthal(const GaloisField& gf) {
  const int64_t q = gf.q;
  std::vector<int8_t> Q(static_cast<size_t>(q * q));
  if (gf.k == 1) {  // prime q: row a is χ(a), χ(a-1), …, χ(0), χ(q-1), …, χ(a+1)
    for (int64_t a = 0; a < q; ++a) {
      int8_t* row = Q.data() + a * q;
      for (int64_t b = 0; b <= a; ++b) row[b] = gf.chi[static_cast<size_t>(a - b)];
      for (int64_t b = a + 1; b < q; ++b) row[b] = gf.chi[static_cast<size_t>(a - b + q)];
    }
    return Q;
  }
  for (int64_t a = 0; a < q; ++a)
    for (int64_t b = 0; b < q; ++b) Q[a * q + b] = gf.chi[static_cast<size_t>(gf.sub(a, b))];
  return Q;
}

// Paley I, q ≡ 3 mod 4: H = I + [[0, 1ᵀ], [-1, Q]] of order q+1 (Q is skew).
std::vector<int8_t> paley1(const GaloisField& gf) {
  const int64_t q = gf.q, n = q + 1;
  const std::vector<int8_t> Q = jacobsthal(gf);
  std::vector<int8_t> H(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) H[j] = 1;
  for (int64_t i = 1; i < n; ++i) {
    H[i * n] = -1;
    for (int64_t j = 1; j < n; ++j) H[i * n + j] = static_cast<int8_t>(Q[(i - 1) * q + (j - 1)] + (i == j));
  }
  return H;
}

// Paley II, q ≡ 1 mod 4: C = [[0, 1ᵀ], [1, Q]] (symmetric conference matrix of order q+1), then
// 0 → [[1,-1],[-1,-1]] and ±1 → ±[[1,1],[1,-1]]: order 2(q+1).
std::vector<int8_t> paley2(const GaloisField& gf) {
  const int64_t q = gf.q, m = q + 1, n = 2 * m;
  const std::vector<int8_t> Q = jacobsthal(gf);
  std::vector<int8_t> H(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      const int c = (i == 0 || j == 0) ? (i != j) : Q[(i - 1) * q + (j - 1)];
      const int blk[4] = {c ? c : 1, c ? c : -1, c ? c : -1, c ? -c : -1};
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) H[(2 * i + r) * n + 2 * j + s] = static_cast<int8_t>(blk[2 * r + s]);
    }
  return H;
}

const HadamardTableText* find_table(int64_t K) {
  for (int i = 0; i < kHadamardTableCount; ++i)
    if (kHadamardTables[i].order == K) return &kHadamardTables[i];
  return nullptr;
}

std::vector<int8_t> parse_table(const HadamardTableText& t) {
  const int64_t K = t.order;
  std::vector<int8_t> H;
  H.reserve(static_cast<size_t>(K * K));
  int64_t col = 0;
  for (char ch : std::string_view(t.text)) {
    if (ch == '+' || ch == '-') {
      H.push_back(ch == '+' ? 1 : -1);
      ++col;
    } else if (ch == '\n') {
      if (col != 0 && col != K) break;
      col = 0;
    }
  }
  if (static_cast<int64_t>(H.size()) != K * K || (col != 0 && col != K))
    throw StatusError(Status::internal("embedded Hadamard table " + std::to_string(K) + " is malformed"));
  return H;
}

}  // namespace

std::string hadamard_base_construction(int64_t K) {
  if (K < 4 || K % 4 != 0) return {};
  if (find_table(K)) return "table(" + std::to_string(K) + ")";
  if (K > kMaxPaleyOrder) return {};
  int64_t p = 0, k = 0;
  if (prime_power(K - 1, &p, &k)) return "paley1(" + std::to_string(K - 1) + ")";  // K-1 ≡ 3 mod 4
  if ((K / 2) % 4 == 2 && prime_power(K / 2 - 1, &p, &k)) return "paley2(" + std::to_string(K / 2 - 1) + ")";
  return {};
}

std::vector<int8_t> hadamard_base_build(int64_t K) {
  const std::string how = hadamard_base_construction(K);
  if (how.empty()) throw_unsupported("no Hadamard base of order " + std::to_string(K));
  if (how.rfind("table", 0) == 0) return parse_table(*find_table(K));
  int64_t p = 0, k = 0;
  if (how.rfind("paley1", 0) == 0) {
    prime_power(K - 1, &p, &k);
    return paley1(GaloisField(p, k));
  }
  prime_power(K / 2 - 1, &p, &k);
  return paley2(GaloisField(p, k));
}

}  // namespace ostq::detail
