// gradcheck_test.cpp: gradcheck itself. A checker that never fails proves nothing, so these
// feed it deliberately wrong backwards (first and second order, small and projected outputs)
// and check that it fails and says where; and that it leaves the random stream and the
// inputs' .grad as it found them, so it can run in the middle of a seeded program.
#include <gtest/gtest.h>

#include "autograd/autograd.h"
#include "autograd/node.h"
#include "tensor/kernels.h"

namespace {

using namespace ag;
using autograd::Grads;

// y = x^2 with a backward that forgets the factor 2.
Tensor square_wrong_first(const Tensor& x) {
  Tensor y = kernels::binary(kernels::Binary::Mul, x, x, "square");
  return autograd::record("square", y, {x}, [x](const Tensor& dy) { return Grads{dy * x}; }, {x});
}

// y = x^3 with a right first derivative computed by a raw kernel: no graph, so the second
// derivative autograd sees is 0.
Tensor cube_wrong_second(const Tensor& x) {
  Tensor y = kernels::pow_scalar(x, 3.0);
  return autograd::record("cube", y, {x}, [x](const Tensor& dy) {
    return Grads{dy * kernels::affine(kernels::pow_scalar(x, 2.0), 3.0, 0.0)};
  }, {x});
}

TEST(GradcheckTest, PassesARightBackward) {
  manual_seed(0);
  Tensor x = randn({3, 2}, kFloat64).requires_grad_();
  const auto r = autograd::gradcheck([](const TensorList& in) { return in[0].pow(2.0); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.checked, 36);  // a full 6 x 6 Jacobian
  EXPECT_LT(r.max_abs_error, 1e-8);
}

TEST(GradcheckTest, CatchesAWrongFirstDerivativeAndSaysWhere) {
  Tensor x = from_vector<double>({1.5, -2}, {2}).requires_grad_();
  const auto r = autograd::gradcheck([](const TensorList& in) { return square_wrong_first(in[0]); }, {x});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("input 0"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("element (0)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("analytic 1.5"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("numeric 3"), std::string::npos) << r.message;
}

TEST(GradcheckTest, CatchesAWrongSecondDerivative) {
  Tensor x = from_vector<double>({0.5, 1.25}, {2}).requires_grad_();
  auto fn = [](const TensorList& in) { return cube_wrong_second(in[0]); };
  EXPECT_TRUE(autograd::gradcheck(fn, {x}).ok);
  const auto r = autograd::gradgradcheck(fn, {x});
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.message.find("second derivatives"), std::string::npos) << r.message;
}

TEST(GradcheckTest, ProjectionsStillCatchErrorsInLargeOutputs) {
  // 20 x 20 = 400 outputs: above the full-Jacobian limit, checked through random projections.
  manual_seed(1);
  Tensor x = randn({20, 20}, kFloat64).requires_grad_();
  const auto right = autograd::gradcheck([](const TensorList& in) { return in[0].tanh(); }, {x});
  EXPECT_TRUE(right.ok) << right.message;
  EXPECT_EQ(right.checked, 2 * 400);  // two projections, every input element
  const auto wrong = autograd::gradcheck([](const TensorList& in) { return square_wrong_first(in[0]); }, {x});
  EXPECT_FALSE(wrong.ok);
  EXPECT_NE(wrong.message.find("projection"), std::string::npos) << wrong.message;
}

TEST(GradcheckTest, LeavesTheRandomStreamAndGradsAsItFoundThem) {
  Tensor x = from_vector<double>({1, 2}, {2}).requires_grad_();
  x.set_grad(from_vector<double>({7, 8}, {2}));
  manual_seed(9);
  (void)randn({3});
  const auto expected = randn({4}).to_vector<float>();
  manual_seed(9);
  (void)randn({3});
  // A function that draws (as dropout does) sees the same numbers in every evaluation.
  const auto r = autograd::gradcheck(
      [](const TensorList& in) { return in[0] * (rand({2}, kFloat64) + 1.0); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(randn({4}).to_vector<float>(), expected);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{7, 8}));
}

TEST(GradcheckTest, InputsThatNeedNoGradAreHeldFixed) {
  Tensor x = from_vector<double>({1, 2}, {2}).requires_grad_();
  const Tensor w = from_vector<double>({3, 4}, {2});
  const auto r = autograd::gradcheck([](const TensorList& in) { return in[0] * in[1]; }, {x, w});
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.checked, 4);  // only x's 2 x 2 Jacobian
  EXPECT_FALSE(w.grad().defined());
}

}  // namespace
