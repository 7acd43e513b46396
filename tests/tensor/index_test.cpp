// index_test.cpp: the kernels that move rows or elements by index: cat and stack, index_select
// and its backward index_add_, gather and its backward scatter_add_, and embedding lookups.
// Repeated indices must add up in the backward kernels.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

Tensor iota(const Shape& shape) { return arange(0, static_cast<double>(shape.numel()), 1, kFloat64).view(shape); }
Tensor ids(const std::vector<int64_t>& values, const Shape& shape) { return from_vector<int64_t>(values, shape); }

TEST(IndexTest, CatJoinsAlongAnyDim) {
  const Tensor a = iota({2, 2}), b = iota({2, 3}) + 10.0;
  EXPECT_EQ(cat({a, b}, 1).to_vector<double>(), (std::vector<double>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
  EXPECT_EQ(cat({a, a}, 0).shape(), Shape({4, 2}));
  EXPECT_EQ(cat({a, b}, -1).shape(), Shape({2, 5}));
  EXPECT_EQ(cat({a}, 0).to_vector<double>(), a.to_vector<double>());
}

TEST(IndexTest, CatReadsStridedInputsAndSkipsEmptyOnes) {
  const Tensor a = iota({3, 2});
  const Tensor joined = cat({a.t(), zeros({0, 3}, kFloat64), a.t().slice(0, 1, 2)}, 0);
  EXPECT_EQ(joined.to_vector<double>(), (std::vector<double>{0, 2, 4, 1, 3, 5, 1, 3, 5}));
}

TEST(IndexTest, StackAddsANewDim) {
  const Tensor a = iota({2, 3}), b = iota({2, 3}) * -1.0;
  EXPECT_EQ(stack({a, b}).shape(), Shape({2, 2, 3}));
  EXPECT_EQ(stack({a, b}, 2).shape(), Shape({2, 3, 2}));
  EXPECT_EQ(stack({a, b}, -1).select(2, 1).to_vector<double>(), b.to_vector<double>());
  EXPECT_EQ(stack({scalar_tensor(1.0), scalar_tensor(2.0)}).to_vector<float>(), (std::vector<float>{1, 2}));
}

TEST(IndexTest, IndexSelectPicksRowsAlongAnyDim) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(index_select(x, 0, ids({2, 0, 2}, {3})).to_vector<double>(),
            (std::vector<double>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(index_select(x, 1, ids({3, 1}, {2})).to_vector<double>(), (std::vector<double>{3, 1, 7, 5, 11, 9}));
  EXPECT_EQ(index_select(x.t(), 0, ids({1}, {1})).to_vector<double>(), (std::vector<double>{1, 5, 9}));
  EXPECT_EQ(index_select(x, 0, ids({}, {0})).shape(), Shape({0, 4}));
  // A strided index tensor is read through its strides.
  EXPECT_EQ(index_select(x, 0, ids({0, 9, 2, 9}, {4}).slice(0, 0, 4, 2)).shape(), Shape({2, 4}));
}

TEST(IndexTest, IndexAddAccumulatesRepeatedRows) {
  Tensor out = zeros({3, 2}, kFloat64);
  kernels::index_add_(out, 0, ids({2, 0, 2}, {3}), iota({3, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{2, 3, 0, 0, 4 + 0, 5 + 1}));
}

TEST(IndexTest, GatherPicksOneElementPerIndex) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(gather(x, 1, ids({0, 3, 1, 1, 2, 0}, {3, 2})).to_vector<double>(),
            (std::vector<double>{0, 3, 5, 5, 10, 8}));
  EXPECT_EQ(gather(x, 0, ids({2, 0, 1, 2}, {1, 4})).to_vector<double>(), (std::vector<double>{8, 1, 6, 11}));
  // The index may be smaller than x in the other dims.
  EXPECT_EQ(gather(x, 1, ids({1, 2}, {2, 1})).to_vector<double>(), (std::vector<double>{1, 6}));
  EXPECT_EQ(gather(x.t(), 1, ids({2}, {1, 1})).item<double>(), 8);
}

TEST(IndexTest, ScatterAddAccumulatesRepeatedPositions) {
  Tensor out = zeros({2, 3}, kFloat64);
  kernels::scatter_add_(out, 1, ids({0, 0, 2, 1}, {2, 2}), from_vector<double>({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{3, 0, 0, 0, 4, 3}));
}

TEST(IndexTest, EmbeddingLooksUpRowsForAnyIdShape) {
  const Tensor table = iota({5, 2});
  const Tensor out = embedding(table, ids({4, 0, 4, 1}, {2, 2}));
  EXPECT_EQ(out.shape(), Shape({2, 2, 2}));
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{8, 9, 0, 1, 8, 9, 2, 3}));
  EXPECT_EQ(embedding(table, ids({3}, {})).to_vector<double>(), (std::vector<double>{6, 7}));
}

}  // namespace
