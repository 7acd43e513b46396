// version_counter_test.cpp: a tensor that a backward still needs must not change underneath it.
// Every in-place write bumps its storage's version; a Node remembers the versions of what it
// saved, and a mismatch at backward time raises an Error naming the op instead of silently
// returning a wrong gradient.
#include <gtest/gtest.h>

#include "autograd/autograd.h"

namespace {

using namespace ag;

std::string backward_error(const Tensor& loss) {
  try {
    loss.backward();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "backward should have raised";
  return "";
}

TEST(VersionCounterTest, EveryInPlaceWriteBumpsTheVersion) {
  Tensor x = zeros({2, 2}, kFloat64);
  uint64_t version = x.version();
  auto bumped = [&] {
    const bool changed = x.version() > version;
    version = x.version();
    return changed;
  };
  x.fill_(1.0);
  EXPECT_TRUE(bumped());
  x.zero_();
  EXPECT_TRUE(bumped());
  x.copy_(ones({2}, kFloat64));
  EXPECT_TRUE(bumped());
  x.add_(ones({2, 2}, kFloat64), 2.0);
  EXPECT_TRUE(bumped());
  x.mul_(3.0);
  EXPECT_TRUE(bumped());
  x.masked_fill_(from_vector<bool>({true, false}, {2}), 0.0);
  EXPECT_TRUE(bumped());
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 9, 0, 9}));
  (void)(x * 2.0);  // out of place: no bump
  EXPECT_FALSE(bumped());
}

TEST(VersionCounterTest, ViewsShareTheirBasesVersion) {
  Tensor x = zeros({3, 4}, kFloat64);
  Tensor row = x.select(0, 1);
  const uint64_t before = x.version();
  row.fill_(2.0);
  EXPECT_GT(x.version(), before);
  EXPECT_EQ(x.version(), row.version());
}

TEST(VersionCounterTest, ChangingASavedInputRaisesAnErrorNamingTheOp) {
  Tensor a = from_vector<double>({1, 2}, {2});  // no grad: in-place writes are allowed
  Tensor w = from_vector<double>({3, 4}, {2}).requires_grad_();
  const Tensor loss = (a * w).sum();  // mul saved a: dL/dw = a
  a.mul_(10.0);
  const std::string what = backward_error(loss);
  EXPECT_EQ(what.rfind("mul:", 0), 0u) << what;
  EXPECT_NE(what.find("modified in place"), std::string::npos) << what;
  EXPECT_NE(what.find("(2)"), std::string::npos) << what;
}

TEST(VersionCounterTest, ChangingASavedTensorThroughAViewIsCaughtToo) {
  Tensor a = from_vector<double>({1, 2, 3}, {3});
  Tensor w = ones({3}, kFloat64).requires_grad_();
  const Tensor loss = (w / a).sum();
  a.narrow(0, 1, 1).fill_(5.0);
  const std::string what = backward_error(loss);
  EXPECT_EQ(what.rfind("div:", 0), 0u) << what;
}

TEST(VersionCounterTest, ChangingASavedOutputIsCaught) {
  // exp's backward uses its own output; writing into that output breaks it.
  Tensor x = from_vector<double>({0, 1}, {2}).requires_grad_();
  Tensor y = x.exp();
  const Tensor loss = y.sum();
  {
    NoGradGuard no_grad;
    y.fill_(0.0);
  }
  const std::string what = backward_error(loss);
  EXPECT_EQ(what.rfind("exp:", 0), 0u) << what;
}

TEST(VersionCounterTest, WritesBeforeTheForwardAreFine) {
  Tensor a = from_vector<double>({1, 2}, {2});
  a.mul_(2.0);
  Tensor w = ones({2}, kFloat64).requires_grad_();
  (a * w).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{2, 4}));
}

TEST(VersionCounterTest, WritesToTensorsNoBackwardSavedAreFine) {
  // add's backward needs only shapes, so changing its input afterwards is harmless.
  Tensor a = from_vector<double>({1, 2}, {2});
  Tensor w = ones({2}, kFloat64).requires_grad_();
  const Tensor loss = (a + w).sum();
  a.fill_(7.0);
  loss.backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1}));
}

}  // namespace
