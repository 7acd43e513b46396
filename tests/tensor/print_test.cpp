// print_test.cpp: tensors print as PyTorch prints them, so output can be compared by eye with
// a Python session: four decimals, right-aligned columns, rows indented under "tensor([",
// blank lines between matrices, and the dtype named when it is not the default.
// (One deliberate difference: attograd writes the dtype as "float64", not "torch.float64".)
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(PrintTest, MatrixLooksLikePyTorch) {
  EXPECT_EQ(from_vector<float>({1.5f, 2, 3, 4}, {2, 2}).str(),
            "tensor([[1.5000, 2.0000],\n"
            "        [3.0000, 4.0000]])");
}

TEST(PrintTest, ColumnsAreRightAlignedAcrossSigns) {
  EXPECT_EQ(from_vector<float>({0.1f, -2, 3, 4}, {2, 2}).str(),
            "tensor([[ 0.1000, -2.0000],\n"
            "        [ 3.0000,  4.0000]])");
}

TEST(PrintTest, ThreeDimsSeparateMatricesWithABlankLine) {
  EXPECT_EQ(arange(8).view({2, 2, 2}).str(),
            "tensor([[[0, 1],\n"
            "         [2, 3]],\n"
            "\n"
            "        [[4, 5],\n"
            "         [6, 7]]])");
}

TEST(PrintTest, NonDefaultDtypesAreNamed) {
  EXPECT_EQ(from_vector<double>({1, 2.25}, {2}).str(), "tensor([1.0000, 2.2500], dtype=float64)");
  EXPECT_EQ(from_vector<int64_t>({3, -10}, {2}).str(), "tensor([  3, -10])");
  // Every digit of an int64 past 2^53, where a double would round it.
  EXPECT_EQ(from_vector<int64_t>({9007199254740993}, {1}).str(), "tensor([9007199254740993])");
  EXPECT_EQ(from_vector<bool>({true, false}, {2}).str(), "tensor([ True, False])");
}

TEST(PrintTest, ScalarsAndEmptyTensors) {
  EXPECT_EQ(scalar_tensor(3.5).str(), "tensor(3.5000)");
  EXPECT_EQ(zeros({0}).str(), "tensor([])");
  EXPECT_EQ(zeros({0, 3}).str(), "tensor([], size=(0, 3))");
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST(PrintTest, NonContiguousTensorsPrintTheirLogicalOrder) {
  EXPECT_EQ(from_vector<float>({1, 2, 3, 4}, {2, 2}).t().str(),
            "tensor([[1.0000, 3.0000],\n"
            "        [2.0000, 4.0000]])");
}

TEST(PrintTest, ScientificNotationForVeryLargeOrSmallValues) {
  EXPECT_EQ(from_vector<float>({1e-5f, 1.f}, {2}).str(), "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(from_vector<float>({1e9f}, {1}).str(), "tensor([1.0000e+09])");
}

TEST(PrintTest, ScientificNotationWhenMagnitudesSpanMoreThanAThousand) {
  EXPECT_EQ(from_vector<float>({0.001f, 2.f}, {2}).str(), "tensor([1.0000e-03, 2.0000e+00])");
  EXPECT_EQ(from_vector<float>({0.01f, 2.f}, {2}).str(), "tensor([0.0100, 2.0000])");
}

TEST(PrintTest, NonFiniteValuesArePaddedToTheColumnWidth) {
  EXPECT_EQ(from_vector<float>({1.5f, -INFINITY, NAN}, {3}).str(), "tensor([1.5000,   -inf,    nan])");
}

TEST(PrintTest, LongRowsWrapAtEightyCharacters) {
  EXPECT_EQ(arange(30).str(),
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])");
}

TEST(PrintTest, GradientBookkeepingIsShown) {
  Tensor x = from_vector<float>({1, 2}, {2}).requires_grad_();
  EXPECT_EQ(x.str(), "tensor([1.0000, 2.0000], requires_grad=True)");
  EXPECT_EQ((x * x).str(), "tensor([1.0000, 4.0000], grad_fn=<MulBackward>)");
}

TEST(PrintTest, LongTensorsAreSummarised) {
  EXPECT_EQ(arange(2000).str(), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  EXPECT_EQ(arange(10000).view({100, 100}).str(),
            "tensor([[   0,    1,    2,  ...,   97,   98,   99],\n"
            "        [ 100,  101,  102,  ...,  197,  198,  199],\n"
            "        [ 200,  201,  202,  ...,  297,  298,  299],\n"
            "        ...,\n"
            "        [9700, 9701, 9702,  ..., 9797, 9798, 9799],\n"
            "        [9800, 9801, 9802,  ..., 9897, 9898, 9899],\n"
            "        [9900, 9901, 9902,  ..., 9997, 9998, 9999]])");
}

TEST(PrintTest, SummarisedWidthsComeFromTheShownValuesOnly) {
  // The hidden middle holds 1000; only the shown 0s and 1s set the width.
  Tensor x = zeros({2000}, kInt64);
  x.narrow(0, 1000, 1).fill_(1000);
  x.narrow(0, 1999, 1).fill_(1);
  EXPECT_EQ(x.str(), "tensor([0, 0, 0,  ..., 0, 0, 1])");
}

TEST(PrintTest, StreamOperatorPrintsTheSame) {
  const Tensor x = from_vector<float>({1, 2}, {2});
  std::ostringstream os;
  os << x;
  EXPECT_EQ(os.str(), x.str());
}

}  // namespace
