// anomaly_test.cpp: what anomaly mode promises. While a DetectAnomalyGuard lives (or the
// program started with AG_DETECT_ANOMALY=1), the first NaN a forward makes, or the first NaN or
// Inf in a gradient, raises ag::Error naming the op and its input shapes; a gradient's error is
// named after the forward op whose backward made it. Each test plants one NaN where a real
// model would meet it (log of a negative, 0/0, a softmax without the max shift, sqrt's
// derivative at 0) and reads the message. Off, nothing is checked and a NaN flows on quietly.
//
// An Inf in a forward is deliberately not an anomaly (-inf attention masks, log(0)); the tests
// below pin that down too, so a stricter check cannot sneak in and break masked attention.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <unistd.h>

#include "autograd/autograd.h"

namespace {

using namespace ag;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Runs fn, which must throw ag::Error, and returns the Error (or fails the test).
template <typename F>
Error expect_anomaly(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an anomaly Error, but nothing was thrown";
  return Error("none", "nothing was thrown");
}

bool contains(const Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

// ---- forward: the op that makes the first NaN --------------------------------------------

TEST(AnomalyTest, LogOfANegativeNamesLogAndItsInputShape) {
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<double>({1, 2, 3, -1, 5, 6}, {2, 3}).requires_grad_();
  const Tensor h = x * 2.0;  // fine: the NaN comes one op later
  const Error e = expect_anomaly([&] { (void)h.log(); });
  EXPECT_EQ(e.op(), "log") << e.what();
  EXPECT_TRUE(contains(e, "forward produced NaN")) << e.what();
  EXPECT_TRUE(contains(e, "input shapes (2, 3)")) << e.what();
  EXPECT_TRUE(contains(e, "its inputs were finite, so this op made it")) << e.what();
}

TEST(AnomalyTest, ZeroOverZeroNamesDivAndBothBroadcastShapes) {
  autograd::DetectAnomalyGuard anomaly;
  const Tensor a = zeros({2, 1}, kFloat64).requires_grad_();
  const Tensor b = from_vector<double>({1, 0, 2}, {3});
  const Error e = expect_anomaly([&] { (void)(a / b); });
  EXPECT_EQ(e.op(), "div") << e.what();
  EXPECT_TRUE(contains(e, "output shape (2, 3)")) << e.what();
  EXPECT_TRUE(contains(e, "input shapes (2, 1), (3)")) << e.what();
}

TEST(AnomalyTest, SqrtOfANegativeNamesSqrt) {
  autograd::DetectAnomalyGuard anomaly;
  const Tensor x = from_vector<float>({4, -4}, {2});  // float32, and no grad: still checked
  const Error e = expect_anomaly([&] { (void)x.sqrt(); });
  EXPECT_EQ(e.op(), "sqrt") << e.what();
  EXPECT_TRUE(contains(e, "NaN")) << e.what();
}

TEST(AnomalyTest, SoftmaxWithoutTheMaxShiftIsCaughtWhereInfOverInfMakesNaN) {
  // The textbook trap: exp(1000) overflows to inf, the row sum is inf, and inf / inf = NaN.
  // exp's inf alone is let through (an Inf can be legitimate); the div that turns it into a
  // NaN is the first bad op, and the message says its inputs already held Inf.
  autograd::DetectAnomalyGuard anomaly;
  Tensor x = from_vector<double>({1000, 0, 1, 2, 3, 4}, {2, 3}).requires_grad_();
  const Error e = expect_anomaly([&] {
    const Tensor e_x = x.exp();                                        // (2, 3), has inf
    const Tensor y = e_x / e_x.sum(std::vector<int64_t>{-1}, true);    // (2, 3) / (2, 1)
  });
  EXPECT_TRUE(e.op() == "div" || e.op() == "exp") << e.what();
  EXPECT_TRUE(contains(e, "input shapes (2, 3), (2, 1)")) << e.what();
  EXPECT_TRUE(contains(e, "input 0 (Inf)")) << e.what();

  // The real softmax shifts by the row max and is fine on the same logits, both ways.
  const Tensor y = x.softmax(-1);
  EXPECT_DOUBLE_EQ(y.to_vector<double>()[0], 1.0);
  (y * from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3})).sum().backward();
  for (double g : x.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
}

TEST(AnomalyTest, ANaNThatCameInFromOutsideIsBlamedOnItsInput) {
  autograd::DetectAnomalyGuard anomaly;
  const Tensor x = from_vector<double>({1, std::nan("")}, {2});
  const Error e = expect_anomaly([&] { (void)(x + 1.0); });
  EXPECT_EQ(e.op(), "add") << e.what();
  EXPECT_TRUE(contains(e, "input 0 (NaN)")) << e.what();
}

// ---- backward: the op whose gradient goes bad ---------------------------------------------

TEST(AnomalyTest, SqrtAtZeroIsFineForwardButItsBackwardRaisesNamingSqrt) {
  // sqrt(0) = 0, but d/dx sqrt(x) = 1 / (2 sqrt(x)) is infinite there.
  Tensor x = from_vector<double>({0, 1, 4}, {3}).requires_grad_();
  autograd::DetectAnomalyGuard anomaly;
  const Tensor loss = (x.sqrt() * 3.0).sum();  // no error yet
  const Error e = expect_anomaly([&] { loss.backward(); });
  EXPECT_EQ(e.op(), "sqrt") << e.what();
  EXPECT_TRUE(contains(e, "the backward of sqrt produced Inf")) << e.what();
  EXPECT_TRUE(contains(e, "gradient for input 0 (gradient shape (3)")) << e.what();
  EXPECT_TRUE(contains(e, "dy) was finite")) << e.what();
}

TEST(AnomalyTest, ANaNMadeInsideABackwardIsReportedAsThatBackward) {
  // With dy = 0 at the kink, sqrt's backward dy / (2 sqrt(x)) is 0 / 0: the NaN first appears
  // in the div the backward is written with, and must still be reported as sqrt's backward.
  Tensor x = from_vector<double>({0, 1}, {2}).requires_grad_();
  const Tensor weights = from_vector<double>({0, 1}, {2});
  autograd::DetectAnomalyGuard anomaly;
  const Tensor loss = (x.sqrt() * weights).sum();
  const Error e = expect_anomaly([&] { loss.backward(); });
  EXPECT_EQ(e.op(), "sqrt") << e.what();
  EXPECT_TRUE(contains(e, "the backward of sqrt")) << e.what();
  EXPECT_TRUE(contains(e, "in its step div")) << e.what();

  // Once that backward is over, a NaN in a plain forward is a forward's again.
  const Error later = expect_anomaly([&] { (void)from_vector<double>({-1}, {1}).log(); });
  EXPECT_EQ(later.op(), "log") << later.what();
  EXPECT_TRUE(contains(later, "the forward produced NaN")) << later.what();
}

TEST(AnomalyTest, AnInfiniteGradientFromOutsideIsSaidToHaveFlowedIn) {
  Tensor x = from_vector<double>({1, 2}, {2}).requires_grad_();
  const Tensor y = x * 2.0;
  autograd::DetectAnomalyGuard anomaly;
  const Error e = expect_anomaly([&] { y.backward(from_vector<double>({kInf, 1}, {2})); });
  EXPECT_EQ(e.op(), "mul") << e.what();
  EXPECT_TRUE(contains(e, "already held Inf")) << e.what();
}

// ---- what is not an anomaly ---------------------------------------------------------------

TEST(AnomalyTest, MinusInfinityMasksAndLogOfZeroAreNotAnomalies) {
  // Masked attention: -inf scores softmax to exactly 0, forward and backward stay finite.
  autograd::DetectAnomalyGuard anomaly;
  Tensor scores = from_vector<double>({0.5, 1.5, -0.5, 2.0}, {2, 2}).requires_grad_();
  const Tensor mask = gt(from_vector<double>({0, 1, 0, 0}, {2, 2}), zeros({2, 2}, kFloat64));
  const Tensor p = scores.masked_fill(mask, -kInf).softmax(-1);  // (2, 2)
  EXPECT_EQ(p.to_vector<double>()[1], 0.0);
  (p * from_vector<double>({1, 2, 3, 4}, {2, 2})).sum().backward();
  for (double g : scores.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));

  EXPECT_EQ(zeros({1}, kFloat64).log().item<double>(), -kInf);  // exact, so no error
}

TEST(AnomalyTest, OffByDefaultSoANaNFlowsOnQuietly) {
  if (autograd::anomaly_enabled()) GTEST_SKIP() << "AG_DETECT_ANOMALY is set for this run";
  Tensor x = from_vector<double>({-1, 0}, {2}).requires_grad_();
  const Tensor y = x.log();  // NaN, -inf: no error
  EXPECT_TRUE(std::isnan(y.to_vector<double>()[0]));
  Tensor z = zeros({2}, kFloat64).requires_grad_();
  z.sqrt().sum().backward();  // an infinite gradient: no error either
  EXPECT_EQ(z.grad().to_vector<double>()[0], kInf);
}

TEST(AnomalyTest, TheGuardRestoresThePreviousModeAndNests) {
  const bool before = autograd::anomaly_enabled();
  {
    autograd::DetectAnomalyGuard outer;
    EXPECT_TRUE(autograd::anomaly_enabled());
    {
      autograd::DetectAnomalyGuard inner;
      EXPECT_TRUE(autograd::anomaly_enabled());
    }
    EXPECT_TRUE(autograd::anomaly_enabled());  // the inner guard restored "on", not "off"
  }
  EXPECT_EQ(autograd::anomaly_enabled(), before);
}

// ---- the environment variable --------------------------------------------------------------

bool anomaly_requested_by_env() {
  const char* env = std::getenv("AG_DETECT_ANOMALY");
  return env != nullptr && env[0] != '\0' && std::string(env) != "0";
}

TEST(AnomalyTest, ModeAtStartupMatchesTheEnvironmentVariable) {
  // Run by the next test in a fresh process with AG_DETECT_ANOMALY=1; in a plain run it
  // checks the default (off) instead.
  EXPECT_EQ(autograd::anomaly_enabled(), anomaly_requested_by_env());
  if (anomaly_requested_by_env()) {
    const Error e = expect_anomaly([] { (void)from_vector<double>({-1}, {1}).log(); });
    EXPECT_EQ(e.op(), "log") << e.what();
  }
}

TEST(AnomalyTest, EnvironmentVariableTurnsItOnInAFreshProcess) {
  // The flag is read once at start-up, so only a new process can show the variable working:
  // run this very test binary again, with the variable set, on the test above.
  std::array<char, 4096> self{};
  const ssize_t n = readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) GTEST_SKIP() << "cannot find this test binary through /proc/self/exe";
  const std::string command = "AG_DETECT_ANOMALY=1 '" + std::string(self.data(), n) +
                              "' --gtest_filter=AnomalyTest.ModeAtStartupMatchesTheEnvironment"
                              "Variable 2>&1";
  FILE* child = popen(command.c_str(), "r");
  ASSERT_NE(child, nullptr) << command;
  std::string output;
  std::array<char, 512> buffer{};
  while (fgets(buffer.data(), static_cast<int>(buffer.size()), child)) output += buffer.data();
  const int status = pclose(child);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("[  PASSED  ] 1 test"), std::string::npos) << output;
}

}  // namespace
