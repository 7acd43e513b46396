// mlp_test.cpp: smoke test of examples/mlp: it trains, the loss falls, the points end up
// mostly on the right side, and the decision-boundary SVG is well-formed.
#include "examples/example_test_helpers.h"

namespace {

using namespace examples_test;

TEST(MlpExampleTest, TrainsAndDrawsTheDecisionBoundary) {
  if (!example_built("mlp")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("mlp", "--steps 100 --json --out boundary.svg", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_LT(json_number(json, "final_loss"), 0.5 * json_number(json, "first_loss")) << json;
  EXPECT_GT(json_number(json, "accuracy"), 0.9) << json;
  const auto svg = check_xml(read_text(dir / "boundary.svg"));
  EXPECT_EQ(svg.error, "");
  // The 60 x 60 probability grid, drawn as runs of equal colour: at least one per row, at most
  // one per grid cell.
  EXPECT_GE(svg.cells, 60);
  EXPECT_LE(svg.cells, 60 * 60);
}

TEST(MlpExampleTest, HelpListsTheOptions) {
  if (!example_built("mlp")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("mlp", "--help", dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--hidden"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(default: 32)"), std::string::npos) << r.output;
}

}  // namespace
