// view_test.cpp: views change the layout (shape, strides, offset), never the bytes, so they
// share storage with their base: a write through one is seen through the other. reshape and
// contiguous copy only when no view can express the result.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

// (2, 3, 4) holding 0..23 as float64.
Tensor iota234() { return arange(0, 24, 1, kFloat64).view({2, 3, 4}); }

void expect_shares(const Tensor& view, const Tensor& base) {
  EXPECT_EQ(view.storage(), base.storage());
}

TEST(ViewTest, EveryViewSharesItsBasesStorage) {
  const Tensor x = iota234();
  expect_shares(x.view({6, 4}), x);
  expect_shares(x.reshape({4, 6}), x);
  expect_shares(x.permute({2, 0, 1}), x);
  expect_shares(x.transpose(0, 2), x);
  expect_shares(x.unsqueeze(1), x);
  expect_shares(x.unsqueeze(0).squeeze(0), x);
  expect_shares(x.select(0, 1).unsqueeze(1).expand({3, 5, 4}), x);
  expect_shares(x.narrow(2, 1, 2), x);
  expect_shares(x.slice(1, 0, 3, 2), x);
  expect_shares(x.select(1, 2), x);
  expect_shares(x.contiguous(), x);  // already contiguous: itself
  expect_shares(x.flatten(), x);
}

TEST(ViewTest, AWriteThroughAViewIsSeenByTheBase) {
  Tensor x = zeros({3, 4}, kFloat64);
  x.transpose(0, 1).select(0, 2).fill_(7.0);  // column 2
  x.narrow(0, 1, 1).fill_(1.0);               // row 1
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{0, 0, 7, 0, 1, 1, 1, 1, 0, 0, 7, 0}));
}

TEST(ViewTest, ViewsReadTheRightElements) {
  const Tensor x = iota234();
  EXPECT_EQ(x.transpose(0, 2).select(0, 1).to_vector<double>(),
            (std::vector<double>{1, 13, 5, 17, 9, 21}));  // x[:, :, 1].T
  EXPECT_EQ(x.permute({1, 2, 0}).shape(), Shape({3, 4, 2}));
  EXPECT_EQ(x.permute({1, 2, 0}).select(0, 0).select(0, 3).to_vector<double>(),
            (std::vector<double>{3, 15}));
  EXPECT_EQ(x.slice(2, 1, 4, 2).select(0, 0).to_vector<double>(),
            (std::vector<double>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(x.slice(1, -2, 3).select(0, 1).select(1, 0).to_vector<double>(),
            (std::vector<double>{16, 20}));
  EXPECT_EQ(x.select(-1, -1).to_vector<double>(), (std::vector<double>{3, 7, 11, 15, 19, 23}));
  EXPECT_EQ(x.narrow(1, -1, 1).squeeze().select(0, 1).to_vector<double>(),
            (std::vector<double>{20, 21, 22, 23}));
}

TEST(ViewTest, StridesDescribeTheLayout) {
  const Tensor x = iota234();
  EXPECT_EQ(x.strides(), Strides({12, 4, 1}));
  EXPECT_EQ(x.transpose(0, 2).strides(), Strides({1, 4, 12}));
  EXPECT_EQ(x.slice(2, 0, 4, 2).strides(), Strides({12, 4, 2}));
  EXPECT_EQ(x.select(1, 2).storage_offset(), 8);
  EXPECT_EQ(x.narrow(2, 1, 2).storage_offset(), 1);
  const Tensor e = x.select(0, 0).select(0, 0).unsqueeze(0).expand({3, 4});
  EXPECT_EQ(e.strides(), Strides({0, 1}));  // the same row read three times
  EXPECT_EQ(e.to_vector<double>(), (std::vector<double>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
}

TEST(ViewTest, ContiguityFollowsTheStrides) {
  const Tensor x = iota234();
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_FALSE(x.transpose(1, 2).is_contiguous());
  EXPECT_TRUE(x.select(0, 1).is_contiguous());
  EXPECT_FALSE(x.select(2, 1).is_contiguous());
  EXPECT_TRUE(x.unsqueeze(3).is_contiguous());  // a size-1 dim's stride never matters
  EXPECT_TRUE(x.narrow(0, 1, 1).is_contiguous());
}

TEST(ViewTest, ContiguousCopiesANonContiguousTensorIntoRowMajorOrder) {
  const Tensor x = iota234();
  const Tensor t = x.transpose(0, 1);
  const Tensor c = t.contiguous();
  EXPECT_NE(c.storage(), x.storage());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector<double>(), t.to_vector<double>());
  EXPECT_EQ(c.select(0, 1).select(0, 1).to_vector<double>(), (std::vector<double>{16, 17, 18, 19}));
}

TEST(ViewTest, ReshapeViewsWhenItCanAndCopiesWhenItMust) {
  const Tensor x = iota234();
  const Tensor t = x.transpose(1, 2);  // (2, 4, 3)
  // Splitting the contiguous last dims of a permuted tensor is still a view...
  expect_shares(x.permute({1, 2, 0}).reshape({3, 2, 2, 2}), x);
  // ...but flattening across the transposed dims is not.
  const Tensor flat = t.reshape({24});
  EXPECT_NE(flat.storage(), x.storage());
  EXPECT_EQ(flat.to_vector<double>(), t.to_vector<double>());
  EXPECT_THROW((void)t.view({24}), Error);
}

TEST(ViewTest, ViewInfersOneSizeAndAcceptsSizeOneDims) {
  const Tensor x = iota234();
  EXPECT_EQ(x.view({-1}).shape(), Shape({24}));
  EXPECT_EQ(x.view({4, -1}).shape(), Shape({4, 6}));
  EXPECT_EQ(x.view({1, 2, 1, 12, 1}).shape(), Shape({1, 2, 1, 12, 1}));
  EXPECT_EQ(x.flatten(1).shape(), Shape({2, 12}));
  EXPECT_EQ(x.flatten(0, 1).shape(), Shape({6, 4}));
}

TEST(ViewTest, SqueezeAndUnsqueezeMoveSizeOneDims) {
  const Tensor x = zeros({1, 3, 1, 2});
  EXPECT_EQ(x.squeeze().shape(), Shape({3, 2}));
  EXPECT_EQ(x.squeeze(2).shape(), Shape({1, 3, 2}));
  EXPECT_EQ(x.squeeze(1).shape(), Shape({1, 3, 1, 2}));  // not size 1: unchanged, as PyTorch
  EXPECT_EQ(x.unsqueeze(-1).shape(), Shape({1, 3, 1, 2, 1}));
  EXPECT_EQ(x.unsqueeze(0).shape(), Shape({1, 1, 3, 1, 2}));
}

TEST(ViewTest, ExpandGrowsOnlySizeOneDimsAndAddsLeadingOnes) {
  const Tensor x = arange(0, 3, 1, kFloat64).view({3, 1});
  const Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(e.strides(), Strides({0, 1, 0}));
  EXPECT_EQ(e.select(0, 1).select(0, 2).to_vector<double>(), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_EQ(x.expand({-1, 5}).shape(), Shape({3, 5}));
  EXPECT_THROW((void)x.expand({4, 1}), Error);
  EXPECT_EQ(x.expand_as(zeros({3, 2})).shape(), Shape({3, 2}));
}

TEST(ViewTest, TransposeOfAVectorOrScalarIsItself) {
  // As torch.t: tensors with fewer than 2 dims come back unchanged.
  const Tensor v = arange(0, 3, 1, kFloat64);
  EXPECT_EQ(v.t().shape(), Shape({3}));
  EXPECT_EQ(scalar_tensor(1.0).t().dim(), 0);
  EXPECT_EQ(zeros({2, 3}).t().shape(), Shape({3, 2}));
}

TEST(ViewTest, SliceClampsLikePython) {
  const Tensor x = arange(0, 5, 1, kFloat64);
  EXPECT_EQ(x.slice(0, 3, 100).to_vector<double>(), (std::vector<double>{3, 4}));
  EXPECT_EQ(x.slice(0, -100, 2).to_vector<double>(), (std::vector<double>{0, 1}));
  EXPECT_EQ(x.slice(0, 4, 2).numel(), 0);
  EXPECT_EQ(x.slice(0, 0, 5, 3).to_vector<double>(), (std::vector<double>{0, 3}));
}

// A random strided layout over a fresh base: permuted, stepped, narrowed, expanded.
Tensor random_layout(std::mt19937& rng) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  Shape shape;
  const int64_t ndim = pick(1, 4);
  for (int64_t d = 0; d < ndim; ++d) shape.push_back(pick(1, 4));
  Tensor x = arange(0, static_cast<double>(shape.numel()), 1, kFloat64).view(shape);
  for (int step = 0; step < 3; ++step) {
    const int64_t d = pick(0, x.dim() - 1);
    switch (pick(0, 4)) {
      case 0: x = x.transpose(d, pick(0, x.dim() - 1)); break;
      case 1: x = x.slice(d, pick(0, 1), x.size(d), pick(1, 2)); break;
      case 2: x = x.unsqueeze(pick(0, x.dim())); break;
      case 3: if (x.size(d) == 1) { Shape to = x.shape(); to[d] = pick(1, 3); x = x.expand(to); } break;
      case 4: if (x.dim() > 1 && x.size(d) > 1) x = x.select(d, pick(0, x.size(d) - 1)); break;
    }
  }
  return x;
}

// A random shape with the same number of elements (sizes from its factors, plus some 1s).
Shape random_target(int64_t numel, std::mt19937& rng) {
  Shape out;
  int64_t rest = numel;
  for (int64_t f = 2; f <= rest; ++f)
    while (rest % f == 0) { out.push_back(f); rest /= f; }
  std::shuffle(out.begin(), out.end(), rng);
  Shape merged;
  for (int64_t f : out) {
    if (!merged.empty() && rng() % 2) merged.back() *= f;
    else merged.push_back(f);
  }
  if (numel == 0) merged = {0};
  while (rng() % 3 == 0) merged.insert(merged.begin() + rng() % (merged.size() + 1), 1);
  return merged;
}

TEST(ViewTest, ViewAndReshapeOfRandomLayoutsReadTheSameElementsAsACopy) {
  std::mt19937 rng(12345);
  int viewed = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const Tensor x = random_layout(rng);
    const Shape target = random_target(x.numel(), rng);
    const std::vector<double> want = x.contiguous().to_vector<double>();
    const Tensor r = x.reshape(target);
    ASSERT_EQ(r.shape(), target);
    ASSERT_EQ(r.to_vector<double>(), want) << x.shape() << " strides " << x.strides() << " -> " << target;
    try {
      const Tensor v = x.view(target);
      ++viewed;
      ASSERT_EQ(v.storage(), x.storage());
      ASSERT_EQ(v.to_vector<double>(), want) << x.shape() << " strides " << x.strides() << " -> " << target;
    } catch (const Error&) {
      // Not every layout is viewable; reshape above copied instead.
    }
  }
  EXPECT_GT(viewed, 500);  // most random layouts still split or merge in place
}

}  // namespace
