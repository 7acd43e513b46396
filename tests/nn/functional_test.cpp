// functional_test.cpp: the small functions of nn::functional: gelu (both forms, and fused with
// a bias), linear and embedding, against their formulas, with float64 gradchecks and their
// input errors; linear also against matmul + bias at GEMM sizes, on 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "functional_test_helpers.h"
#include "nn/functional.h"
#include "tensor/kernels.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;

TEST(GeluTest, MatchesBothFormulas) {
  const Tensor x = from_vector<double>({-3, -1, -0.5, 0, 0.5, 1, 3}, {7});
  const auto exact = F::gelu(x).to_vector<double>();
  const auto approx = F::gelu(x, "tanh").to_vector<double>();
  const auto xs = x.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    EXPECT_NEAR(exact[i], 0.5 * v * (1 + std::erf(v / std::numbers::sqrt2)), 1e-15);
    const double inner = std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v);
    EXPECT_NEAR(approx[i], 0.5 * v * (1 + std::tanh(inner)), 1e-15);
  }
}

TEST(GeluTest, GradcheckAndGradgradcheckBothForms) {
  manual_seed(70);
  const Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  for (const char* form : {"none", "tanh"}) {
    auto r = autograd::gradcheck([form](const TensorList& in) { return F::gelu(in[0], form); }, {x});
    EXPECT_TRUE(r.ok) << form << ": " << r.message;
    auto rr = autograd::gradgradcheck([form](const TensorList& in) { return F::gelu(in[0], form); }, {x});
    EXPECT_TRUE(rr.ok) << form << ": " << rr.message;
  }
  expect_error([] { F::gelu(zeros({2}), "erf"); }, {"gelu", "approximate must be"});
  expect_error([] { F::gelu(zeros({2}, kInt64)); }, {"gelu", "int64"});
}

TEST(BiasGeluTest, IsGeluOfHPlusBiasBitForBitOnAnyThreadCount) {
  // The fused op against gelu(h + b): y and dh bitwise (the same float add, then the same GELU
  // loop), db to rounding (summed in double per chunk of rows, not through sum_to); the same
  // bits on 1 and 2 threads; a non-contiguous h; both forms.
  manual_seed(74);
  const Tensor h_base = randn({130, 3, 96}) * 2.0, b = randn({96}), g = randn({3, 130, 96});
  const Tensor h = h_base.transpose(0, 1);  // (3, 130, 96), not contiguous
  const int threads = get_num_threads();
  for (const char* form : {"none", "tanh"}) {
    std::vector<TensorList> runs;
    for (int n : {1, 2}) {
      set_num_threads(n);
      Tensor hl = h.detach().requires_grad_(), bl = b.detach().requires_grad_();
      const Tensor y = F::bias_gelu(hl, bl, form);
      (y * g).sum().backward();
      runs.push_back({y.detach(), hl.grad(), bl.grad()});
    }
    set_num_threads(threads);
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(bitwise_equal(runs[0][i], runs[1][i])) << form << i;
    Tensor hl = h.detach().requires_grad_(), bl = b.detach().requires_grad_();
    const Tensor y = F::gelu(hl + bl, form);
    (y * g).sum().backward();
    EXPECT_TRUE(bitwise_equal(runs[0][0], y)) << form;
    EXPECT_TRUE(bitwise_equal(runs[0][1], hl.grad())) << form;
    EXPECT_LT(rel_diff(runs[0][2], bl.grad()), 1e-6) << form;
  }
}

TEST(BiasGeluTest, KeptCdfIsPhiAndGivesTheSameBackwardBits) {
  // In float32 with the erf form the forward keeps Phi(h + b) for the backward, which then
  // skips the erf: Phi to float precision, and dh, db bitwise those computed without it, at a
  // size with several row chunks and a ragged last one.
  manual_seed(75);
  const Tensor h = randn({77, 40}) * 3.0, b = randn({40}), dy = randn({77, 40});
  Tensor cdf;
  const Tensor y = kernels::bias_gelu(h, b, /*tanh_form=*/false, &cdf);
  ASSERT_TRUE(cdf.defined());
  EXPECT_TRUE(bitwise_equal(y, kernels::bias_gelu(h, b, false)));
  const auto hs = h.to_vector<float>(), bs = b.to_vector<float>(), ps = cdf.to_vector<float>();
  double worst = 0.0;
  for (size_t i = 0; i < hs.size(); ++i) {
    const double t = static_cast<double>(hs[i] + bs[i % 40]);
    worst = std::max(worst, std::fabs(ps[i] - 0.5 * (1.0 + std::erf(t / std::numbers::sqrt2))));
  }
  EXPECT_LT(worst, 1e-6);
  const int threads = get_num_threads();
  for (int n : {1, 2}) {
    set_num_threads(n);
    const auto [dh_kept, db_kept] = kernels::bias_gelu_backward(dy, h, b, false, cdf);
    const auto [dh, db] = kernels::bias_gelu_backward(dy, h, b, false);
    EXPECT_TRUE(bitwise_equal(dh_kept, dh)) << n << " threads";
    EXPECT_TRUE(bitwise_equal(db_kept, db)) << n << " threads";
  }
  set_num_threads(threads);
  // Only float32's erf form keeps it; the others leave the tensor undefined.
  kernels::bias_gelu(h, b, /*tanh_form=*/true, &cdf);
  EXPECT_FALSE(cdf.defined());
  kernels::bias_gelu(h.to(kFloat64), b.to(kFloat64), false, &cdf);
  EXPECT_FALSE(cdf.defined());
  expect_error([&] { kernels::bias_gelu_backward(dy, h, b, false, zeros({77, 41})); },
               {"bias_gelu_backward", "kept cdf", "(77, 40)", "(77, 41)"});
  expect_error([&] { kernels::bias_gelu_backward(dy, h, b, true, zeros({77, 40})); },
               {"bias_gelu_backward", "tanh form"});
}

TEST(BiasGeluTest, RejectsMismatchedShapesAndDtypes) {
  expect_error([] { F::bias_gelu(zeros({2, 3}), zeros({4})); },
               {"bias_gelu", "the bias must be (C)", "h is (2, 3)", "bias is (4)"});
  expect_error([] { F::bias_gelu(zeros({2, 3}), zeros({3}, kFloat64)); },
               {"bias_gelu", "h is float32, bias is float64"});
  expect_error([] { F::bias_gelu(zeros({2, 3}), zeros({3}), "erf"); },
               {"bias_gelu", "approximate must be"});
  expect_error([] { F::bias_gelu(Tensor(), zeros({3})); }, {"bias_gelu", "undefined"});
}

TEST(FunctionalLinearTest, IsXTimesWTransposedPlusB) {
  manual_seed(71);
  const Tensor x = randn({2, 3, 4}, kFloat64), w = randn({5, 4}, kFloat64), b = randn({5}, kFloat64);
  const Tensor y = F::linear(x, w, b);
  EXPECT_EQ(y.shape(), Shape({2, 3, 5}));
  const auto xs = x.to_vector<double>(), ws = w.to_vector<double>(), bs = b.to_vector<double>();
  const auto ys = y.to_vector<double>();
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t o = 0; o < 5; ++o) {
      double expected = bs[o];
      for (int64_t i = 0; i < 4; ++i) expected += xs[r * 4 + i] * ws[o * 4 + i];
      EXPECT_NEAR(ys[r * 5 + o], expected, 1e-14);
    }
  EXPECT_EQ(F::linear(randn({4}, kFloat64), w).shape(), Shape({5}));  // a single vector
}

TEST(FunctionalLinearTest, Gradcheck) {
  manual_seed(72);
  const Tensor x = randn({2, 3, 4}, kFloat64).requires_grad_();
  const Tensor w = randn({2, 4}, kFloat64).requires_grad_(), b = randn({2}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }, {x, w, b});
  EXPECT_TRUE(r.ok) << r.message;
  auto nb = autograd::gradcheck([](const TensorList& in) { return F::linear(in[0], in[1]); }, {x, w});
  EXPECT_TRUE(nb.ok) << nb.message;
  // A weight stored transposed (non-contiguous) and a vector input.
  const Tensor wt = randn({4, 2}, kFloat64).requires_grad_();
  auto tr = autograd::gradcheck(
      [](const TensorList& in) { return F::linear(in[0].select(0, 0).select(0, 1), in[1].t()); }, {x, wt});
  EXPECT_TRUE(tr.ok) << tr.message;
  auto gg = autograd::gradgradcheck([](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }, {x, w, b});
  EXPECT_TRUE(gg.ok) << gg.message;
}

TEST(FunctionalLinearTest, OneNodeMatchesTheCompositionAtGemmSizesOnAnyThreadCount) {
  // linear is one node that runs the GEMMs itself; it must be matmul(x, W^T) + b to rounding, at
  // sizes that take the packed, multi-pass GEMM (in = 300 > one K pass), with the same bits on
  // 1 and 2 threads, and give gradients only to the inputs that want them.
  manual_seed(73);
  const Tensor x = randn({3, 70, 300}), w = randn({130, 300}) * 0.05, b = randn({130});
  const Tensor g = randn({3, 70, 130});
  const int threads = get_num_threads();
  std::vector<TensorList> runs;
  for (int n : {1, 2}) {
    set_num_threads(n);
    Tensor xl = x.detach().requires_grad_(), wl = w.detach().requires_grad_();
    Tensor bl = b.detach().requires_grad_();
    const Tensor y = F::linear(xl, wl, bl);
    (y * g).sum().backward();
    runs.push_back({y.detach(), xl.grad(), wl.grad(), bl.grad()});
  }
  set_num_threads(threads);
  for (size_t i = 0; i < runs[0].size(); ++i)
    EXPECT_TRUE(bitwise_equal(runs[0][i], runs[1][i])) << i;
  Tensor xl = x.detach().requires_grad_(), wl = w.detach().requires_grad_();
  Tensor bl = b.detach().requires_grad_();
  const Tensor y = matmul(xl, wl.t()) + bl;
  (y * g).sum().backward();
  EXPECT_LT(rel_diff(runs[0][0], y), 1e-5);
  EXPECT_LT(rel_diff(runs[0][1], xl.grad()), 1e-5);
  EXPECT_LT(rel_diff(runs[0][2], wl.grad()), 1e-5);
  EXPECT_LT(rel_diff(runs[0][3], bl.grad()), 1e-5);

  // Only the weight wants a gradient (a frozen input), then only the input (a frozen layer).
  Tensor w_only = w.detach().requires_grad_();
  (F::linear(x, w_only, b) * g).sum().backward();
  EXPECT_LT(rel_diff(w_only.grad(), wl.grad()), 1e-5);
  Tensor x_only = x.detach().requires_grad_();
  (F::linear(x_only, w) * g).sum().backward();
  EXPECT_LT(rel_diff(x_only.grad(), xl.grad()), 1e-5);
}

TEST(FunctionalLinearTest, EmptyShapesGiveEmptyOrBiasOnlyOutputs) {
  const Tensor w = randn({5, 4}), b = randn({5});
  EXPECT_EQ(F::linear(zeros({0, 4}), w, b).shape(), Shape({0, 5}));
  // in_features = 0: an empty sum, so every output is the bias, and the bias gets the gradient
  Tensor b0 = b.detach().requires_grad_();
  const Tensor y = F::linear(zeros({3, 0}), zeros({5, 0}), b0);
  EXPECT_EQ(y.shape(), Shape({3, 5}));
  EXPECT_EQ(max_abs_diff(y, b.expand({3, 5})), 0.0);
  y.sum().backward();
  EXPECT_EQ(max_abs_diff(b0.grad(), full({5}, 3.0)), 0.0);
  EXPECT_EQ(F::linear(zeros({2, 4}), zeros({0, 4})).shape(), Shape({2, 0}));
}

TEST(FunctionalLinearTest, RejectsMismatchedShapesAndDtypes) {
  expect_error([] { F::linear(zeros({2, 3}), zeros({5, 4})); },
               {"linear", "x's last dim must equal in_features", "x is (2, 3)", "(5, 4)"});
  expect_error([] { F::linear(zeros({2, 4}), zeros({4})); }, {"linear", "weight must be 2-d"});
  expect_error([] { F::linear(zeros({2, 4}), zeros({5, 4}), zeros({4})); },
               {"linear", "bias must have shape (5)", "got (4)"});
  expect_error([] { F::linear(zeros({2, 4}), zeros({5, 4}, kFloat64)); },
               {"linear", "x is float32, weight is float64"});
}

TEST(FunctionalEmbeddingTest, LooksUpRowsAndAddsGradientsOfRepeatedIds) {
  Tensor w = from_vector<double>({0, 1, 10, 11, 20, 21}, {3, 2}).requires_grad_();
  const Tensor ids = from_vector<int64_t>({2, 0, 2, 1}, {2, 2});
  const Tensor y = F::embedding(ids, w);
  EXPECT_EQ(y.shape(), Shape({2, 2, 2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{20, 21, 0, 1, 20, 21, 10, 11}));
  y.sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 2, 2}));  // id 2 twice
  manual_seed(73);
  const Tensor table = randn({5, 3}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([&](const TensorList& in) { return F::embedding(ids, in[0]); }, {table});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(FunctionalEmbeddingTest, RejectsBadIdsAndTables) {
  const Tensor w = zeros({3, 2});
  expect_error([&] { F::embedding(from_vector<int64_t>({0, 3}, {2}), w); },
               {"embedding", "token id 3 is outside the vocabulary of size 3"});
  expect_error([&] { F::embedding(zeros({2}), w); }, {"embedding", "ids must be an int64 tensor"});
  expect_error([&] { F::embedding(from_vector<int64_t>({0}, {1}), zeros({3, 2}, kInt64)); },
               {"embedding", "the weight must be floating"});
}
