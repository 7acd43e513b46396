// edge_shape_test.cpp: 0-d tensors (scalars with shape ()) and tensors with a size-0 dim. Both
// are ordinary citizens: every op gives them a defined result with the shape PyTorch gives,
// and none reads or writes memory it does not own.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(EdgeShapeTest, ZeroDimTensorsBehaveAsScalars) {
  const Tensor s = scalar_tensor(2.0, kFloat64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.shape(), Shape({}));
  EXPECT_TRUE(s.strides().empty());
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{2}));
  EXPECT_EQ((s * s).dim(), 0);
  EXPECT_EQ((s + ones({2, 3}, kFloat64)).shape(), Shape({2, 3}));
  EXPECT_EQ(s.exp().item<double>(), std::exp(2.0));
  EXPECT_EQ(s.sum().dim(), 0);
  EXPECT_EQ(s.sum({0}).item<double>(), 2.0);
  EXPECT_EQ(s.max().item<double>(), 2.0);
  EXPECT_EQ(s.argmax(0).item<int64_t>(), 0);
  EXPECT_EQ(s.unsqueeze(0).shape(), Shape({1}));
  EXPECT_EQ(s.view({1, 1}).shape(), Shape({1, 1}));
  EXPECT_EQ(s.expand({3}).to_vector<double>(), std::vector<double>(3, 2.0));
  EXPECT_EQ(ones({1, 1}).squeeze().dim(), 0);
  EXPECT_EQ(ones({3}).select(0, 1).dim(), 0);
  EXPECT_EQ(matmul(ones({3}), ones({3})).dim(), 0);
  EXPECT_EQ(s.flatten().shape(), Shape({1}));
  EXPECT_THROW((void)cat({s, s}), Error);
  EXPECT_THROW((void)s.slice(0, 0, 1), Error);
}

TEST(EdgeShapeTest, ZeroSizeTensorsFlowThroughEveryKind) {
  const Tensor e = zeros({0, 3}, kFloat64);
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.to_vector<double>().empty());
  EXPECT_EQ((e + ones({3}, kFloat64)).shape(), Shape({0, 3}));
  EXPECT_EQ(e.exp().shape(), Shape({0, 3}));
  EXPECT_EQ(e.t().contiguous().shape(), Shape({3, 0}));
  EXPECT_EQ(e.view({3, 0, 5}).shape(), Shape({3, 0, 5}));
  EXPECT_EQ(e.reshape({-1, 3}).shape(), Shape({0, 3}));
  EXPECT_THROW((void)e.reshape({0, -1}), Error);  // any size fits: ambiguous, as in PyTorch
  EXPECT_EQ(e.sum({1}).shape(), Shape({0}));
  EXPECT_EQ(e.softmax(1).shape(), Shape({0, 3}));
  EXPECT_EQ(cat({e, ones({2, 3}, kFloat64)}).shape(), Shape({2, 3}));
  EXPECT_EQ(matmul(e, ones({3, 4}, kFloat64)).shape(), Shape({0, 4}));
  EXPECT_EQ(e.unsqueeze(0).expand({2, 0, 3}).shape(), Shape({2, 0, 3}));
  EXPECT_EQ(where(zeros({0, 1}, kBool), e, e).shape(), Shape({0, 3}));
  EXPECT_EQ(e.masked_fill(ones({3}, kBool), 1.0).shape(), Shape({0, 3}));
  EXPECT_EQ(index_select(e, 1, from_vector<int64_t>({2, 2}, {2})).shape(), Shape({0, 2}));
  EXPECT_EQ(e.clone().shape(), Shape({0, 3}));
  EXPECT_EQ(e.to(kFloat32).dtype(), kFloat32);
  EXPECT_EQ(e.slice(1, 1, 3).shape(), Shape({0, 2}));
  EXPECT_EQ(e.var({1}).shape(), Shape({0}));
}

TEST(EdgeShapeTest, ASizeZeroDimStillHasWellDefinedStrides) {
  Tensor e = zeros({2, 0, 3});
  EXPECT_EQ(e.strides(), Strides({3, 3, 1}));
  EXPECT_TRUE(e.is_contiguous());
  EXPECT_EQ(e.fill_(1.0).numel(), 0);
}

TEST(EdgeShapeTest, SizeOneDimsBroadcastAndReduce) {
  const Tensor x = from_vector<double>({1, 2, 3}, {3, 1});
  EXPECT_EQ((x * from_vector<double>({1, 10}, {1, 2})).to_vector<double>(),
            (std::vector<double>{1, 10, 2, 20, 3, 30}));
  EXPECT_EQ(x.sum({1}).to_vector<double>(), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(x.max(1).to_vector<double>(), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(x.softmax(1).to_vector<double>(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(x.var({1}, false).to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

}  // namespace
