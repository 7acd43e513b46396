// gradcheck_ops_test.cpp: every case in autograd/gradcheck_cases.cpp, one GoogleTest test each
// (named op_variant), checked with gradcheck and, where the case asks, gradgradcheck. A failure
// prints gradcheck's message: the input, the element, and the analytic and numeric values.
#include <gtest/gtest.h>

#include <set>

#include "autograd/autograd.h"
#include "autograd/gradcheck_cases.h"

namespace {

using ag::autograd::GradcheckCase;

class GradcheckOpsTest : public ::testing::TestWithParam<GradcheckCase> {};

TEST_P(GradcheckOpsTest, AnalyticGradientMatchesCentralDifferences) {
  const GradcheckCase& c = GetParam();
  const ag::TensorList inputs = c.make_inputs();
  const auto first = ag::autograd::gradcheck_list(c.fn, inputs, c.options);
  EXPECT_TRUE(first.ok) << c.op << " / " << c.variant << ": " << first.message;
  // A case whose differentiable inputs hold elements must have compared some of them.
  int64_t elements = 0;
  for (const ag::Tensor& x : inputs)
    if (x.requires_grad()) elements += x.numel();
  if (elements > 0) {
    EXPECT_GT(first.checked, 0) << "nothing was compared";
  }
  if (!c.second_order) return;
  const auto second = ag::autograd::gradgradcheck_list(c.fn, c.make_inputs(), c.options);
  EXPECT_TRUE(second.ok) << c.op << " / " << c.variant << ": " << second.message;
}

INSTANTIATE_TEST_SUITE_P(Ops, GradcheckOpsTest,
                         ::testing::ValuesIn(ag::autograd::op_gradcheck_cases()),
                         [](const ::testing::TestParamInfo<GradcheckCase>& info) {
                           return ag::autograd::gradcheck_case_name(info.param);
                         });

// The registry is the one place an op proves its backward, so a differentiable op missing
// from it is a hole in the suite. This list mirrors autograd/ops.h.
TEST(GradcheckCasesTest, EveryDifferentiableOpHasACase) {
  std::set<std::string> covered;
  for (const GradcheckCase& c : ag::autograd::op_gradcheck_cases()) covered.insert(c.op);
  for (const char* op :
       {"add", "sub", "mul", "div", "maximum", "minimum", "neg", "pow", "add_scalar", "sub_scalar",
        "mul_scalar", "div_scalar", "rdiv_scalar", "exp", "log", "sqrt", "rsqrt", "abs", "tanh",
        "sigmoid", "relu", "gelu", "gelu_tanh", "where", "masked_fill", "sum", "mean", "var",
        "sum_to", "amax", "amin", "logsumexp", "softmax", "log_softmax", "matmul", "cat", "stack",
        "index_select", "gather", "embedding", "view", "reshape", "permute", "transpose",
        "unsqueeze", "squeeze", "expand", "narrow", "slice", "select", "contiguous", "clone", "to"})
    EXPECT_TRUE(covered.count(op)) << op << " has no gradcheck case";
}

TEST(GradcheckCasesTest, NamesAreUniqueAndSanitized) {
  std::set<std::string> names;
  for (const GradcheckCase& c : ag::autograd::op_gradcheck_cases()) {
    const std::string name = ag::autograd::gradcheck_case_name(c);
    EXPECT_TRUE(names.insert(name).second) << "duplicate case " << name;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
              std::string::npos) << name;
  }
}

TEST(GradcheckCasesTest, InputsAreSeededByTheCaseAlone) {
  // Drawing other numbers first must not change a case's inputs.
  const auto cases = ag::autograd::op_gradcheck_cases();
  const GradcheckCase& c = cases.front();
  const auto first = c.make_inputs()[0].to_vector<double>();
  ag::manual_seed(12345);
  (void)ag::randn({100});
  EXPECT_EQ(c.make_inputs()[0].to_vector<double>(), first);
}

}  // namespace
