// positional_test.cpp: the sinusoidal table against Vaswani et al.'s formula, its place as a
// non-persistent buffer, and learned positions as an Embedding over 0..T-1.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "nn/nn.h"

using namespace ag;

TEST(SinusoidalPositionalEncodingTest, MatchesTheFormula) {
  // PE[pos, 2i] = sin(pos / 10000^(2i/C)), PE[pos, 2i+1] = cos(pos / 10000^(2i/C)); an odd C
  // ends with a lone sin.
  for (int64_t C : {6, 5}) {
    nn::SinusoidalPositionalEncoding encoding(/*max_len=*/10, C);
    ASSERT_EQ(encoding.pe.shape(), (Shape{10, C}));
    const auto pe = encoding.pe.to_vector<float>();
    for (int64_t pos = 0; pos < 10; ++pos)
      for (int64_t i = 0; 2 * i < C; ++i) {
        const double angle = pos / std::pow(10000.0, 2.0 * i / C);
        EXPECT_NEAR(pe[pos * C + 2 * i], std::sin(angle), 1e-6) << "pos " << pos << " i " << i;
        if (2 * i + 1 < C) EXPECT_NEAR(pe[pos * C + 2 * i + 1], std::cos(angle), 1e-6);
      }
  }
}

TEST(SinusoidalPositionalEncodingTest, IsANonPersistentBufferNotAParameter) {
  nn::SinusoidalPositionalEncoding encoding(16, 8);
  EXPECT_TRUE(encoding.parameters().empty());
  EXPECT_TRUE(encoding.named_buffers().empty());  // persistent ones only
  EXPECT_TRUE(encoding.state_dict().empty());
  encoding.to(kFloat64);  // but it still follows the module's dtype
  EXPECT_EQ(encoding.pe.dtype(), kFloat64);
}

TEST(SinusoidalPositionalEncodingTest, ForwardAddsTheFirstTRows) {
  nn::SinusoidalPositionalEncoding encoding(16, 8);
  const Tensor x = ones({2, 5, 8});  // (B, T, C)
  const Tensor y = encoding(x);
  ASSERT_EQ(y.shape(), x.shape());
  const Tensor expected = encoding.pe.narrow(0, 0, 5) + 1.0;  // (T, C)
  for (int64_t b = 0; b < 2; ++b)
    EXPECT_EQ(y.select(0, b).contiguous().to_vector<float>(), expected.to_vector<float>());
}

TEST(SinusoidalPositionalEncodingTest, SequenceLongerThanTableIsError) {
  nn::SinusoidalPositionalEncoding encoding(4, 8);
  try {
    encoding(zeros({1, 5, 8}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "SinusoidalPositionalEncoding: sequence length T=5 is outside the table's max_len=4");
  }
}

TEST(LearnedPositionalEmbeddingTest, ReturnsOneLearnedRowPerPosition) {
  manual_seed(0);
  nn::LearnedPositionalEmbedding wpe(8, 4);
  const Tensor pos = wpe.forward(int64_t{5});  // (T, C)
  ASSERT_EQ(pos.shape(), (Shape{5, 4}));
  EXPECT_EQ(pos.to_vector<float>(), wpe.weight.narrow(0, 0, 5).contiguous().to_vector<float>());
  ASSERT_EQ(wpe.named_parameters().size(), 1u);
  EXPECT_EQ(wpe.named_parameters()[0].first, "weight");  // nanoGPT's wpe.weight
  pos.sum().backward();
  const auto grad = wpe.weight.grad().to_vector<float>();
  EXPECT_EQ(grad[4 * 4], 1.0f);  // position 4 used
  EXPECT_EQ(grad[5 * 4], 0.0f);  // position 5 not
}

TEST(LearnedPositionalEmbeddingTest, LongerThanMaxLenIsError) {
  nn::LearnedPositionalEmbedding wpe(8, 4);
  try {
    wpe.forward(int64_t{9});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "LearnedPositionalEmbedding: sequence length T=9 is longer than the table's max_len=8");
  }
}
