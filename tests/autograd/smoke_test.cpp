// smoke_test.cpp: the first end-to-end check that tensors, ops, the engine and gradcheck meet.
#include <gtest/gtest.h>

#include "autograd/autograd.h"

using namespace ag;

TEST(SmokeTest, MulAddBackwardMatchesHandDerivative) {
  Tensor a = from_vector<double>({1, 2, 3}, {3}).requires_grad_();
  Tensor b = from_vector<double>({4, 5, 6}, {3}).requires_grad_();
  Tensor loss = (a * b + a).sum();
  loss.backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{5, 6, 7}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{1, 2, 3}));
}

TEST(SmokeTest, GradcheckMatmul) {
  manual_seed(0);
  Tensor a = randn({3, 4}, kFloat64).requires_grad_();
  Tensor b = randn({4, 2}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([](const TensorList& x) { return x[0].matmul(x[1]).tanh(); }, {a, b});
  EXPECT_TRUE(r.ok) << r.message;
  auto r2 = autograd::gradgradcheck([](const TensorList& x) { return x[0].matmul(x[1]).tanh(); }, {a, b});
  EXPECT_TRUE(r2.ok) << r2.message;
}
