// reverse_test.cpp: smoke tests of examples/reverse on a shortened task (3 to 6 digits): it
// trains, the loss falls, it decodes the test set, and reverse_attention.svg is well-formed
// with one T x T heatmap per head and layer. A second run, a little longer, checks that the
// model actually learns the task, as the full demo does at its size.
#include "examples/example_test_helpers.h"

namespace {

using namespace examples_test;

TEST(ReverseExampleTest, TrainsDecodesAndDrawsEveryHead) {
  if (!example_built("reverse")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  // --stop-at 2: never stop early, so the run is exactly 30 steps.
  const RunResult r = run_example(
      "reverse", "--min-len 3 --max-len 6 --n-embd 32 --batch 32 --max-steps 30 --eval-every 10 "
      "--val-size 50 --test-size 50 --stop-at 2 --show-len 4 --svg att.svg --json", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_LT(json_number(json, "final_loss"), json_number(json, "first_loss")) << json;
  EXPECT_EQ(json_number(json, "steps"), 30) << json;
  EXPECT_GE(json_number(json, "test_accuracy"), 0.0) << json;
  const auto svg = check_xml(read_text(dir / "att.svg"));
  EXPECT_EQ(svg.error, "");
  // The 4-digit example drawn without its padding: 4 digits, ">", 3 answer digits = 8 tokens,
  // for 2 layers x 4 heads.
  EXPECT_EQ(svg.cells, 2 * 4 * 8 * 8);
}

TEST(ReverseExampleTest, LearnsToReverseShortSequences) {
  if (!example_built("reverse")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example(
      "reverse", "--min-len 3 --max-len 6 --n-embd 32 --batch 32 --max-steps 300 --eval-every 25 "
      "--val-size 100 --test-size 100 --svg '' --json", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_GE(json_number(json, "test_accuracy"), 0.95) << json;
  EXPECT_LT(json_number(json, "final_loss"), 0.2) << json;
}

TEST(ReverseExampleTest, TerminalViewShowsTheShadedMap) {
  if (!example_built("reverse")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example(
      "reverse", "--min-len 3 --max-len 6 --n-embd 32 --batch 32 --max-steps 10 --eval-every 5 "
      "--val-size 20 --test-size 20 --stop-at 2 --svg ''", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held-out test:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("keys (what it reads)"), std::string::npos) << r.output;
}

}  // namespace
