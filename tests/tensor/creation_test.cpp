// creation_test.cpp: tensors made from nothing (zeros, ones, full, arange, eye, tril/triu) or
// copied from a std::vector, and the *_like family that borrows a shape and dtype.
#include <gtest/gtest.h>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(CreationTest, ZerosOnesAndFullFillEveryElement) {
  const Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dtype(), kFloat32);  // libtorch's default
  EXPECT_EQ(z.shape(), Shape({2, 3}));
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(ones({4}, kFloat64).to_vector<double>(), std::vector<double>(4, 1.0));
  EXPECT_EQ(full({2, 2}, 2.5, kFloat64).to_vector<double>(), std::vector<double>(4, 2.5));
  EXPECT_EQ(full({3}, 7, kInt64).to_vector<int64_t>(), std::vector<int64_t>(3, 7));
  EXPECT_EQ(ones({2}, kBool).to_vector<bool>(), std::vector<bool>(2, true));
  EXPECT_FALSE(z.requires_grad());
}

TEST(CreationTest, ScalarTensorIsZeroDimensional) {
  const Tensor s = scalar_tensor(3.5, kFloat64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item<double>(), 3.5);
}

TEST(CreationTest, ArangeCountsFromStartToBeforeEnd) {
  EXPECT_EQ(arange(5).dtype(), kInt64);
  EXPECT_EQ(arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(2, 11, 3).to_vector<int64_t>(), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(arange(3, 0, -1).to_vector<int64_t>(), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(arange(0, 1, 0.25, kFloat64).to_vector<double>(),
            (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(arange(4, 2).numel(), 0);
  EXPECT_THROW((void)arange(0, 1, 0), Error);
}

TEST(CreationTest, EyeIsTheIdentity) {
  EXPECT_EQ(eye(3, kFloat64).to_vector<double>(), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(eye(0).shape(), Shape({0, 0}));
}

TEST(CreationTest, TrilAndTriuKeepOneSideOfADiagonal) {
  const Tensor x = ones({3, 3}, kFloat64);
  EXPECT_EQ(tril(x).to_vector<double>(), (std::vector<double>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(triu(x, 1).to_vector<double>(), (std::vector<double>{0, 1, 1, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(tril(ones({2, 2, 3}, kFloat64), -1).to_vector<double>(),
            (std::vector<double>{0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0}));
  // A non-contiguous input is read through its strides.
  const Tensor t = from_vector<double>({1, 2, 3, 4}, {2, 2}).t();  // [[1, 3], [2, 4]]
  EXPECT_EQ(triu(t).to_vector<double>(), (std::vector<double>{1, 3, 0, 4}));
}

TEST(CreationTest, FromVectorCopiesValuesInRowMajorOrder) {
  std::vector<double> values{1, 2, 3, 4, 5, 6};
  const Tensor x = from_vector<double>(values, {2, 3});
  values[0] = 100;  // a copy, not a view of the vector
  EXPECT_EQ(x.dtype(), kFloat64);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(from_vector<float>({1.5f}, {}).item<float>(), 1.5f);
  EXPECT_EQ(from_vector<int>({1, 2}, {2}).dtype(), kInt64);  // int is stored as int64
  EXPECT_EQ(from_vector<bool>({true, false}, {2}).dtype(), kBool);
  EXPECT_EQ(from_vector({1.0, 2.0}, {2}, kFloat32).dtype(), kFloat32);
  EXPECT_EQ(from_vector<double>({}, {0, 3}).shape(), Shape({0, 3}));
}

TEST(CreationTest, LikeFunctionsBorrowShapeAndDtype) {
  const Tensor x = zeros({2, 3}, kFloat64).transpose(0, 1);
  for (const Tensor& t : {empty_like(x), zeros_like(x), ones_like(x), full_like(x, 2.0),
                          randn_like(x), rand_like(x)}) {
    EXPECT_EQ(t.shape(), Shape({3, 2}));
    EXPECT_EQ(t.dtype(), kFloat64);
    EXPECT_TRUE(t.is_contiguous());
  }
  EXPECT_EQ(full_like(x, 2.0).to_vector<double>(), std::vector<double>(6, 2.0));
  EXPECT_EQ(ones_like(zeros({2}, kInt64)).to_vector<int64_t>(), std::vector<int64_t>(2, 1));
}

TEST(CreationTest, ToVectorAndItemConvertTheElementType) {
  const Tensor x = from_vector<double>({1.75, -2.5}, {2});
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1.75f, -2.5f}));
  EXPECT_EQ(x.select(0, 1).item<int>(), -2);
}

}  // namespace
