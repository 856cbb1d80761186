// SPDX-License-Identifier: Apache-2.0
// The fused CPU activation fake-quant kernel (kernels/cpu/fake_quant) against the reference
// tensor composition of OSTQUANT_SPEC.md §7.1. Named tolerance: bit-identical (the kernel runs the
// same fp32 operations in the same order); the test reports the count of differing elements.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "core/engine/runtime.h"
#include "core/quant/quantizer.h"

using namespace ostq;

class TestQuantizerKernel : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() { runtime_init(); }

  void kernelEqualsReference() {
    at::Generator gen = at::detail::createCPUGenerator(17);
    struct Shape {
      std::vector<int64_t> dims;
      int64_t group;
    };
    const std::vector<Shape> shapes = {{{3, 7, 64}, 0}, {{2, 5, 4, 8}, 0}, {{4, 33, 96}, 8}, {{1, 1, 172}, 0},
                                       {{2, 300, 768}, 0}, {{2, 64, 256}, 128}};
    int64_t cases = 0;
    for (const Shape& sh : shapes) {
      for (int bits : {2, 3, 4, 8}) {
        for (bool sym : {false, true}) {
          for (SymmetricScale scale : {SymmetricScale::kSpec, SymmetricScale::kAbsMax}) {
            if (!sym && scale == SymmetricScale::kAbsMax) continue;
            for (double clip : {1.0, 0.9}) {
              ActQuantSpec spec;
              spec.bits = bits;
              spec.symmetric = sym;
              spec.sym_scale = scale;
              spec.group_size = sh.group;
              spec.clip_ratio = clip;
              // Heavy-tailed data with some all-positive, all-negative and all-zero rows.
              at::Tensor x = torch::randn(sh.dims, gen) * torch::exp(torch::randn(sh.dims, gen));
              x.select(-2, 0).abs_();
              if (x.size(-2) > 1) x.select(-2, 1).abs_().neg_();
              if (x.size(-2) > 2) x.select(-2, 2).zero_();
              at::Tensor ref = fake_quant_activation_reference(x, spec);
              at::Tensor fast = fake_quant_activation(x, spec);
              const int64_t differing = (ref != fast).sum().item<int64_t>();
              QVERIFY2(differing == 0, qPrintable(QString("%1 differing elements, %2").arg(differing).arg(
                                           QString::fromStdString(spec.describe()))));
              ++cases;
            }
          }
        }
      }
    }
    qInfo("%lld shape/spec combinations bit-identical", static_cast<long long>(cases));
  }

  void inputIsNotModifiedAndBf16Works() {
    ActQuantSpec spec;
    spec.bits = 4;
    at::Tensor x = torch::randn({4, 32});
    at::Tensor copy = x.clone();
    fake_quant_activation(x, spec);
    QVERIFY(torch::equal(x, copy));
    at::Tensor xb = x.to(torch::kBFloat16);
    at::Tensor out = fake_quant_activation(xb, spec);
    QCOMPARE(out.scalar_type(), torch::kBFloat16);
    QVERIFY(torch::equal(out, fake_quant_activation_reference(xb, spec)));
  }

  void gradientPathUsesReference() {
    ActQuantSpec spec;
    spec.bits = 4;
    spec.clip_ratio = 0.5;
    at::Tensor x = torch::randn({3, 16}).requires_grad_(true);
    at::Tensor y = fake_quant_activation(x, spec, /*ste=*/true);
    y.sum().backward();
    QVERIFY(x.grad().defined());
    QVERIFY(torch::equal(y.detach(), fake_quant_activation_reference(x.detach(), spec)));
  }
};

QTEST_GUILESS_MAIN(TestQuantizerKernel)
#include "tst_quantizer_kernel.moc"
