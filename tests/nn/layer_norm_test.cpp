// layer_norm_test.cpp: F::layer_norm (the fused kernel) against its formula
// (x - mean) / sqrt(var + eps) * w + b with the biased variance, a constant row (variance 0),
// float64 gradchecks with and without affine parameters, second derivatives, the same bits
// for 1 and 2 threads, and its errors.
#include <gtest/gtest.h>

#include <cmath>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;

namespace {
// The formula, written with ops.   x: (..., C) normalised over the trailing dims in `dims`
Tensor reference_layer_norm(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& w,
                            const Tensor& b, double eps) {
  const Tensor mu = x.mean(dims, true);
  const Tensor var = x.var(dims, /*unbiased=*/false, true);
  Tensor y = (x - mu) / (var + eps).sqrt();
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}
}  // namespace

TEST(LayerNormTest, MatchesTheFormulaWithBiasedVariance) {
  manual_seed(50);
  const Tensor x = (randn({2, 3, 6}, kFloat64) * 3.0 + 1.5).detach();
  const Tensor w = randn({6}, kFloat64), b = randn({6}, kFloat64);
  EXPECT_LT(max_abs_diff(F::layer_norm(x, {6}, w, b), reference_layer_norm(x, {-1}, w, b, 1e-5)), 1e-13);
  EXPECT_LT(max_abs_diff(F::layer_norm(x, {6}), reference_layer_norm(x, {-1}, {}, {}, 1e-5)), 1e-13);
  const Tensor w2 = randn({3, 6}, kFloat64);
  EXPECT_LT(max_abs_diff(F::layer_norm(x, {3, 6}, w2, {}, 0.1),
                         reference_layer_norm(x, {-2, -1}, w2, {}, 0.1)), 1e-13);
  // float32 follows (accumulating in double).
  const Tensor y32 = F::layer_norm(x.to(kFloat32), {6}, w.to(kFloat32), b.to(kFloat32));
  EXPECT_LT(max_abs_diff(y32, reference_layer_norm(x, {-1}, w, b, 1e-5)), 1e-5);
}

TEST(LayerNormTest, ConstantRowGivesFiniteOutputAndGradients) {
  // Variance 0: x - mean = 0 and rstd = 1/sqrt(eps), so the output is exactly the bias.
  Tensor x = full({2, 4}, 5.0, kFloat64).requires_grad_();
  Tensor w = from_vector<double>({1, 2, 3, 4}, {4}).requires_grad_();
  Tensor b = from_vector<double>({0.5, 0, -1, 2}, {4}).requires_grad_();
  Tensor y = F::layer_norm(x, {4}, w, b);
  EXPECT_TRUE(all_finite(y));
  EXPECT_LT(max_abs_diff(y, b.expand({2, 4})), 1e-15);
  (y * randn({2, 4}, kFloat64)).sum().backward();
  for (const Tensor& t : {x.grad(), w.grad(), b.grad()}) EXPECT_TRUE(all_finite(t)) << t;
  EXPECT_EQ(max_abs(w.grad()), 0.0);  // x_hat is 0 everywhere
  // float32 too.
  Tensor x32 = full({3, 8}, -7.0).requires_grad_();
  Tensor y32 = F::layer_norm(x32, {8});
  y32.sum().backward();
  EXPECT_TRUE(all_finite(y32));
  EXPECT_TRUE(all_finite(x32.grad()));
}

TEST(LayerNormTest, GradcheckWithAndWithoutAffine) {
  manual_seed(51);
  const Tensor x = randn({2, 3, 5}, kFloat64).requires_grad_();
  const Tensor w = randn({5}, kFloat64).requires_grad_(), b = randn({5}, kFloat64).requires_grad_();
  auto affine = autograd::gradcheck(
      [](const TensorList& in) { return F::layer_norm(in[0], {5}, in[1], in[2]); }, {x, w, b});
  EXPECT_TRUE(affine.ok) << affine.message;
  auto plain = autograd::gradcheck([](const TensorList& in) { return F::layer_norm(in[0], {5}); }, {x});
  EXPECT_TRUE(plain.ok) << plain.message;
  // Over the last two dims, a weight only, and a non-contiguous input.
  const Tensor w2 = randn({3, 5}, kFloat64).requires_grad_();
  auto two = autograd::gradcheck(
      [](const TensorList& in) { return F::layer_norm(in[0], {3, 5}, in[1]); }, {x, w2});
  EXPECT_TRUE(two.ok) << two.message;
  auto transposed = autograd::gradcheck(
      [](const TensorList& in) { return F::layer_norm(in[0].transpose(0, 2), {2}, {}, {}, 0.01); }, {x});
  EXPECT_TRUE(transposed.ok) << transposed.message;
  // A single-element row: x_hat = 0, the output is the bias and dx is 0.
  const Tensor one = randn({4, 1}, kFloat64).requires_grad_();
  auto single = autograd::gradcheck([](const TensorList& in) { return F::layer_norm(in[0], {1}); }, {one});
  EXPECT_TRUE(single.ok) << single.message;
}

TEST(LayerNormTest, GradgradcheckThroughTheRecordedBackward) {
  // Under create_graph the backward is written in ops (recomputing mean and rstd from x), so
  // second derivatives are available too.
  manual_seed(52);
  const Tensor x = randn({2, 4}, kFloat64).requires_grad_();
  const Tensor w = randn({4}, kFloat64).requires_grad_(), b = randn({4}, kFloat64).requires_grad_();
  auto r = autograd::gradgradcheck(
      [](const TensorList& in) { return F::layer_norm(in[0], {4}, in[1], in[2]); }, {x, w, b});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(LayerNormTest, FusedAndRecordedBackwardsAgree) {
  manual_seed(53);
  Tensor x = randn({5, 7}, kFloat64).requires_grad_();
  Tensor w = randn({7}, kFloat64).requires_grad_(), b = randn({7}, kFloat64).requires_grad_();
  const Tensor g = randn({5, 7}, kFloat64);
  const Tensor y = F::layer_norm(x, {7}, w, b);
  const TensorList fused = autograd::grad({y}, {x, w, b}, {g}, /*create_graph=*/false, true);
  const TensorList recorded = autograd::grad({y}, {x, w, b}, {g}, /*create_graph=*/true);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(fused[i], recorded[i]), 1e-13) << i;
}

TEST(LayerNormTest, OneAndTwoThreadsGiveIdenticalBits) {
  // Many rows, so the dw/db partial sums span several chunks.
  manual_seed(54);
  const Tensor x = randn({300, 33}), w = randn({33}), b = randn({33}), g = randn({300, 33});
  const int threads = get_num_threads();
  auto run = [&](int n) {
    set_num_threads(n);
    Tensor xl = x.detach().requires_grad_(), wl = w.detach().requires_grad_();
    Tensor bl = b.detach().requires_grad_();
    Tensor y = F::layer_norm(xl, {33}, wl, bl);
    (y * g).sum().backward();
    return TensorList{y.detach(), xl.grad(), wl.grad(), bl.grad()};
  };
  const TensorList one = run(1), two = run(2);
  set_num_threads(threads);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << i;
}

TEST(LayerNormTest, RejectsShapeDtypeAndEpsMistakes) {
  const Tensor x = zeros({2, 3, 4});
  expect_error([&] { F::layer_norm(x, {3}); },
               {"layer_norm", "normalized_shape (3) must be the trailing dims of x", "(2, 3, 4)"});
  expect_error([&] { F::layer_norm(x, {}); }, {"layer_norm", "normalized_shape ()"});
  expect_error([&] { F::layer_norm(x, {4}, zeros({3})); },
               {"layer_norm", "the weight has shape (3) but normalized_shape is (4)"});
  expect_error([&] { F::layer_norm(x, {4}, {}, zeros({4}, kFloat64)); },
               {"layer_norm", "the bias is float64 but x is float32"});
  expect_error([&] { F::layer_norm(zeros({2, 4}, kInt64), {4}); }, {"layer_norm", "int64"});
  expect_error([&] { F::layer_norm(x, {4}, {}, {}, 0.0); }, {"layer_norm", "eps must be positive"});
}

TEST(LayerNormTest, Float32BlockedRowSumsMatchFloat64AtAwkwardWidths) {
  // float32 rows are summed with 8 accumulators plus a tail (layer_norm.cpp's row_sum): widths
  // below, at and around multiples of 8 must all agree with the float64 kernel (one chain),
  // forward and backward, with and without affine parameters.
  manual_seed(55);
  for (int64_t C : {1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 257}) {
    for (bool affine : {false, true}) {
      const Tensor x = randn({37, C}) * scalar_tensor(3.0f) + scalar_tensor(1.5f);
      const Tensor w = randn({C}), b = randn({C}), g = randn({37, C});
      auto run = [&](DType dt) {
        Tensor xl = x.to(dt).detach().requires_grad_();
        Tensor wl = w.to(dt).detach().requires_grad_(), bl = b.to(dt).detach().requires_grad_();
        Tensor y = affine ? F::layer_norm(xl, {C}, wl, bl) : F::layer_norm(xl, {C});
        (y * g.to(dt)).sum().backward();
        TensorList out{y.detach(), xl.grad()};
        if (affine) out.insert(out.end(), {wl.grad(), bl.grad()});
        return out;
      };
      const TensorList f32 = run(kFloat32), f64 = run(kFloat64);
      for (size_t i = 0; i < f32.size(); ++i) {
        const double scale = 1.0 + max_abs_diff(f64[i], zeros_like(f64[i]));
        EXPECT_LT(max_abs_diff(f32[i].to(kFloat64), f64[i]), 2e-6 * scale)
            << "C " << C << " output " << i << (affine ? " affine" : "");
      }
    }
  }
}
