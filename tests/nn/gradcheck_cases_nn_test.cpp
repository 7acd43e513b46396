// gradcheck_cases_nn_test.cpp: every case in nn/gradcheck_cases_nn.cpp (nn::functional and the
// modules, weights included), one GoogleTest test each, named op_variant; gradgradcheck where
// the case asks for it. The registry is also what examples/gradcheck prints.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "nn/gradcheck_cases_nn.h"

namespace {

using ag::autograd::GradcheckCase;

class GradcheckNnTest : public ::testing::TestWithParam<GradcheckCase> {};

TEST_P(GradcheckNnTest, AnalyticGradientMatchesCentralDifferences) {
  const GradcheckCase& c = GetParam();
  const auto first = ag::autograd::gradcheck_list(c.fn, c.make_inputs(), c.options);
  EXPECT_TRUE(first.ok) << c.op << " / " << c.variant << ": " << first.message;
  EXPECT_GT(first.checked, 0) << "nothing was compared";
  if (!c.second_order) return;
  const auto second = ag::autograd::gradgradcheck_list(c.fn, c.make_inputs(), c.options);
  EXPECT_TRUE(second.ok) << c.op << " / " << c.variant << ": " << second.message;
}

INSTANTIATE_TEST_SUITE_P(Nn, GradcheckNnTest, ::testing::ValuesIn(ag::nn::nn_gradcheck_cases()),
                         [](const ::testing::TestParamInfo<GradcheckCase>& info) {
                           return ag::autograd::gradcheck_case_name(info.param);
                         });

TEST(GradcheckNnCasesTest, EveryModuleHasACaseAndNamesAreUnique) {
  std::set<std::string> ops, names;
  for (const GradcheckCase& c : ag::nn::nn_gradcheck_cases()) {
    ops.insert(c.op);
    EXPECT_TRUE(names.insert(ag::autograd::gradcheck_case_name(c)).second)
        << "duplicate case " << ag::autograd::gradcheck_case_name(c);
  }
  for (const char* module : {"nn.Linear", "nn.LayerNorm", "nn.Embedding", "nn.MultiheadAttention",
                             "nn.CausalSelfAttention", "nn.TransformerBlock", "nn.GPT", "nn.MLP"})
    EXPECT_TRUE(ops.count(module)) << module << " has no gradcheck case";
}

}  // namespace
