// error_message_test.cpp: a caller's mistake raises ag::Error whose message names the op and
// the shapes or values at fault ("matmul: inner dimensions differ: a is (2, 3), b is (4, 5)"),
// never a crash, a garbage result or an unexplained failure further on.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "autograd/autograd.h"

namespace {

using namespace ag;

// The ag::Error that f throws, checked to start with "op:" and to contain every part.
template <typename F>
::testing::AssertionResult RaisesMentioning(F&& f, const std::string& op,
                                            std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(op + ": ", 0) != 0)
      return ::testing::AssertionFailure() << "message does not start with \"" << op
                                           << ": \": " << what;
    for (const std::string& part : parts)
      if (what.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << what;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-ag::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "nothing was thrown";
}

Tensor f64(const Shape& shape) { return zeros(shape, kFloat64); }

TEST(ErrorMessageTest, ShapesThatDoNotBroadcast) {
  EXPECT_TRUE(RaisesMentioning([] { (void)(f64({2, 3}) + f64({4, 3})); }, "add", {"(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)(f64({2, 3}) * f64({2})); }, "mul", {"(2, 3)", "(2)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)where(ones({3}, kBool), f64({3}), f64({4})); }, "where",
                               {"(3)", "(4)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({3}).expand({2, 4}); }, "expand", {"(3)", "(2, 4)"}));
}

TEST(ErrorMessageTest, MatmulInnerDimensionsDiffer) {
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).matmul(f64({4, 5})); }, "matmul",
                               {"inner dimensions", "(2, 3)", "(4, 5)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)matmul(f64({3}), f64({4})); }, "matmul", {"(3)", "(4)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)matmul(f64({2, 2, 3}), f64({3, 3, 1})); }, "matmul",
                               {"(2, 2, 3)", "(3, 3, 1)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)matmul(f64({}), f64({3})); }, "matmul", {"()"}));
}

TEST(ErrorMessageTest, DtypesDoNotMixSilently) {
  EXPECT_TRUE(RaisesMentioning([] { (void)(zeros({2}) + f64({2})); }, "add", {"float32", "float64"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)matmul(zeros({2, 2}), f64({2, 2})); }, "matmul",
                               {"float32", "float64"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)cat({zeros({2}), f64({2})}); }, "cat", {"float32", "float64"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)zeros({2}, kInt64).exp(); }, "unary", {"int64"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)zeros({2}, kInt64).requires_grad_(); }, "requires_grad_",
                               {"int64"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)masked_fill(f64({2}), zeros({2}), 0); }, "masked_fill",
                               {"bool", "float32"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2}).data_ptr<float>(); }, "data_ptr",
                               {"float32", "float64"}));
}

TEST(ErrorMessageTest, DimOutOfRange) {
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).sum({2}); }, "sum", {"dim 2", "2 dims"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).softmax(-3); }, "softmax", {"dim -3"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).transpose(0, 2); }, "transpose", {"dim 2"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).argmax(5); }, "argmax", {"dim 5"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).unsqueeze(4); }, "unsqueeze", {"dim 4"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).size(2); }, "size", {"dim 2"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).sum({1, -1}); }, "sum", {"more than once"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 3}).permute({0}); }, "permute", {"(2, 3)"}));
}

TEST(ErrorMessageTest, IndexOutOfRange) {
  const Tensor x = f64({4, 3});
  EXPECT_TRUE(RaisesMentioning([&] { (void)index_select(x, 0, from_vector<int64_t>({1, 7}, {2})); },
                               "index_select", {"index 7", "size 4"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)index_select(x, 0, from_vector<int64_t>({-1}, {1})); },
                               "index_select", {"index -1"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)gather(x, 1, from_vector<int64_t>({0, 3}, {1, 2})); },
                               "gather", {"index 3", "size 3"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)embedding(x, from_vector<int64_t>({2, 4}, {2})); },
                               "embedding", {"token id 4", "size 4"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.select(0, 4); }, "select", {"index 4", "size 4"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.narrow(1, 2, 2); }, "narrow", {"(4, 3)"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)index_select(x, 0, from_vector<double>({1}, {1})); },
                               "index_select", {"int64", "float64"}));
}

TEST(ErrorMessageTest, AViewWhoseSizesDoNotMultiplyOut) {
  const Tensor x = f64({2, 3});
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.view({4, 2}); }, "view", {"(4, 2)", "(2, 3)"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.reshape({-1, 4}); }, "reshape", {"(-1, 4)", "(2, 3)"}));
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.view({-1, -1}); }, "view", {"only one dim"}));
  // Sizes that do multiply out, but a layout no view can express: the hint names reshape().
  EXPECT_TRUE(RaisesMentioning([&] { (void)x.t().view({6}); }, "view", {"(3, 2)", "reshape()"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)from_vector<double>({1, 2, 3}, {2, 2}); }, "from_vector",
                               {"3 values", "(2, 2)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)zeros({2, -1}); }, "empty", {"(2, -1)"}));
}

TEST(ErrorMessageTest, JoiningMismatchedShapes) {
  EXPECT_TRUE(RaisesMentioning([] { (void)cat({f64({2, 3}), f64({2, 4})}, 0); }, "cat",
                               {"(2, 3)", "(2, 4)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)stack({f64({2, 3}), f64({3, 2})}); }, "stack",
                               {"(2, 3)", "(3, 2)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)cat({}); }, "cat", {"at least one"}));
}

TEST(ErrorMessageTest, BackwardOnANonScalarWithoutAGradient) {
  Tensor x = f64({2, 3}).requires_grad_();
  EXPECT_TRUE(RaisesMentioning([&] { (x * 2.0).backward(); }, "backward", {"(2, 3)", "gradient"}));
}

TEST(ErrorMessageTest, BackwardWithAGradientOfTheWrongShape) {
  Tensor x = f64({2, 3}).requires_grad_();
  EXPECT_TRUE(RaisesMentioning([&] { (x * 2.0).backward(f64({3, 2})); }, "backward",
                               {"(3, 2)", "(2, 3)"}));
}

TEST(ErrorMessageTest, BackwardOnATensorThatNeedsNoGrad) {
  EXPECT_TRUE(RaisesMentioning([] { f64({}).backward(); }, "backward", {"does not require grad"}));
  Tensor x = f64({2}).requires_grad_();
  Tensor y;
  {
    NoGradGuard no_grad;
    y = (x * 2.0).sum();
  }
  EXPECT_TRUE(RaisesMentioning([&] { y.backward(); }, "backward", {"NoGradGuard"}));
}

TEST(ErrorMessageTest, SecondBackwardThroughAFreedGraph) {
  Tensor x = f64({2}).requires_grad_();
  const Tensor loss = (x.exp() * x).sum();
  loss.backward();
  EXPECT_TRUE(RaisesMentioning([&] { loss.backward(); }, "backward", {"retain_graph", "freed"}));
}

TEST(ErrorMessageTest, InPlaceChangeToASavedTensor) {
  Tensor a = ones({2, 2}, kFloat64);
  Tensor w = ones({2, 2}, kFloat64).requires_grad_();
  const Tensor loss = w.matmul(a).sum();
  a.add_(ones({2, 2}, kFloat64));
  EXPECT_TRUE(RaisesMentioning([&] { loss.backward(); }, "matmul", {"modified in place", "(2, 2)"}));
}

TEST(ErrorMessageTest, InPlaceWriteToATensorThatRequiresGrad) {
  Tensor w = f64({2}).requires_grad_();
  EXPECT_TRUE(RaisesMentioning([&] { w.fill_(1.0); }, "fill_", {"requires grad", "NoGradGuard"}));
}

TEST(ErrorMessageTest, SizesThatMakeNoSense) {
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({1, 3}).expand({-2, 3}); }, "expand", {"-2"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({3}).expand({-1, 3}); }, "expand", {"-1"}));
  // A 0-d tensor has one row to select: index_select may pick it once, not twice.
  EXPECT_TRUE(RaisesMentioning(
      [] { (void)index_select(f64({}), 0, from_vector<int64_t>({0, 0}, {2})); }, "index_select",
      {"0-d", "2"}));
  EXPECT_EQ(index_select(scalar_tensor(4.0, kFloat64), 0, from_vector<int64_t>({0}, {1})).item<double>(), 4.0);
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 2, 2}).t(); }, "t", {"(2, 2, 2)"}));
}

TEST(ErrorMessageTest, OtherCallerMistakes) {
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2, 2}).item(); }, "item", {"(2, 2)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({3}).var({0}, true).sum(); (void)f64({1}).var({0}); },
                               "var", {"(1)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({0, 3}).max(0); }, "amax", {"(0, 3)"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)gelu(f64({2}), "fast"); }, "gelu", {"fast"}));
  EXPECT_TRUE(RaisesMentioning([] { set_num_threads(0); }, "set_num_threads", {"0"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)randint(5, 5, {2}); }, "randint", {"low=5"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)Tensor().shape(); }, "shape", {"undefined"}));
  EXPECT_TRUE(RaisesMentioning([] { (void)f64({2}).slice(0, 0, 2, 0); }, "slice", {"step"}));
  EXPECT_TRUE(RaisesMentioning(
      [] { (void)autograd::gradcheck([](const TensorList& x) { return x[0]; }, {zeros({2}).requires_grad_()}); },
      "gradcheck", {"float32"}));
}

}  // namespace
