// shape_test.cpp: the rules relating shapes and strides: numel, row-major strides, negative
// dims, NumPy broadcasting, and the stride-0 trick that reads a broadcast operand in place.
#include <gtest/gtest.h>

#include "tensor/shape.h"
#include "tensor/error.h"

namespace {

using ag::Shape;
using ag::Strides;

TEST(ShapeTest, NumelIsTheProductOfSizesAndOneForAScalar) {
  EXPECT_EQ(Shape({2, 3, 4}).numel(), 24);
  EXPECT_EQ(Shape({}).numel(), 1);
  EXPECT_EQ(Shape({3, 0, 2}).numel(), 0);
}

TEST(ShapeTest, PrintsLikeATuple) {
  EXPECT_EQ(Shape({2, 3}).str(), "(2, 3)");
  EXPECT_EQ(Shape({5}).str(), "(5)");
  EXPECT_EQ(Shape({}).str(), "()");
}

TEST(ShapeTest, ContiguousStridesAreRowMajor) {
  EXPECT_EQ(ag::contiguous_strides({2, 3, 4}), Strides({12, 4, 1}));
  EXPECT_EQ(ag::contiguous_strides({}), Strides({}));
  // A size-0 dim must not zero the strides of the dims before it.
  EXPECT_EQ(ag::contiguous_strides({2, 0, 3}), Strides({3, 3, 1}));
}

TEST(ShapeTest, NegativeDimsCountFromTheEnd) {
  EXPECT_EQ(ag::normalize_dim(-1, 3, "op"), 2);
  EXPECT_EQ(ag::normalize_dim(-3, 3, "op"), 0);
  EXPECT_EQ(ag::normalize_dim(2, 3, "op"), 2);
  EXPECT_THROW(ag::normalize_dim(3, 3, "op"), ag::Error);
  EXPECT_THROW(ag::normalize_dim(-4, 3, "op"), ag::Error);
  // A 0-d tensor answers to dim 0 and -1, as in PyTorch.
  EXPECT_EQ(ag::normalize_dim(0, 0, "op"), 0);
  EXPECT_EQ(ag::normalize_dim(-1, 0, "op"), 0);
  EXPECT_THROW(ag::normalize_dim(1, 0, "op"), ag::Error);
}

TEST(ShapeTest, BroadcastAlignsFromTheRight) {
  EXPECT_EQ(ag::broadcast_shapes({3, 1, 5}, {4, 1}, "op"), Shape({3, 4, 5}));
  EXPECT_EQ(ag::broadcast_shapes({}, {2, 3}, "op"), Shape({2, 3}));
  EXPECT_EQ(ag::broadcast_shapes({1}, {0}, "op"), Shape({0}));
  EXPECT_EQ(ag::broadcast_shapes({2, 1}, {2, 1}, "op"), Shape({2, 1}));
}

TEST(ShapeTest, ShapesThatDoNotBroadcastNameTheDimAndSizes) {
  try {
    (void)ag::broadcast_shapes({2, 3}, {4, 3}, "add");
    FAIL();
  } catch (const ag::Error& e) {
    EXPECT_STREQ(e.what(), "add: shapes (2, 3) and (4, 3) do not broadcast (dim 0 is 2 vs 4)");
  }
}

TEST(ShapeTest, BroadcastStridesAreZeroWhereASizeOneDimGrows) {
  EXPECT_EQ(ag::broadcast_strides({3, 1}, {1, 1}, {2, 3, 4}), Strides({0, 1, 0}));
  EXPECT_EQ(ag::broadcast_strides({2, 3}, {3, 1}, {2, 3}), Strides({3, 1}));
}

}  // namespace
