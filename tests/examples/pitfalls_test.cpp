// pitfalls_test.cpp: every claim examples/attention_pitfalls prints, asserted on the same
// measurements (examples/pitfalls.h): the direction of each difference between a mistake and
// the right way, with margins wide enough to hold across seeds and compilers. Also a smoke run
// of the program itself.
#include "examples/example_test_helpers.h"
#include "examples/pitfalls.h"

namespace {

using namespace examples_test;

// (a) Unscaled, softmax saturates as d_k grows and the typical gradient collapses; scaled, the
// numbers stay put, and the scores keep variance ~1 without being confined to [-1, 1].
TEST(PitfallsTest, WithoutTheScaleSoftmaxSaturatesAndItsGradientCollapses) {
  double previous_max_weight = 0;
  for (int64_t d_k : {8, 32, 128, 512, 1024}) {
    const auto r = pitfalls::measure_scale(d_k);
    EXPECT_GT(r.unscaled.max_weight, previous_max_weight) << "d_k " << d_k;
    previous_max_weight = r.unscaled.max_weight;
    EXPECT_GT(r.unscaled.max_weight, r.scaled.max_weight) << "d_k " << d_k;
    EXPECT_LT(r.unscaled.entropy, r.scaled.entropy) << "d_k " << d_k;
    EXPECT_NEAR(r.scaled.score_std, 1.0, 0.1) << "d_k " << d_k;
    EXPECT_NEAR(r.unscaled.score_std, std::sqrt(static_cast<double>(d_k)), 0.15 * std::sqrt(static_cast<double>(d_k)));
    EXPECT_GT(r.scaled.score_max_abs, 1.0) << "scaling does not keep scores in [-1, 1]";
    EXPECT_LT(r.scaled.max_weight, 0.3) << "d_k " << d_k;
    EXPECT_EQ(r.scaled.saturated, 0.0) << "d_k " << d_k;
  }
  const auto big = pitfalls::measure_scale(1024);
  EXPECT_GT(big.unscaled.max_weight, 0.9);
  EXPECT_GT(big.unscaled.saturated, 0.5);
  EXPECT_LT(big.unscaled.grad_scores, big.scaled.grad_scores / 100);
  EXPECT_LT(big.unscaled.grad_q, big.scaled.grad_q / 10);
  const auto small = pitfalls::measure_scale(8);
  EXPECT_NEAR(big.scaled.grad_q, small.scaled.grad_q, 0.5 * small.scaled.grad_q) << "scaled stays put";
}

// (b) Without the causal mask: a training loss below what any honest model can reach,
// generation near chance, and outputs that depend on the future. With it: none of that.
TEST(PitfallsTest, ADecoderWithoutTheCausalMaskLooksGreatAndFailsToGenerate) {
  pitfalls::CausalConfig cfg;
  cfg.steps = 150;
  const auto r = pitfalls::measure_causal(cfg);
  EXPECT_LT(r.no_mask.train_loss, 0.5 * r.best_causal_loss);
  EXPECT_GT(r.causal.train_loss, 0.9 * r.best_causal_loss) << "an honest model cannot beat this";
  EXPECT_GT(r.no_mask.honest_loss, r.chance_loss) << "worse than uniform guessing";
  EXPECT_LT(r.causal.honest_loss, r.chance_loss);
  EXPECT_LT(r.no_mask.copy_accuracy, 0.3);
  EXPECT_GT(r.causal.copy_accuracy, 0.9);
  EXPECT_EQ(r.causal.leak, 0.0) << "the future must not change the past's outputs at all";
  EXPECT_GT(r.no_mask.leak, 1.0);
}

// (c) -inf masking gives the future exactly zero weight; multiplying by 0/1 does not.
TEST(PitfallsTest, MultiplyingScoresByAMaskLeavesWeightOnMaskedKeys) {
  const auto rows = pitfalls::measure_masks();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& m : rows) {
    if (m.correct) {
      EXPECT_EQ(m.future_weight, 0.0) << m.method;
      EXPECT_EQ(m.first_row_self, 1.0) << m.method;
      EXPECT_LT(m.max_diff, 1e-12) << m.method;
    } else {
      EXPECT_GT(m.future_weight, 0.2) << m.method;
      EXPECT_LT(m.first_row_self, 0.5) << m.method;
      EXPECT_GT(m.max_diff, 0.3) << m.method;
    }
  }
  // The upper-triangular 0/1 matrix keeps the future's raw scores: query 0 sees mostly future.
  EXPECT_LT(rows[3].first_row_self, rows[2].first_row_self);
}

// (d) Unmasked padding changes the real tokens' outputs, more with more padding; masked, not.
TEST(PitfallsTest, UnmaskedPaddingChangesOutputsAndTheMaskStopsIt) {
  const auto rows = pitfalls::measure_padding();
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(rows[0].change_unmasked, 0.0);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GT(rows[i].change_unmasked, rows[i - 1].change_unmasked) << "pad " << rows[i].pad;
    EXPECT_LT(rows[i].change_masked, 1e-12) << "pad " << rows[i].pad;
  }
  EXPECT_GT(rows.back().change_unmasked, 0.1);
}

// (e) The unshifted softmax overflows in float32 from logits of ~89; the epsilon changes
// nothing; clipping avoids the NaN but is wrong; the shifted softmax is right everywhere; and
// anomaly mode names the div that made the NaN.
TEST(PitfallsTest, SoftmaxWithoutTheShiftOverflowsAndAnomalyModeNamesTheOp) {
  for (const auto& r : pitfalls::measure_softmax()) {
    const bool large = r.logit_scale >= 100;
    if (r.correct) {
      EXPECT_EQ(r.non_finite, 0) << r.method << " at " << r.logit_scale;
      EXPECT_LT(r.max_error, 1e-6) << r.method << " at " << r.logit_scale;
    } else if (r.method.find("clip") != std::string::npos) {
      EXPECT_EQ(r.non_finite, 0) << r.method;
      if (r.logit_scale >= 50) EXPECT_GT(r.max_error, 0.1) << r.method << " at " << r.logit_scale;
    } else {
      EXPECT_EQ(r.non_finite > 0, large) << r.method << " at " << r.logit_scale;
    }
  }
  const auto anomaly = pitfalls::catch_unshifted_softmax_nan();
  EXPECT_TRUE(anomaly.caught);
  EXPECT_EQ(anomaly.op, "div") << anomaly.message;
  EXPECT_NE(anomaly.message.find("NaN"), std::string::npos) << anomaly.message;
  EXPECT_TRUE(anomaly.shifted_backward_finite);
}

TEST(PitfallsTest, TheProgramRunsAndReportsTheHeadlines) {
  if (!example_built("attention_pitfalls")) GTEST_SKIP() << "examples not built (AG_BUILD_EXAMPLES=OFF)";
  TempDir dir;
  const RunResult r = run_example("attention_pitfalls", "--causal-steps 100 --json", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = r.last_line();
  EXPECT_GT(json_number(json, "a_unscaled_max_weight_1024"), 0.9) << json;
  EXPECT_LT(json_number(json, "b_nomask_train_loss"), json_number(json, "b_causal_train_loss")) << json;
  EXPECT_GT(json_number(json, "c_tril_multiply_future_weight"), 0.2) << json;
  EXPECT_EQ(json_number(json, "d_masked_change"), 0.0) << json;
  EXPECT_NE(json.find("\"e_anomaly_op\": \"div\""), std::string::npos) << json;
  for (const char* part : {"(a)", "(b)", "(c)", "(d)", "(e)"})
    EXPECT_NE(r.output.find(part), std::string::npos) << part;
}

}  // namespace
