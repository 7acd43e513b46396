// random_test.cpp: attograd's own random numbers. Philox4x32-10 matches the published known
// answers, so a seed means the same numbers on any compiler and library; randn and rand have
// the right moments; and a tensor's numbers depend on the seed and on what was drawn before it.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(RandomTest, PhiloxMatchesThePublishedKnownAnswers) {
  // Random123's kat_vectors (Salmon et al., SC'11): counter, key -> output.
  using Block = std::array<uint32_t, 4>;
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}), (Block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (Block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (Block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(RandomTest, SameSeedGivesTheSameNumbers) {
  manual_seed(42);
  const auto a = randn({1000}).to_vector<float>();
  const auto b = rand({7}, kFloat64).to_vector<double>();
  manual_seed(42);
  EXPECT_EQ(randn({1000}).to_vector<float>(), a);
  EXPECT_EQ(rand({7}, kFloat64).to_vector<double>(), b);
  manual_seed(43);
  EXPECT_NE(randn({1000}).to_vector<float>(), a);
}

TEST(RandomTest, NumbersDependOnWhatWasDrawnBefore) {
  manual_seed(1);
  const auto first = randn({10}, kFloat64).to_vector<double>();
  const auto second = randn({10}, kFloat64).to_vector<double>();
  EXPECT_NE(first, second);
  // The state is (seed, offset): restoring it replays the stream.
  Generator& gen = default_generator();
  manual_seed(1);
  (void)randn({10}, kFloat64);
  const uint64_t offset = gen.offset();
  const auto again = randn({10}, kFloat64).to_vector<double>();
  EXPECT_EQ(again, second);
  gen.set_state(1, offset);
  EXPECT_EQ(randn({10}, kFloat64).to_vector<double>(), second);
}

TEST(RandomTest, Float32AndFloat64DrawTheSameValues) {
  manual_seed(5);
  const auto f = randn({9}).to_vector<double>();
  manual_seed(5);
  const auto d = randn({9}, kFloat64).to_vector<double>();
  for (size_t i = 0; i < f.size(); ++i) EXPECT_EQ(f[i], static_cast<float>(d[i]));
}

TEST(RandomTest, RandnHasMeanZeroAndStdOne) {
  // 200,000 samples: the standard error of the mean is 1/sqrt(n) = 0.0022 and of the std
  // about 0.0016, so 0.01 is more than four standard errors.
  manual_seed(0);
  const auto v = randn({200000}, kFloat64).to_vector<double>();
  double sum = 0, sum_sq = 0;
  for (double x : v) { sum += x; sum_sq += x * x; }
  const double mean = sum / v.size();
  const double std = std::sqrt(sum_sq / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(std, 1.0, 0.01);
  // About 68.27% within one std (binomial standard error 0.001).
  int64_t inside = 0;
  for (double x : v) inside += std::fabs(x) < 1.0;
  EXPECT_NEAR(static_cast<double>(inside) / v.size(), 0.6827, 0.005);
}

TEST(RandomTest, RandIsUniformInTheHalfOpenUnitInterval) {
  manual_seed(0);
  const auto v = rand({100000}).to_vector<float>();
  double sum = 0;
  int64_t low_half = 0;
  for (float x : v) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    sum += x;
    low_half += x < 0.5f;
  }
  EXPECT_NEAR(sum / v.size(), 0.5, 0.005);  // standard error 0.0009
  EXPECT_NEAR(static_cast<double>(low_half) / v.size(), 0.5, 0.01);
}

TEST(RandomTest, RandintStaysInRangeAndHitsEveryValue) {
  manual_seed(0);
  const Tensor r = randint(-3, 4, {2000});
  EXPECT_EQ(r.dtype(), kInt64);
  std::set<int64_t> seen;
  for (int64_t x : r.to_vector<int64_t>()) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 4);
    seen.insert(x);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(RandomTest, OddSizedTensorsUseEveryDrawnValue) {
  // Values come in pairs per Philox block; an odd count must not leave garbage or repeat.
  manual_seed(9);
  const auto odd = randn({5}, kFloat64).to_vector<double>();
  manual_seed(9);
  const auto even = randn({6}, kFloat64).to_vector<double>();
  EXPECT_EQ(std::vector<double>(even.begin(), even.begin() + 5), odd);
  EXPECT_EQ(std::set<double>(odd.begin(), odd.end()).size(), 5u);
}

TEST(RandomTest, KeyedUniformDependsOnlyOnItsKey) {
  const double a = keyed_uniform(1, 2, 3, 4, 5);
  EXPECT_EQ(keyed_uniform(1, 2, 3, 4, 5), a);
  EXPECT_NE(keyed_uniform(1, 2, 3, 5, 5), a);
  EXPECT_NE(keyed_uniform(2, 2, 3, 4, 5), a);
  EXPECT_GE(a, 0.0);
  EXPECT_LT(a, 1.0);
}

}  // namespace
