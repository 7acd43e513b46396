// char_gpt_test.cpp: smoke tests of examples/char_gpt on a small text the test writes itself:
// training writes its checkpoint, log and plots and the loss falls; a run stopped and resumed
// logs the same losses, bit for bit, as one that never stopped (dropout on); sample mode
// continues a prompt; --attention-map draws one heatmap per layer and head; and with no data
// it says what to pass.
#include "examples/example_test_helpers.h"

namespace {

using namespace examples_test;

// A few kilobytes of text with structure to learn (repeated words, line breaks).
void write_corpus(const std::string& path) {
  std::ofstream out(path);
  const char* lines[] = {"the cat sat on the mat.", "a dog ate the hat.", "to be or not to be.",
                         "the rain in spain stays mainly in the plain."};
  for (int i = 0; i < 120; ++i) out << lines[i % 4] << (i % 3 == 0 ? "\n" : " ");
}

const std::string kTiny =
    "--data corpus.txt --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch 8 "
    "--eval-iters 2 --warmup 5 --lr 3e-3 ";

TEST(CharGptExampleTest, TrainsAndWritesCheckpointLogAndPlots) {
  if (!example_built("char_gpt")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  write_corpus(dir / "corpus.txt");
  const RunResult r = run_example("char_gpt", kTiny + "--max-iters 60 --eval-interval 30 "
                                  "--out-dir out --attention-map 'the cat' --json", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_LT(json_number(json, "final_loss"), json_number(json, "first_loss") - 0.5) << json;
  EXPECT_EQ(json_number(json, "steps"), 60) << json;
  EXPECT_TRUE(std::filesystem::exists(dir / "out/ckpt.safetensors"));
  const std::string log = read_text(dir / "out/log.csv");
  EXPECT_EQ(log.rfind("step,train_loss,val_loss,lr,seconds\n", 0), 0u) << log.substr(0, 100);
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1 + 1 + 60) << "header, step 0, 60 steps";
  const auto loss_svg = check_xml(read_text(dir / "out/loss.svg"));
  EXPECT_EQ(loss_svg.error, "");
  const auto attention = check_xml(read_text(dir / "out/attention.svg"));
  EXPECT_EQ(attention.error, "");
  EXPECT_EQ(attention.cells, 1 * 2 * 7 * 7);  // 1 layer x 2 heads x ("the cat": 7 characters)^2
  EXPECT_EQ(json_number(json, "attention_cells"), 1 * 2 * 7 * 7) << json;
}

TEST(CharGptExampleTest, ResumeContinuesExactly) {
  if (!example_built("char_gpt")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  write_corpus(dir / "corpus.txt");
  // The schedule's length is fixed (--lr-decay-iters), so stopping at 10 changes nothing else.
  const std::string common = kTiny + "--dropout 0.1 --eval-interval 10 --lr-decay-iters 20 --json ";
  ASSERT_EQ(run_example("char_gpt", common + "--max-iters 20 --out-dir straight", dir.path()).exit_code, 0);
  ASSERT_EQ(run_example("char_gpt", common + "--max-iters 10 --out-dir resumed", dir.path()).exit_code, 0);
  const RunResult r = run_example("char_gpt", common + "--max-iters 20 --out-dir resumed --resume", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Compare step, train loss and val loss (9 significant digits); timings differ.
  auto losses = [](const std::string& csv) {
    std::istringstream in(csv);
    std::string line, out;
    while (std::getline(in, line)) {
      size_t cut = line.find(',');
      cut = line.find(',', cut + 1);
      cut = line.find(',', cut + 1);
      out += line.substr(0, cut) + "\n";
    }
    return out;
  };
  const std::string straight = losses(read_text(dir / "straight/log.csv"));
  EXPECT_EQ(std::count(straight.begin(), straight.end(), '\n'), 22);
  EXPECT_EQ(straight, losses(read_text(dir / "resumed/log.csv")));
}

TEST(CharGptExampleTest, SampleContinuesThePrompt) {
  if (!example_built("char_gpt")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  write_corpus(dir / "corpus.txt");
  ASSERT_EQ(run_example("char_gpt", kTiny + "--max-iters 20 --eval-interval 20 --out-dir out",
                        dir.path()).exit_code, 0);
  const RunResult r = run_example("char_gpt", "sample --out-dir out --prompt 'the ' --num-tokens 30",
                                  dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("the ", 0), 0u) << r.output;
  EXPECT_GE(r.output.size(), 34u) << r.output;
  // A character the text never had cannot be encoded: a clear error, not a crash.
  const RunResult bad = run_example("char_gpt", "sample --out-dir out --prompt 'THE'", dir.path());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("not in the training text's vocabulary"), std::string::npos) << bad.output;
}

TEST(CharGptExampleTest, WithoutDataItSaysWhatToPass) {
  if (!example_built("char_gpt")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("char_gpt", "", dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--data"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tinyshakespeare"), std::string::npos) << r.output;
}

TEST(CharGptExampleTest, PresetsSetRefGptShapes) {
  if (!example_built("char_gpt")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("char_gpt", "--config tiny --help", dir.path());
  EXPECT_EQ(r.exit_code, 0);
  // --help shows the values in force: tiny is 2 layers, 64 channels, a 64-character block.
  EXPECT_NE(r.output.find("transformer blocks (default: 2)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("channels (default: 64)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("characters of context (default: 64)"), std::string::npos) << r.output;
  EXPECT_EQ(run_example("char_gpt", "--config huge", dir.path()).exit_code, 2);
}

}  // namespace
