// embedding_test.cpp: nn::Embedding: row lookup, N(0, 1) init, gradients only on used rows,
// and a clear Error for an id outside the table.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "nn/nn.h"

using namespace ag;

TEST(EmbeddingTest, LooksUpRowsOfTheWeight) {
  manual_seed(0);
  nn::Embedding embedding(11, 4);
  EXPECT_EQ(embedding.weight.shape(), (Shape{11, 4}));
  const Tensor ids = from_vector<int64_t>({3, 0, 10, 3, 7, 1}, {2, 3});  // (B, T)
  const Tensor out = embedding(ids);                                     // (B, T, C)
  ASSERT_EQ(out.shape(), (Shape{2, 3, 4}));
  const auto ids_v = ids.to_vector<int64_t>();
  for (int64_t i = 0; i < 6; ++i) {
    const Tensor row = out.reshape({6, 4}).select(0, i);
    EXPECT_EQ(row.to_vector<float>(), embedding.weight.select(0, ids_v[i]).to_vector<float>());
  }
  EXPECT_EQ(embedding.name(), "Embedding(11, 4)");
}

TEST(EmbeddingTest, InitIsStandardNormal) {
  manual_seed(5);
  nn::Embedding embedding(200, 50);  // 10000 draws: mean within ~0.03, std within ~0.02
  const double mean = embedding.weight.mean().item<double>();
  const double std = std::sqrt(embedding.weight.var({}).item<double>());
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(std, 1.0, 0.05);
}

TEST(EmbeddingTest, GradientLandsOnlyOnUsedRowsAndRepeatsAdd) {
  nn::Embedding embedding(5, 3);
  const Tensor ids = from_vector<int64_t>({1, 3, 1}, {3});
  embedding(ids).sum().backward();
  const auto grad = embedding.weight.grad().to_vector<float>();  // (5, 3)
  for (int64_t row = 0; row < 5; ++row) {
    const float expected = row == 1 ? 2.0f : row == 3 ? 1.0f : 0.0f;  // id 1 is used twice
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(grad[row * 3 + c], expected) << "row " << row;
  }
}

TEST(EmbeddingTest, IdOutsideTheTableNamesTheIdAndTheSize) {
  nn::Embedding embedding(11, 4);
  for (int64_t bad : {11, -1}) {
    try {
      embedding(from_vector<int64_t>({2, bad}, {1, 2}));
      FAIL() << "expected an Error for id " << bad;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("token id " + std::to_string(bad)), std::string::npos) << what;
      EXPECT_NE(what.find("size 11"), std::string::npos) << what;
    }
  }
}
