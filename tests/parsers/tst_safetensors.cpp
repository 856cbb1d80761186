// SPDX-License-Identifier: Apache-2.0
// safetensors reader/writer/store and the dtype conversions: round trips, hand-checked fp16/bf16
// values, and one case per rejected input (each error must name the file). To add a bad-input
// case, add a row to badFile_data().
#include <QtTest/QtTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/io/dtype.h"
#include "core/io/safetensors.h"
#include "core/util/file_util.h"
#include "core/util/status.h"
#include "test_data.h"

using namespace ostq;

namespace {

float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Empty when `s` is the expected failure: `code`, and a message naming `file` and containing
// `needle`.
QString failure_mismatch(const Status& s, StatusCode code, const std::string& file,
                         const std::string& needle) {
  const QString got = QString::fromStdString(s.to_string());
  if (s.is_ok()) return QStringLiteral("expected a failure, got ok");
  if (s.code() != code) return QStringLiteral("wrong status code: ") + got;
  if (s.message().find(file) == std::string::npos) return QStringLiteral("file not named: ") + got;
  if (s.message().find(needle) == std::string::npos) {
    return QStringLiteral("message lacks \"") + QString::fromStdString(needle) +
           QStringLiteral("\": ") + got;
  }
  return {};
}

#define EXPECT_FAILURE(status, code, file, needle)                           \
  do {                                                                       \
    const QString m_ = failure_mismatch((status), (code), (file), (needle)); \
    QVERIFY2(m_.isEmpty(), qPrintable(m_));                                  \
  } while (0)

// A raw safetensors file: 8-byte length (n_override when given), the header, data_len bytes 0..255.
QByteArray raw_file(const std::string& header, size_t data_len, uint64_t n_override = UINT64_MAX) {
  const uint64_t n = n_override == UINT64_MAX ? header.size() : n_override;
  QByteArray out;
  for (int i = 0; i < 8; ++i) out.append(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(header.data(), static_cast<qsizetype>(header.size()));
  for (size_t i = 0; i < data_len; ++i) out.append(static_cast<char>(i & 0xff));
  return out;
}

void write_bytes(const std::string& path, const QByteArray& bytes) {
  QFile f(QString::fromStdString(path));
  QVERIFY(f.open(QIODevice::WriteOnly));
  QCOMPARE(f.write(bytes), bytes.size());
}

QStringList dir_entries(const std::string& dir) {
  return QDir(QString::fromStdString(dir)).entryList(QDir::Files, QDir::Name);
}

template <typename T>
TensorToWrite make_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                          const std::vector<T>& data) {
  return {name, dtype, std::move(shape), data.data(), data.size() * sizeof(T)};
}

bool same_bytes(const SafetensorsFile& f, const TensorInfo& t, const void* expected, size_t n) {
  return t.nbytes == n && (n == 0 || std::memcmp(f.tensor_data(t), expected, n) == 0);
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void dtypeNames();
  void fp16HandValues();
  void fp16Exhaustive();
  void bf16HandValues();
  void bf16Exhaustive();
  void convertToFp32();
  void roundTrip();
  void headerPadding();
  void unpaddedFileReads();
  void emptyFile();
  void writerRejectsBadTensors();
  void writerCancel();
  void badFile_data();
  void badFile();
  void shardedRoundTrip();
  void shardedSingleFile();
  void storeLayouts();
  void badIndex_data();
  void badIndex();
};

void TestSafetensors::dtypeNames() {
  const DType all[] = {DType::kF64, DType::kF32, DType::kF16, DType::kBF16, DType::kI64,
                       DType::kI32, DType::kI16, DType::kI8,  DType::kU8,   DType::kBool,
                       DType::kU16, DType::kU32, DType::kU64};
  const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 2, 4, 8};
  for (size_t i = 0; i < std::size(all); ++i) {
    QCOMPARE(dtype_size(all[i]), sizes[i]);
    QVERIFY(dtype_try_from_name(dtype_name(all[i])) == all[i]);
  }
  QCOMPARE(std::string(dtype_name(DType::kBF16)), std::string("BF16"));
  QCOMPARE(std::string(dtype_name(DType::kBool)), std::string("BOOL"));
  QCOMPARE(std::string(dtype_torch_name(DType::kBF16)), std::string("bfloat16"));
  QVERIFY(!dtype_try_from_name("F8_E4M3").has_value());
  QVERIFY(!dtype_try_from_name("f32").has_value());

  Status s = status_guard([] { (void)dtype_from_name("F8_E4M3", "w.safetensors: tensor x"); });
  EXPECT_FAILURE(s, StatusCode::kUnsupported, "w.safetensors", "F8_E4M3");
  s = status_guard([] { (void)dtype_from_name("Q4_K", "w.safetensors"); });
  EXPECT_FAILURE(s, StatusCode::kUnsupported, "w.safetensors", "unknown dtype");
}

void TestSafetensors::fp16HandValues() {
  struct Case {
    uint16_t h;
    float f;
  };
  const Case exact[] = {
      {0x0000, 0.0f},
      {0x3c00, 1.0f},
      {0xc000, -2.0f},
      {0x3555, 0.333251953125f},
      {0x7bff, 65504.0f},
      {0x0400, std::ldexp(1.0f, -14)},     // smallest normal
      {0x03ff, std::ldexp(1023.0f, -24)},  // largest subnormal
      {0x0001, std::ldexp(1.0f, -24)},     // smallest subnormal
      {0x8001, -std::ldexp(1.0f, -24)},
      {0x7c00, std::numeric_limits<float>::infinity()},
      {0xfc00, -std::numeric_limits<float>::infinity()},
  };
  for (const auto& c : exact) {
    QCOMPARE(f32_bits(fp16_to_fp32(c.h)), f32_bits(c.f));
    QCOMPARE(fp32_to_fp16(c.f), c.h);
  }
  QCOMPARE(f32_bits(fp16_to_fp32(0x8000)), 0x80000000u);  // -0 keeps its sign
  QCOMPARE(fp32_to_fp16(-0.0f), uint16_t{0x8000});
  QVERIFY(std::isnan(fp16_to_fp32(0x7e00)));
  QVERIFY(std::isnan(fp16_to_fp32(0xfd01)));

  // Rounding: ties go to even, in the normal and the subnormal range.
  QCOMPARE(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), uint16_t{0x3c00});      // tie → even
  QCOMPARE(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), uint16_t{0x3c02});  // tie → even
  QCOMPARE(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), uint16_t{0x3c01});
  QCOMPARE(fp32_to_fp16(65519.0f), uint16_t{0x7bff});
  QCOMPARE(fp32_to_fp16(65520.0f), uint16_t{0x7c00});  // tie above the largest finite → inf
  QCOMPARE(fp32_to_fp16(1e6f), uint16_t{0x7c00});
  QCOMPARE(fp32_to_fp16(-1e30f), uint16_t{0xfc00});
  QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -25)), uint16_t{0x0000});  // tie with 0 → 0
  QCOMPARE(fp32_to_fp16(std::ldexp(1.5f, -25)), uint16_t{0x0001});
  QCOMPARE(fp32_to_fp16(std::ldexp(3.0f, -25)), uint16_t{0x0002});     // 1.5 ulp → even 2
  QCOMPARE(fp32_to_fp16(std::ldexp(5.0f, -25)), uint16_t{0x0002});     // 2.5 ulp → even 2
  QCOMPARE(fp32_to_fp16(std::ldexp(2047.0f, -25)), uint16_t{0x0400});  // carries into normal
  QCOMPARE(fp32_to_fp16(std::ldexp(1.0f, -30)), uint16_t{0x0000});
  QCOMPARE(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), uint16_t{0x0000});
  // NaN stays NaN even when only low payload bits are set.
  const uint16_t n1 = fp32_to_fp16(bits_f32(0x7f800001u));
  QVERIFY((n1 & 0x7c00) == 0x7c00 && (n1 & 0x3ff) != 0);
  QCOMPARE(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
}

void TestSafetensors::fp16Exhaustive() {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    // Reference value from the definition (sign, exponent, mantissa).
    const int e = (h >> 10) & 0x1f;
    const int m = h & 0x3ff;
    if (e != 0x1f) {
      float ref =
          e == 0 ? std::ldexp(static_cast<float>(m), -24) : std::ldexp(1.0f + m / 1024.0f, e - 15);
      if (h & 0x8000) ref = -ref;
      QCOMPARE(f32_bits(f), f32_bits(ref));
    }
    QCOMPARE(fp32_to_fp16(f), static_cast<uint16_t>(h));  // exact round trip, NaN payloads too
  }
#if defined(__FLT16_MAX__)
  // Against the compiler's own fp32 → _Float16 conversion (round to nearest even).
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000000; ++i) {
    const float f = bits_f32(rng());
    if (std::isnan(f)) continue;
    const _Float16 ref = static_cast<_Float16>(f);
    uint16_t rb;
    std::memcpy(&rb, &ref, 2);
    if (fp32_to_fp16(f) != rb)
      QFAIL(qPrintable(QStringLiteral("mismatch for %1").arg(f32_bits(f), 8, 16)));
  }
#endif
}

void TestSafetensors::bf16HandValues() {
  QCOMPARE(bf16_to_fp32(0x3f80), 1.0f);
  QCOMPARE(bf16_to_fp32(0xc040), -3.0f);
  QCOMPARE(f32_bits(bf16_to_fp32(0x0001)), 0x00010000u);  // subnormal
  QVERIFY(std::isinf(bf16_to_fp32(0x7f80)) && bf16_to_fp32(0x7f80) > 0);
  QVERIFY(std::isinf(bf16_to_fp32(0xff80)) && bf16_to_fp32(0xff80) < 0);
  QVERIFY(std::isnan(bf16_to_fp32(0x7fc0)));

  QCOMPARE(fp32_to_bf16(1.0f), uint16_t{0x3f80});
  QCOMPARE(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), uint16_t{0x3f80});      // tie → even
  QCOMPARE(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), uint16_t{0x3f82});  // tie → even
  QCOMPARE(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), uint16_t{0x3f81});
  QCOMPARE(fp32_to_bf16(bits_f32(0x00018000u)), uint16_t{0x0002});  // subnormal tie → even
  QCOMPARE(fp32_to_bf16(bits_f32(0x00008000u)), uint16_t{0x0000});
  QCOMPARE(fp32_to_bf16(std::numeric_limits<float>::max()), uint16_t{0x7f80});  // rounds to inf
  QCOMPARE(fp32_to_bf16(-std::numeric_limits<float>::infinity()), uint16_t{0xff80});
  QCOMPARE(fp32_to_bf16(-0.0f), uint16_t{0x8000});
  QCOMPARE(fp32_to_bf16(bits_f32(0x7f800001u)), uint16_t{0x7fc0});  // NaN, never inf
  QCOMPARE(fp32_to_bf16(bits_f32(0xffc12345u)), uint16_t{0xffc1});  // payload truncated
}

void TestSafetensors::bf16Exhaustive() {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    QCOMPARE(fp32_to_bf16(bf16_to_fp32(static_cast<uint16_t>(b))), static_cast<uint16_t>(b));
  }
  // RNE against a double-based reference on random finite floats.
  std::mt19937 rng(99);
  for (int i = 0; i < 200000; ++i) {
    const float f = bits_f32(rng());
    if (!std::isfinite(f)) continue;
    const uint16_t r = fp32_to_bf16(f);
    const uint16_t lo = static_cast<uint16_t>(f32_bits(f) >> 16);  // truncation toward zero
    const uint16_t hi = static_cast<uint16_t>(lo + 1);
    const double dlo = std::fabs(static_cast<double>(bf16_to_fp32(lo)) - f);
    const double dhi = std::fabs(static_cast<double>(bf16_to_fp32(hi)) - f);
    const uint16_t expect = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
    if (std::isinf(bf16_to_fp32(hi)) && (hi & 0x7fff) == 0x7f80) {
      // Above the largest finite bf16: the rounding boundary is the halfway point to 2^128.
      continue;
    }
    QCOMPARE(r, expect);
  }
}

void TestSafetensors::convertToFp32() {
  // Sources start at an odd address: tensors in a map need not be aligned.
  alignas(16) uint8_t buf[1 + 8 * 4];
  float out[4];
  auto check = [&](DType t, const void* values, const std::vector<float>& expected) {
    std::memcpy(buf + 1, values, expected.size() * dtype_size(t));
    convert_to_fp32(buf + 1, t, out, expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      if (out[i] != expected[i]) return false;
    }
    return true;
  };
  const float f32[] = {1.5f, -2.0f, 0.0f, 1e30f};
  QVERIFY(check(DType::kF32, f32, {1.5f, -2.0f, 0.0f, 1e30f}));
  const double f64[] = {0.25, -8.0, 3.0, 1e10};
  QVERIFY(check(DType::kF64, f64, {0.25f, -8.0f, 3.0f, 1e10f}));
  const uint16_t f16[] = {0x3c00, 0xc000, 0x0001, 0x7bff};
  QVERIFY(check(DType::kF16, f16, {1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f}));
  const uint16_t bf16[] = {0x3f80, 0xc040, 0x4000, 0x0000};
  QVERIFY(check(DType::kBF16, bf16, {1.0f, -3.0f, 2.0f, 0.0f}));
  const int32_t i32[] = {-7, 0, 123456, 2};
  QVERIFY(check(DType::kI32, i32, {-7.0f, 0.0f, 123456.0f, 2.0f}));
  const int64_t i64[] = {-1, 1LL << 40, 5, 0};
  QVERIFY(check(DType::kI64, i64, {-1.0f, std::ldexp(1.0f, 40), 5.0f, 0.0f}));
  const int8_t i8[] = {-128, 127, 0, 1};
  QVERIFY(check(DType::kI8, i8, {-128.0f, 127.0f, 0.0f, 1.0f}));
  const uint8_t u8[] = {255, 0, 7, 1};
  QVERIFY(check(DType::kU8, u8, {255.0f, 0.0f, 7.0f, 1.0f}));
  const uint8_t b8[] = {0, 1, 2, 0};
  QVERIFY(check(DType::kBool, b8, {0.0f, 1.0f, 1.0f, 0.0f}));
  const uint16_t u16[] = {65535, 0, 1, 2};
  QVERIFY(check(DType::kU16, u16, {65535.0f, 0.0f, 1.0f, 2.0f}));
  const int16_t i16[] = {-32768, 0, 1, 2};
  QVERIFY(check(DType::kI16, i16, {-32768.0f, 0.0f, 1.0f, 2.0f}));
  const uint32_t u32[] = {4000000000u, 0, 1, 2};
  QVERIFY(check(DType::kU32, u32, {4e9f, 0.0f, 1.0f, 2.0f}));
  const uint64_t u64[] = {1ULL << 63, 0, 1, 2};
  QVERIFY(check(DType::kU64, u64, {std::ldexp(1.0f, 63), 0.0f, 1.0f, 2.0f}));

  // convert_from_fp32 mirrors it for the float types.
  const float src[] = {1.0f, -2.5f, 65504.0f, std::ldexp(1.0f, -24)};
  uint16_t h[4];
  convert_from_fp32(src, DType::kF16, h, 4);
  QCOMPARE(h[0], uint16_t{0x3c00});
  QCOMPARE(h[3], uint16_t{0x0001});
  convert_to_fp32(h, DType::kF16, out, 4);
  for (int i = 0; i < 4; ++i) QCOMPARE(out[i], src[i]);
  convert_from_fp32(src, DType::kBF16, h, 4);
  QCOMPARE(h[1], uint16_t{0xc020});
  const Status s = status_guard([&] { convert_from_fp32(src, DType::kI32, h, 1); });
  QCOMPARE(s.code(), StatusCode::kUnsupported);
}

void TestSafetensors::roundTrip() {
  QTemporaryDir tmp;
  QVERIFY(tmp.isValid());
  const std::string path = path_join(ostq_test::qstr(tmp.path()), "t.safetensors");

  const std::vector<float> a = {1.0f, -2.0f, 3.5f, 0.0f, 1e-20f, -1e20f};
  const std::vector<uint16_t> b = {0x3c00, 0x0001, 0x7c00, 0xc000};
  const std::vector<uint16_t> c = {0x3f80, 0x7fc0, 0x8000};
  const std::vector<int32_t> d = {-1, 2, 2147483647, -2147483647 - 1};
  const std::vector<float> scalar = {42.0f};
  const std::vector<float> empty;
  std::vector<TensorToWrite> tensors = {
      make_tensor("model.layers.0.weight", DType::kF32, {2, 3}, a),
      make_tensor("half", DType::kF16, {4}, b),
      make_tensor("brain", DType::kBF16, {3, 1}, c),
      make_tensor("ints", DType::kI32, {2, 2}, d),
      make_tensor("scalar", DType::kF32, {}, scalar),
      make_tensor("empty", DType::kF32, {0, 5}, empty),
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "ünïcode"}};
  safetensors_write(path, tensors, meta);
  QCOMPARE(dir_entries(ostq_test::qstr(tmp.path())), QStringList{QStringLiteral("t.safetensors")});

  const auto r = status_guard([&] { return SafetensorsFile::open(path); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  const SafetensorsFile& f = r.value();
  const SafetensorsHeader& h = f.header();
  QCOMPARE(h.data_start % 8, uint64_t{0});
  QCOMPARE(h.metadata, meta);
  QCOMPARE(h.tensors.size(), tensors.size());
  uint64_t expected_offset = h.data_start;
  for (size_t i = 0; i < tensors.size(); ++i) {
    // Data order is the write order; the header lists tensors in data order.
    const TensorInfo& t = h.tensors[i];
    QCOMPARE(t.name, tensors[i].name);
    QCOMPARE(t.dtype, tensors[i].dtype);
    QCOMPARE(t.shape, tensors[i].shape);
    QCOMPARE(t.data_offset, expected_offset);
    QVERIFY(same_bytes(f, t, tensors[i].data, tensors[i].nbytes));
    QCOMPARE(f.find(t.name), &t);
    expected_offset += t.nbytes;
  }
  QCOMPARE(expected_offset, static_cast<uint64_t>(f.mapping()->size()));
  QCOMPARE(f.find("scalar")->numel(), int64_t{1});
  QCOMPARE(f.find("empty")->numel(), int64_t{0});
  QCOMPARE(f.find("empty")->nbytes, uint64_t{0});
  QVERIFY(f.find("missing") == nullptr);

  // Overwrite with a different content: the rename replaces the old file.
  safetensors_write(path, {make_tensor("only", DType::kF32, {1}, scalar)}, {});
  const auto r2 = status_guard([&] { return SafetensorsFile::open(path); });
  QVERIFY(r2.is_ok());
  QCOMPARE(r2.value().header().tensors.size(), size_t{1});
  QVERIFY(r2.value().header().metadata.empty());
}

void TestSafetensors::headerPadding() {
  QTemporaryDir tmp;
  const std::vector<uint8_t> byte = {7};
  for (int len = 1; len <= 17; ++len) {
    const std::string path = path_join(ostq_test::qstr(tmp.path()), "p.safetensors");
    safetensors_write(path, {make_tensor(std::string(len, 'x'), DType::kU8, {1}, byte)}, {});
    const std::string bytes = read_file(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    QCOMPARE((8 + n) % 8, uint64_t{0});
    QCOMPARE(bytes.size(), static_cast<size_t>(8 + n + 1));
    const std::string header = bytes.substr(8, n);
    const size_t close = header.rfind('}');
    QVERIFY(close != std::string::npos);
    QVERIFY(header.size() - (close + 1) < 8);  // at most 7 pad bytes
    for (size_t i = close + 1; i < header.size(); ++i) QCOMPARE(header[i], ' ');
    QCOMPARE(static_cast<uint8_t>(bytes.back()), uint8_t{7});
  }
}

void TestSafetensors::unpaddedFileReads() {
  // A writer that does not pad: data starts at an odd offset. Readers must not need alignment.
  QTemporaryDir tmp;
  const std::string path = path_join(ostq_test::qstr(tmp.path()), "odd.safetensors");
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  QVERIFY(header.size() % 8 != 0);
  QByteArray bytes = raw_file(header, 0);
  const float v[2] = {3.25f, -1.0f};
  bytes.append(reinterpret_cast<const char*>(v), 8);
  write_bytes(path, bytes);
  const auto r = status_guard([&] { return SafetensorsFile::open(path); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  const TensorInfo* t = r.value().find("a");
  QVERIFY(t != nullptr);
  QCOMPARE(t->data_offset, static_cast<uint64_t>(8 + header.size()));
  float out[2];
  convert_to_fp32(r.value().tensor_data(*t), t->dtype, out, 2);
  QCOMPARE(out[0], 3.25f);
  QCOMPARE(out[1], -1.0f);

  // Trailing whitespace padding inside the header is accepted too.
  write_bytes(path, raw_file(std::string("{}") + "      ", 0));
  QVERIFY(status_guard([&] { return SafetensorsFile::open(path); }).is_ok());
}

void TestSafetensors::emptyFile() {
  QTemporaryDir tmp;
  const std::string path = path_join(ostq_test::qstr(tmp.path()), "none.safetensors");
  safetensors_write(path, {}, {});
  const auto r = status_guard([&] { return SafetensorsFile::open(path); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  QVERIFY(r.value().header().tensors.empty());
}

void TestSafetensors::writerRejectsBadTensors() {
  QTemporaryDir tmp;
  const std::string path = path_join(ostq_test::qstr(tmp.path()), "bad.safetensors");
  const std::vector<float> v = {1, 2, 3};
  auto expect = [&](std::vector<TensorToWrite> ts, const char* needle) {
    const Status s = status_guard([&] { safetensors_write(path, ts, {}); });
    return failure_mismatch(s, StatusCode::kInvalidInput, path, needle);
  };
  QString m = expect({make_tensor("a", DType::kF32, {2}, v)}, "shape needs");
  QVERIFY2(m.isEmpty(), qPrintable(m));
  m = expect({make_tensor("a", DType::kF32, {3}, v), make_tensor("a", DType::kF32, {3}, v)},
             "duplicate");
  QVERIFY2(m.isEmpty(), qPrintable(m));
  m = expect({make_tensor("__metadata__", DType::kF32, {3}, v)}, "reserved");
  QVERIFY2(m.isEmpty(), qPrintable(m));
  m = expect({make_tensor("a", DType::kF32, {-1, -3}, v)}, "negative");
  QVERIFY2(m.isEmpty(), qPrintable(m));
  m = expect({make_tensor(std::string("bad\xff"), DType::kF32, {3}, v)}, "UTF-8");
  QVERIFY2(m.isEmpty(), qPrintable(m));
  QVERIFY(dir_entries(ostq_test::qstr(tmp.path())).isEmpty());  // nothing left behind
}

void TestSafetensors::writerCancel() {
  QTemporaryDir tmp;
  const std::string dir = ostq_test::qstr(tmp.path());
  const std::vector<float> v(1000, 1.0f);
  std::vector<TensorToWrite> ts = {make_tensor("a", DType::kF32, {1000}, v),
                                   make_tensor("b", DType::kF32, {1000}, v)};
  int calls = 0;
  WriteProgress cancel_late = [&](float, std::string_view) { return ++calls < 3; };
  Status s = status_guard(
      [&] { safetensors_write(path_join(dir, "c.safetensors"), ts, {}, cancel_late); });
  QVERIFY(s.is_cancelled());
  QVERIFY(dir_entries(dir).isEmpty());

  calls = 0;
  s = status_guard([&] { safetensors_write_sharded(dir, ts, 4000, {}, cancel_late); });
  QVERIFY(s.is_cancelled());
  QVERIFY(dir_entries(dir).isEmpty());

  std::vector<float> fractions;
  WriteProgress record = [&](float f, std::string_view) {
    fractions.push_back(f);
    return true;
  };
  safetensors_write_sharded(dir, ts, 4000, {}, record);
  QVERIFY(!fractions.empty());
  QCOMPARE(fractions.back(), 1.0f);
  QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));
}

void TestSafetensors::badFile_data() {
  QTest::addColumn<QByteArray>("bytes");
  QTest::addColumn<int>("code");
  QTest::addColumn<QString>("needle");
  const int inv = static_cast<int>(StatusCode::kInvalidInput);
  const int uns = static_cast<int>(StatusCode::kUnsupported);
  auto entry = [](const char* name, const char* dtype, const char* shape, const char* offsets) {
    return std::string("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  const std::string a8 = entry("a", "F32", "[2]", "[0,8]");

  QTest::newRow("empty file") << QByteArray() << inv << QStringLiteral("too small");
  QTest::newRow("truncated length")
      << QByteArray("\x05\x00\x00", 3) << inv << QStringLiteral("too small");
  QTest::newRow("header past end")
      << raw_file("{}", 0, 1000) << inv << QStringLiteral("exceeds the file size");
  QTest::newRow("header over 100MB")
      << raw_file("{}", 0, 200'000'000) << inv << QStringLiteral("100 MB");
  QTest::newRow("truncated data") << raw_file("{" + a8 + "}", 5) << inv
                                  << QStringLiteral("past the end");
  QTest::newRow("invalid json") << raw_file("{\"a\": ", 0) << inv
                                << QStringLiteral("not valid JSON");
  QTest::newRow("not an object") << raw_file("[1,2]", 0) << inv
                                 << QStringLiteral("not a JSON object");
  QTest::newRow("trailing nul") << raw_file(std::string("{}\0", 3), 0) << inv
                                << QStringLiteral("not valid JSON");
  QTest::newRow("invalid utf8") << raw_file("{\"\xff\":1}", 0) << inv
                                << QStringLiteral("not valid JSON");
  QTest::newRow("entry not object")
      << raw_file("{\"a\":5}", 0) << inv << QStringLiteral("expected an object");
  QTest::newRow("missing dtype") << raw_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4)
                                 << inv << QStringLiteral("missing \"dtype\"");
  QTest::newRow("missing shape") << raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4)
                                 << inv << QStringLiteral("missing \"shape\"");
  QTest::newRow("missing data_offsets") << raw_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4)
                                        << inv << QStringLiteral("missing \"data_offsets\"");
  QTest::newRow("dtype not string")
      << raw_file(R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4) << inv
      << QStringLiteral("\"dtype\"");
  QTest::newRow("size mismatch") << raw_file("{" + entry("a", "F32", "[2]", "[0,4]") + "}", 4)
                                 << inv << QStringLiteral("shape needs");
  QTest::newRow("end before begin") << raw_file("{" + entry("a", "U8", "[0]", "[4,0]") + "}", 4)
                                    << inv << QStringLiteral("end before begin");
  QTest::newRow("offsets out of range")
      << raw_file("{" + entry("a", "F32", "[2]", "[8,16]") + "}", 8) << inv
      << QStringLiteral("past the end");
  QTest::newRow("offsets not integers")
      << raw_file("{" + entry("a", "F32", "[1]", "[0.0,4]") + "}", 4) << inv
      << QStringLiteral("data_offsets");
  QTest::newRow("offsets wrong arity")
      << raw_file("{" + entry("a", "F32", "[1]", "[0,4,8]") + "}", 4) << inv
      << QStringLiteral("data_offsets");
  QTest::newRow("overlap") << raw_file("{" + a8 + "," + entry("b", "F32", "[2]", "[4,12]") + "}",
                                       12)
                           << inv << QStringLiteral("overlap");
  QTest::newRow("empty inside another")
      << raw_file("{" + a8 + "," + entry("b", "F32", "[0]", "[4,4]") + "}", 8) << inv
      << QStringLiteral("overlap");
  QTest::newRow("hole") << raw_file("{" + entry("a", "F32", "[1]", "[0,4]") + "," +
                                        entry("b", "F32", "[1]", "[8,12]") + "}",
                                    12)
                        << inv << QStringLiteral("holes");
  QTest::newRow("trailing bytes") << raw_file("{" + a8 + "}", 12) << inv
                                  << QStringLiteral("unused bytes after");
  QTest::newRow("unknown dtype F8")
      << raw_file("{" + entry("a", "F8_E4M3", "[4]", "[0,4]") + "}", 4) << uns
      << QStringLiteral("F8_E4M3");
  QTest::newRow("unknown dtype") << raw_file("{" + entry("a", "Q4", "[4]", "[0,4]") + "}", 4) << uns
                                 << QStringLiteral("unknown dtype");
  QTest::newRow("negative shape") << raw_file("{" + entry("a", "F32", "[-1]", "[0,4]") + "}", 4)
                                  << inv << QStringLiteral("negative dimension");
  QTest::newRow("float shape") << raw_file("{" + entry("a", "F32", "[1.5]", "[0,4]") + "}", 4)
                               << inv << QStringLiteral("non-negative integers");
  QTest::newRow("shape overflow")
      << raw_file("{" + entry("a", "F32", "[4611686018427387904,8]", "[0,4]") + "}", 4) << inv
      << QStringLiteral("overflows");
  QTest::newRow("byte size overflow")
      << raw_file("{" + entry("a", "F64", "[4611686018427387904]", "[0,4]") + "}", 4) << inv
      << QStringLiteral("overflows");
  QTest::newRow("duplicate name") << raw_file(
                                         "{" + a8 + "," + entry("a", "F32", "[2]", "[8,16]") + "}",
                                         16)
                                  << inv << QStringLiteral("duplicate");
  QTest::newRow("metadata not object")
      << raw_file(R"({"__metadata__":[1]})", 0) << inv << QStringLiteral("__metadata__");
  QTest::newRow("metadata non-string")
      << raw_file(R"({"__metadata__":{"k":1}})", 0) << inv << QStringLiteral("expected a string");
}

void TestSafetensors::badFile() {
  QFETCH(QByteArray, bytes);
  QFETCH(int, code);
  QFETCH(QString, needle);
  QTemporaryDir tmp;
  const std::string path = path_join(ostq_test::qstr(tmp.path()), "bad.safetensors");
  write_bytes(path, bytes);
  const Status s = status_guard([&] { (void)SafetensorsFile::open(path); });
  EXPECT_FAILURE(s, static_cast<StatusCode>(code), path, needle.toStdString());
  // The in-memory parser reports the name it is given.
  const Status s2 = status_guard([&] {
    (void)safetensors_parse(reinterpret_cast<const uint8_t*>(bytes.constData()),
                            static_cast<size_t>(bytes.size()), "mem.safetensors");
  });
  EXPECT_FAILURE(s2, static_cast<StatusCode>(code), "mem.safetensors", needle.toStdString());
}

void TestSafetensors::shardedRoundTrip() {
  QTemporaryDir tmp;
  const std::string dir = ostq_test::qstr(tmp.path());
  std::vector<std::vector<float>> data;
  for (int i = 0; i < 6; ++i) data.emplace_back(100 + (i == 4 ? 300 : 0), static_cast<float>(i));
  std::vector<TensorToWrite> ts;
  for (int i = 0; i < 6; ++i) {
    ts.push_back(make_tensor("t" + std::to_string(i), DType::kF32,
                             {static_cast<int64_t>(data[i].size())}, data[i]));
  }
  // 400-byte tensors, t4 is 1600 bytes (> limit: a shard of its own): [t0 t1] [t2 t3] [t4] [t5].
  safetensors_write_sharded(dir, ts, 1000, {{"format", "pt"}});
  QCOMPARE(dir_entries(dir), (QStringList{QStringLiteral("model-00001-of-00004.safetensors"),
                                          QStringLiteral("model-00002-of-00004.safetensors"),
                                          QStringLiteral("model-00003-of-00004.safetensors"),
                                          QStringLiteral("model-00004-of-00004.safetensors"),
                                          QStringLiteral("model.safetensors.index.json")}));
  const std::string index_path = path_join(dir, "model.safetensors.index.json");
  const SafetensorsIndex index = safetensors_index_parse(read_file(index_path), index_path);
  QCOMPARE(index.total_size, uint64_t{5 * 400 + 1600});
  QCOMPARE(index.weight_map.size(), size_t{6});
  QCOMPARE(index.weight_map.at("t1"), std::string("model-00001-of-00004.safetensors"));
  QCOMPARE(index.weight_map.at("t4"), std::string("model-00003-of-00004.safetensors"));

  const auto r = status_guard([&] { return SafetensorsStore::open_dir(dir); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  const SafetensorsStore& store = r.value();
  QCOMPARE(store.files().size(), size_t{4});
  QCOMPARE(store.names(), (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4", "t5"}));
  QCOMPARE(store.total_bytes(), index.total_size);
  for (int i = 0; i < 6; ++i) {
    const TensorLocation loc = store.find("t" + std::to_string(i));
    QVERIFY(loc);
    QVERIFY(same_bytes(*loc.file, *loc.info, data[i].data(), data[i].size() * 4));
    QCOMPARE(loc.file->header().metadata.at("format"), std::string("pt"));
  }
  QVERIFY(!store.find("t6"));

  // The other layout already present is refused rather than left to shadow the new files.
  const Status s = status_guard([&] { safetensors_write_sharded(dir, ts, 1u << 20); });
  EXPECT_FAILURE(s, StatusCode::kInvalidInput, dir, "model.safetensors.index.json");
}

void TestSafetensors::shardedSingleFile() {
  QTemporaryDir tmp;
  const std::string dir = ostq_test::qstr(tmp.path());
  const std::vector<float> v(10, 2.0f);
  safetensors_write_sharded(
      dir, {make_tensor("a", DType::kF32, {10}, v), make_tensor("b", DType::kF32, {2, 5}, v)}, 80);
  QCOMPARE(dir_entries(dir), QStringList{QStringLiteral("model.safetensors")});
  const auto r = status_guard([&] { return SafetensorsStore::open_dir(dir); });
  QVERIFY2(r.is_ok(), r.status().to_string().c_str());
  QCOMPARE(r.value().find("b").info->shape, (std::vector<int64_t>{2, 5}));
  const Status s = status_guard([&] { safetensors_write_sharded(dir, {}, 0); });
  QCOMPARE(s.code(), StatusCode::kInvalidInput);
}

void TestSafetensors::storeLayouts() {
  const std::vector<float> v = {1, 2};
  {  // a single file with another name
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path());
    safetensors_write(path_join(dir, "weights.safetensors"),
                      {make_tensor("w", DType::kF32, {2}, v)}, {});
    const auto r = status_guard([&] { return SafetensorsStore::open_dir(dir); });
    QVERIFY2(r.is_ok(), r.status().to_string().c_str());
    QCOMPARE(r.value().names(), std::vector<std::string>{"w"});
    // A second one makes it ambiguous.
    safetensors_write(path_join(dir, "other.safetensors"), {make_tensor("x", DType::kF32, {2}, v)},
                      {});
    const Status s = status_guard([&] { (void)SafetensorsStore::open_dir(dir); });
    EXPECT_FAILURE(s, StatusCode::kInvalidInput, dir, "no model.safetensors.index.json");
  }
  {  // pickle only
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path());
    write_bytes(path_join(dir, "pytorch_model.bin"), QByteArray("PK\x03\x04", 4));
    write_bytes(path_join(dir, "config.json"), QByteArray("{}"));
    const Status s = status_guard([&] { (void)SafetensorsStore::open_dir(dir); });
    EXPECT_FAILURE(s, StatusCode::kUnsupported, dir, "pytorch_model.bin");
    QVERIFY(s.message().find("safetensors") != std::string::npos);
  }
  {  // no weights at all (a llama2.c tokenizer.bin is not mistaken for a pickle)
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path());
    write_bytes(path_join(dir, "tokenizer.bin"), QByteArray("\x10\x00\x00\x00", 4));
    const Status s = status_guard([&] { (void)SafetensorsStore::open_dir(dir); });
    EXPECT_FAILURE(s, StatusCode::kInvalidInput, dir, "no model weights");
    const std::string missing = path_join(dir, "nope");
    EXPECT_FAILURE(status_guard([&] { (void)SafetensorsStore::open_dir(missing); }),
                   StatusCode::kIoError, missing, "not a directory");
  }
  {  // a corrupt model.safetensors reports its own path
    QTemporaryDir tmp;
    const std::string dir = ostq_test::qstr(tmp.path());
    const std::string p = path_join(dir, "model.safetensors");
    write_bytes(p, QByteArray("\x02\x00\x00\x00\x00\x00\x00\x00{", 9));
    EXPECT_FAILURE(status_guard([&] { (void)SafetensorsStore::open_dir(dir); }),
                   StatusCode::kInvalidInput, p, "exceeds the file size");
  }
}

void TestSafetensors::badIndex_data() {
  QTest::addColumn<QString>("index");
  QTest::addColumn<QString>("needle");
  QTest::addColumn<QString>("culprit");  // file that must be named: index or a shard
  const QString idx = QStringLiteral("model.safetensors.index.json");
  const QString s2 = QStringLiteral("model-00002-of-00002.safetensors");
  QTest::newRow("missing shard")
      << QStringLiteral(
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00009-of-00009.safetensors"}})")
      << QStringLiteral("does not exist") << idx;
  QTest::newRow("wrong shard")
      << QStringLiteral(
             R"({"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})")
      << QStringLiteral("but is stored in") << idx;
  QTest::newRow("not in shard")
      << QStringLiteral(
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors","c":"model-00002-of-00002.safetensors","d":"model-00002-of-00002.safetensors"}})")
      << QStringLiteral("does not contain it") << idx;
  QTest::newRow("unlisted tensor")
      << QStringLiteral(
             R"({"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})")
      << QStringLiteral("is not listed") << s2;
  QTest::newRow("missing weight_map") << QStringLiteral(R"({"metadata":{"total_size":8}})")
                                      << QStringLiteral("missing \"weight_map\"") << idx;
  QTest::newRow("weight_map not object")
      << QStringLiteral(R"({"weight_map":[1]})") << QStringLiteral("expected an object") << idx;
  QTest::newRow("empty weight_map")
      << QStringLiteral(R"({"weight_map":{}})") << QStringLiteral("empty") << idx;
  QTest::newRow("shard not string")
      << QStringLiteral(R"({"weight_map":{"a":3}})") << QStringLiteral("shard file name") << idx;
  QTest::newRow("path traversal") << QStringLiteral(R"({"weight_map":{"a":"../x.safetensors"}})")
                                  << QStringLiteral("plain file name") << idx;
  QTest::newRow("invalid json") << QStringLiteral("{\"weight_map\":")
                                << QStringLiteral("not valid JSON") << idx;
}

void TestSafetensors::badIndex() {
  QFETCH(QString, index);
  QFETCH(QString, needle);
  QFETCH(QString, culprit);
  QTemporaryDir tmp;
  const std::string dir = ostq_test::qstr(tmp.path());
  const std::vector<float> v = {1, 2};
  safetensors_write(path_join(dir, "model-00001-of-00002.safetensors"),
                    {make_tensor("a", DType::kF32, {2}, v)}, {});
  safetensors_write(
      path_join(dir, "model-00002-of-00002.safetensors"),
      {make_tensor("b", DType::kF32, {2}, v), make_tensor("c", DType::kF32, {1, 2}, v)}, {});
  write_bytes(path_join(dir, "model.safetensors.index.json"), index.toUtf8());
  const Status s = status_guard([&] { (void)SafetensorsStore::open_dir(dir); });
  EXPECT_FAILURE(s, StatusCode::kInvalidInput, path_join(dir, culprit.toStdString()),
                 needle.toStdString());
}

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
