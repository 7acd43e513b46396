// cross_entropy_test.cpp: F::cross_entropy (fused log_softmax + NLL) against the formula
// -log_softmax(x)[t] built from ops, for every reduction; ignore_index (no loss, no gradient,
// left out of the mean's count) and the all-ignored mean (0, not PyTorch's NaN); label
// smoothing against PyTorch's formula by hand; gradchecks and second derivatives; errors.
#include <gtest/gtest.h>

#include <cmath>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;
using F::CrossEntropyOptions;
using F::Reduction;

namespace {
// -log_softmax(x)[n, t_n] per row, from ops: the definition the fused kernel must meet.
// x: (N, V)   t: (N)   returns: (N)
Tensor reference_nll(const Tensor& x, const Tensor& t) {
  return -gather(log_softmax(x, -1), 1, t.unsqueeze(1)).squeeze(1);
}
}  // namespace

TEST(CrossEntropyTest, MatchesLogSoftmaxGatherForEveryReduction) {
  manual_seed(60);
  const Tensor x = (randn({6, 5}, kFloat64) * 2.0).detach();
  const Tensor t = from_vector<int64_t>({0, 4, 2, 2, 1, 3}, {6});
  const Tensor nll = reference_nll(x, t);
  EXPECT_LT(max_abs_diff(F::cross_entropy(x, t, CrossEntropyOptions().reduction_(Reduction::None)), nll), 1e-14);
  EXPECT_NEAR(F::cross_entropy(x, t, CrossEntropyOptions().reduction_(Reduction::Sum)).item(),
              nll.sum().item(), 1e-13);
  const Tensor mean = F::cross_entropy(x, t);
  EXPECT_EQ(mean.dim(), 0);
  EXPECT_NEAR(mean.item(), nll.mean().item(), 1e-14);
  // (B, T, V) logits with (B, T) targets: the same as flattening.
  const Tensor x3 = x.view({2, 3, 5}), t3 = t.view({2, 3});
  EXPECT_NEAR(F::cross_entropy(x3, t3).item(), mean.item(), 1e-15);
  EXPECT_EQ(F::cross_entropy(x3, t3, CrossEntropyOptions().reduction_(Reduction::None)).shape(), Shape({2, 3}));
}

TEST(CrossEntropyTest, GradientIsSoftmaxMinusOneHot) {
  manual_seed(61);
  Tensor x = randn({4, 3}, kFloat64).requires_grad_();
  const Tensor t = from_vector<int64_t>({2, 0, 1, 1}, {4});
  F::cross_entropy(x, t, CrossEntropyOptions().reduction_(Reduction::Sum)).backward();
  const auto p = softmax(x, -1).to_vector<double>(), dx = x.grad().to_vector<double>();
  const auto ts = t.to_vector<int64_t>();
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 3; ++c)
      EXPECT_NEAR(dx[r * 3 + c], p[r * 3 + c] - (c == ts[r] ? 1.0 : 0.0), 1e-15);
}

TEST(CrossEntropyTest, IgnoredTargetsAddNoLossNoGradientAndLeaveTheMeanCount) {
  manual_seed(62);
  Tensor x = randn({5, 4}, kFloat64).requires_grad_();
  const Tensor t = from_vector<int64_t>({1, -100, 3, -100, 0}, {5});
  const Tensor valid_t = from_vector<int64_t>({1, 3, 0}, {3});
  const Tensor valid_x = index_select(x, 0, from_vector<int64_t>({0, 2, 4}, {3}));
  const Tensor loss = F::cross_entropy(x, t);
  // Mean over the 3 counted rows, not 5.
  EXPECT_NEAR(loss.item(), reference_nll(valid_x, valid_t).mean().item(), 1e-14);
  const Tensor rows = F::cross_entropy(x, t, CrossEntropyOptions().reduction_(Reduction::None));
  EXPECT_EQ(rows.to_vector<double>()[1], 0.0);
  EXPECT_EQ(rows.to_vector<double>()[3], 0.0);
  loss.backward();
  EXPECT_EQ(max_abs(x.grad().select(0, 1)), 0.0);
  EXPECT_EQ(max_abs(x.grad().select(0, 3)), 0.0);
  EXPECT_GT(max_abs(x.grad().select(0, 0)), 0.0);
  // A custom ignore_index, here a valid class id: that class is skipped as a target.
  const Tensor t2 = from_vector<int64_t>({1, 2, 2, 0, 2}, {5});
  EXPECT_NEAR(F::cross_entropy(x, t2, CrossEntropyOptions().ignore_index_(2)).item(),
              reference_nll(index_select(x, 0, from_vector<int64_t>({0, 3}, {2})),
                            from_vector<int64_t>({1, 0}, {2})).mean().item(), 1e-14);
}

TEST(CrossEntropyTest, AllIgnoredMeanIsZeroWithZeroGradient) {
  // PyTorch returns 0/0 = NaN here; a batch of pure padding must not poison training.
  Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  const Tensor t = full({3}, -100, kInt64);
  const Tensor loss = F::cross_entropy(x, t);
  EXPECT_EQ(loss.item(), 0.0);
  loss.backward();
  EXPECT_TRUE(all_finite(x.grad()));
  EXPECT_EQ(max_abs(x.grad()), 0.0);
  EXPECT_EQ(F::cross_entropy(x, t, CrossEntropyOptions().label_smoothing_(0.2)).item(), 0.0);
}

TEST(CrossEntropyTest, LabelSmoothingMatchesPyTorchsFormulaByHand) {
  // PyTorch: loss = (1 - ls) * nll + ls * mean over classes of -log_softmax, per row; for Mean
  // both terms are divided by the number of non-ignored rows.
  manual_seed(63);
  const double ls = 0.15;
  const int64_t V = 5;
  const Tensor x = randn({4, V}, kFloat64);
  const Tensor t = from_vector<int64_t>({3, -100, 0, 4}, {4});
  const auto logp = log_softmax(x, -1).to_vector<double>();
  const auto ts = t.to_vector<int64_t>();
  std::vector<double> rows(4, 0.0);
  double total = 0.0;
  for (int64_t r = 0; r < 4; ++r) {
    if (ts[r] == -100) continue;
    double uniform = 0.0;
    for (int64_t c = 0; c < V; ++c) uniform += -logp[r * V + c] / V;
    rows[r] = (1 - ls) * -logp[r * V + ts[r]] + ls * uniform;
    total += rows[r];
  }
  const auto options = CrossEntropyOptions().label_smoothing_(ls);
  EXPECT_NEAR(F::cross_entropy(x, t, options).item(), total / 3, 1e-14);
  EXPECT_NEAR(F::cross_entropy(x, t, CrossEntropyOptions(options).reduction_(Reduction::Sum)).item(), total, 1e-14);
  const auto none = F::cross_entropy(x, t, CrossEntropyOptions(options).reduction_(Reduction::None)).to_vector<double>();
  for (int64_t r = 0; r < 4; ++r) EXPECT_NEAR(none[r], rows[r], 1e-14) << r;
  // ls = 1: the target is ignored entirely; the loss is the mean -log_softmax over classes.
  const Tensor all_uniform = F::cross_entropy(x, from_vector<int64_t>({0, 1, 2, 3}, {4}),
                                              CrossEntropyOptions().label_smoothing_(1.0));
  EXPECT_NEAR(all_uniform.item(), (-log_softmax(x, -1)).mean().item(), 1e-14);
}

TEST(CrossEntropyTest, GradcheckEveryReductionSmoothingAndIgnore) {
  manual_seed(64);
  const Tensor x = randn({4, 5}, kFloat64).requires_grad_();
  const Tensor t = from_vector<int64_t>({2, -100, 4, 0}, {4});
  for (Reduction reduction : {Reduction::Mean, Reduction::Sum, Reduction::None})
    for (double ls : {0.0, 0.2}) {
      const auto options = CrossEntropyOptions().reduction_(reduction).label_smoothing_(ls);
      auto r = autograd::gradcheck(
          [&](const TensorList& in) { return F::cross_entropy(in[0], t, options); }, {x});
      EXPECT_TRUE(r.ok) << "reduction " << static_cast<int>(reduction) << ", ls " << ls << ": " << r.message;
    }
  // (B, T, V) logits seen through a transpose (non-contiguous).
  const Tensor x3 = randn({3, 2, 4}, kFloat64).requires_grad_();
  const Tensor t3 = from_vector<int64_t>({0, 3, 1, 1, 2, 0}, {2, 3});
  auto r = autograd::gradcheck(
      [&](const TensorList& in) { return F::cross_entropy(in[0].transpose(0, 1), t3); }, {x3});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CrossEntropyTest, GradgradcheckThroughTheRecordedBackward) {
  manual_seed(65);
  const Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  const Tensor t = from_vector<int64_t>({1, 3, -100}, {3});
  for (Reduction reduction : {Reduction::Mean, Reduction::None}) {
    const auto options = CrossEntropyOptions().reduction_(reduction).label_smoothing_(0.1);
    auto r = autograd::gradgradcheck(
        [&](const TensorList& in) { return F::cross_entropy(in[0], t, options); }, {x});
    EXPECT_TRUE(r.ok) << r.message;
  }
}

TEST(CrossEntropyTest, SaturatedLogitsGradcheckInFloat64) {
  // One logit 40 above the rest: softmax ~ one-hot, the loss ~ 0 or ~ 40, still smooth.
  Tensor x = from_vector<double>({40, 0, 1, -3, 2, 45, 0, 0}, {2, 4}).requires_grad_();
  const Tensor t = from_vector<int64_t>({0, 2}, {2});
  auto r = autograd::gradcheck([&](const TensorList& in) { return F::cross_entropy(in[0], t); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CrossEntropyTest, RejectsOutOfRangeTargetsAndShapeOrDtypeMistakes) {
  const Tensor x = zeros({3, 5});
  expect_error([&] { F::cross_entropy(x, from_vector<int64_t>({0, 7, 1}, {3})); },
               {"cross_entropy", "target 7 is out of range for 5 classes", "0..4"});
  expect_error([&] { F::cross_entropy(x, from_vector<int64_t>({0, -1, 1}, {3})); },
               {"cross_entropy", "target -1 is out of range for 5 classes"});
  expect_error([&] { F::cross_entropy(x, zeros({3})); },
               {"cross_entropy", "targets must be int64", "float32"});
  expect_error([&] { F::cross_entropy(x, zeros({4}, kInt64)); },
               {"cross_entropy", "logits are (3, 5)", "targets should be (3)", "got (4)"});
  expect_error([&] { F::cross_entropy(zeros({3, 5}, kInt64), zeros({3}, kInt64)); },
               {"cross_entropy", "logits must be floating"});
  expect_error([&] { F::cross_entropy(x, zeros({3}, kInt64), CrossEntropyOptions().label_smoothing_(1.5)); },
               {"cross_entropy", "label_smoothing must be in [0, 1]", "1.5"});
}

TEST(CrossEntropyTest, Float32KernelMatchesFloat64AtAwkwardClassCounts) {
  // float32 rows use exp_f32 and a blocked sum (cross_entropy.cpp); float64 the libm chain.
  // Class counts below, at and past multiples of 8, ignored rows, label smoothing, every
  // reduction; losses and gradients agree to float precision, and 1 vs 2 threads bit for bit.
  manual_seed(77);
  for (int64_t V : {1, 2, 7, 8, 9, 17, 65, 257}) {
    for (double ls : {0.0, 0.1}) {
      const Tensor x = randn({131, V}) * scalar_tensor(4.0f);
      std::vector<int64_t> ids = randint(0, V, {131}).to_vector<int64_t>();
      for (size_t i = 3; i < ids.size(); i += 10) ids[i] = -100;  // every tenth row ignored
      const Tensor t = from_vector<int64_t>(ids, {131});
      for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
        const auto options = CrossEntropyOptions().label_smoothing_(ls).reduction_(red);
        auto run = [&](DType dt) {
          Tensor xl = x.to(dt).detach().requires_grad_();
          Tensor loss = F::cross_entropy(xl, t, options);
          loss.sum().backward();
          return TensorList{loss.detach(), xl.grad()};
        };
        const TensorList f32 = run(kFloat32), f64 = run(kFloat64);
        const double scale = red == Reduction::Sum ? 131.0 : 1.0;
        EXPECT_LT(max_abs_diff(f32[0].to(kFloat64), f64[0]), 3e-6 * scale) << V << " " << ls;
        EXPECT_LT(max_abs_diff(f32[1].to(kFloat64), f64[1]), 1e-6) << V << " " << ls;
        const int threads = get_num_threads();
        set_num_threads(2);
        const TensorList two = run(kFloat32);
        set_num_threads(threads);
        for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(bitwise_equal(f32[i], two[i])) << V << " " << i;
      }
    }
  }
}
