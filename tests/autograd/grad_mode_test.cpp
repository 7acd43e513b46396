// grad_mode_test.cpp: NoGradGuard turns recording off for the current thread only (as in
// PyTorch, so an optimizer step on one thread cannot stop another from recording), guards
// nest and restore, and anomaly mode names the op that first produced a NaN or Inf.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "autograd/autograd.h"

namespace {

using namespace ag;

TEST(GradModeTest, NoGradGuardStopsRecording) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradMode::is_enabled());
    const Tensor y = x * 2.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(GradMode::is_enabled());
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(GradModeTest, GuardsNestAndRestoreThePreviousMode) {
  {
    NoGradGuard outer;
    {
      AutoGradMode enable(true);
      EXPECT_TRUE(GradMode::is_enabled());
      {
        NoGradGuard inner;
        EXPECT_FALSE(GradMode::is_enabled());
      }
      EXPECT_TRUE(GradMode::is_enabled());
    }
    EXPECT_FALSE(GradMode::is_enabled());
  }
  EXPECT_TRUE(GradMode::is_enabled());
}

TEST(GradModeTest, NoGradGuardIsThreadLocal) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  NoGradGuard no_grad;  // on this thread only
  bool other_thread_records = false, other_thread_enabled = false;
  std::thread worker([&] {
    other_thread_enabled = GradMode::is_enabled();
    other_thread_records = (x * 2.0).requires_grad();
  });
  worker.join();
  EXPECT_TRUE(other_thread_enabled);
  EXPECT_TRUE(other_thread_records);
  EXPECT_FALSE((x * 2.0).requires_grad());
}

TEST(GradModeTest, AGuardOnAnotherThreadDoesNotStopThisOne) {
  Tensor x = ones({2}, kFloat64).requires_grad_();
  std::thread worker([] {
    NoGradGuard no_grad;
    EXPECT_FALSE(GradMode::is_enabled());
  });
  worker.join();
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(GradModeTest, InPlaceWritesToAVariableAreRefusedOutsideNoGrad) {
  Tensor w = ones({2}, kFloat64).requires_grad_();
  EXPECT_THROW(w.mul_(2.0), Error);
  {
    NoGradGuard no_grad;  // what an optimizer does
    w.add_(ones({2}, kFloat64), -0.5);
  }
  EXPECT_EQ(w.to_vector<double>(), (std::vector<double>{0.5, 0.5}));
}

TEST(GradModeTest, AnomalyModeNamesTheForwardOpThatMadeANaN) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<double>({-1.0, 2.0}, {2}).requires_grad_();
  try {
    (void)x.log();
    FAIL() << "log(-1) should have raised in anomaly mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "log");
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

TEST(GradModeTest, AnomalyModeNamesTheBackwardThatMadeAnInf) {
  // sqrt(0) = 0 is fine, but its derivative 1 / (2 sqrt(0)) is infinite.
  Tensor x = zeros({2}, kFloat64).requires_grad_();
  const Tensor y = x.sqrt().sum();
  autograd::DetectAnomalyGuard anomaly;
  try {
    y.backward();
    FAIL() << "the infinite gradient should have raised in anomaly mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "sqrt");
    EXPECT_NE(std::string(e.what()).find("backward"), std::string::npos) << e.what();
  }
}

TEST(GradModeTest, WithoutAnomalyModeANaNPassesThroughQuietly) {
  if (autograd::anomaly_enabled()) GTEST_SKIP() << "AG_DETECT_ANOMALY is set";
  const Tensor x = from_vector<double>({-1.0}, {1});
  EXPECT_TRUE(std::isnan(x.log().item<double>()));
}

}  // namespace
