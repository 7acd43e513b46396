// gradcheck_tool_test.cpp: examples/gradcheck runs both registries and says so in its exit
// status; --op selects, --list lists, an unknown op is an error.
#include "examples/example_test_helpers.h"

namespace {

using namespace examples_test;

TEST(GradcheckToolTest, EveryCasePassesAndTheExitStatusSaysSo) {
  if (!example_built("gradcheck")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("gradcheck", "--json", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_EQ(json_number(json, "failed"), 0) << json;
  EXPECT_GT(json_number(json, "cases"), 300) << json;
}

TEST(GradcheckToolTest, OpSelectsOneOpAndPrintsItsTable) {
  if (!example_built("gradcheck")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("gradcheck", "--op nn.TransformerBlock", dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("abs err"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nn.TransformerBlock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 cases, 0 failed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("matmul"), std::string::npos) << "only the op asked for";
}

TEST(GradcheckToolTest, ListsCasesAndRefusesAnUnknownOp) {
  if (!example_built("gradcheck")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult list = run_example("gradcheck", "--list", dir.path());
  EXPECT_EQ(list.exit_code, 0);
  for (const char* name : {"matmul_2d", "F_layer_norm_affine", "nn_GPT_loss", "nn_MultiheadAttention_self"})
    EXPECT_NE(list.output.find(name), std::string::npos) << name;
  EXPECT_EQ(run_example("gradcheck", "--op no_such_op", dir.path()).exit_code, 2);
}

}  // namespace
