// inplace_test.cpp: the in-place writes (fill_, copy_, add_, mul_, masked_fill_) change exactly
// the elements a tensor or view addresses, broadcast their source, and refuse shapes that
// would have to grow the destination.
#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(InPlaceTest, FillWritesOnlyTheViewedElements) {
  Tensor x = zeros({3, 4}, kFloat64);
  x.slice(1, 0, 4, 2).fill_(1.0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}));
  Tensor i = zeros({2}, kInt64);
  i.fill_(3);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{3, 3}));
}

TEST(InPlaceTest, CopyBroadcastsAndConvertsTheSource) {
  Tensor x = zeros({2, 3}, kFloat64);
  x.copy_(from_vector<float>({1, 2, 3}, {3}));
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  // Into a transposed view: element (i, j) of the view is x[j][i].
  x.t().copy_(from_vector<double>({7, 8, 9, 10, 11, 12}, {3, 2}));
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{7, 9, 11, 8, 10, 12}));
  EXPECT_THROW(x.copy_(zeros({3, 3}, kFloat64)), Error);
}

TEST(InPlaceTest, CopyFromAnOverlappingViewOfItself) {
  // x.copy_(x.t()) must read the source before overwriting it: element (0, 1) is written
  // before (1, 0) is read, and both are the same memory as the source's (1, 0) and (0, 1).
  Tensor x = from_vector<double>({1, 2, 3, 4}, {2, 2});
  x.copy_(x.t());
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 3, 2, 4}));
  Tensor y = arange(0, 5, 1, kFloat64);
  y.narrow(0, 1, 4).copy_(y.narrow(0, 0, 4));  // a shift by one, like memmove
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0, 0, 1, 2, 3}));
}

TEST(InPlaceTest, AddScalesItsOperand) {
  Tensor x = ones({2, 2}, kFloat64);
  x.add_(from_vector<double>({1, 2}, {2}), -2.0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{-1, -3, -1, -3}));
  EXPECT_THROW(x.add_(zeros({2}), 1.0), Error);          // dtype mismatch
  EXPECT_THROW(x.add_(zeros({3, 2, 2}, kFloat64)), Error);  // would grow x
}

TEST(InPlaceTest, MulAndMaskedFill) {
  Tensor x = from_vector<double>({1, 2, 3, 4}, {2, 2});
  x.select(0, 1).mul_(10.0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 2, 30, 40}));
  x.masked_fill_(from_vector<bool>({true, false}, {2, 1}), 0.0);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 0, 30, 40}));
}

TEST(InPlaceTest, ReturnsItselfForChaining) {
  Tensor x = zeros({2});
  EXPECT_TRUE(x.fill_(1.0).mul_(3.0).is_same(x));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{3, 3}));
}

TEST(InPlaceTest, WritesIntoAnExpandedViewAreRefused) {
  // Three elements of the view share one memory slot: which value would win depends on the
  // order the threads happen to write in, so this is an error (as in PyTorch), not a race.
  Tensor row = zeros({1, 4}, kFloat64);
  Tensor expanded = row.expand({3, 4});
  EXPECT_THROW(expanded.copy_(ones({3, 4}, kFloat64)), Error);
  EXPECT_THROW(expanded.fill_(1.0), Error);
  EXPECT_THROW(expanded.add_(ones({3, 4}, kFloat64)), Error);
  EXPECT_THROW(expanded.mul_(2.0), Error);
  EXPECT_THROW(expanded.masked_fill_(ones({4}, kBool), 1.0), Error);
  EXPECT_EQ(row.to_vector<double>(), std::vector<double>(4, 0.0));
  // A size-1 dim with stride 0 addresses one element once: fine.
  Tensor single = zeros({1}, kFloat64).expand({1, 1});
  single.fill_(2.0);
  EXPECT_EQ(single.item<double>(), 2.0);
}

}  // namespace
