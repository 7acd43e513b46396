// schedule_test.cpp: the lr schedules against values worked out by hand (nanoGPT's get_lr),
// per-group base lrs, and that jumping to a step equals stepping there (what a resume does).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "optim/optim.h"

using namespace ag;
namespace optim = ag::optim;

TEST(ScheduleTest, WarmupCosineIsNanoGPTsGetLr) {
  // warmup 10, decay to step 100, lr 1 -> min_lr 0.1
  auto lr = [](int64_t it) { return optim::warmup_cosine_lr(it, 1.0, 10, 100, 0.1); };
  EXPECT_DOUBLE_EQ(lr(0), 1.0 / 11.0);   // (it + 1) / (warmup + 1): never 0
  EXPECT_DOUBLE_EQ(lr(9), 10.0 / 11.0);
  EXPECT_DOUBLE_EQ(lr(10), 1.0);         // top of the cosine
  EXPECT_DOUBLE_EQ(lr(55), 0.1 + 0.5 * (1.0 - 0.1));  // halfway: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(lr(32), 0.1 + 0.5 * (1 + std::cos(std::numbers::pi * 22.0 / 90.0)) * 0.9);
  EXPECT_DOUBLE_EQ(lr(100), 0.1);
  EXPECT_DOUBLE_EQ(lr(5000), 0.1);
}

TEST(ScheduleTest, WarmupCosineLRSetsEveryGroupFromItsOwnBase) {
  Tensor a = ones({1}).requires_grad_(), b = ones({1}).requires_grad_();
  optim::AdamW opt({optim::ParamGroup{.params = {a}}, optim::ParamGroup{.params = {b}, .lr = 2.0}},
                   optim::AdamWOptions(1.0));
  optim::WarmupCosineLR schedule(opt, 10, 100, 0.1);
  EXPECT_EQ(schedule.last_step(), 0);
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{1.0 / 11.0, 2.0 / 11.0}));
  for (int i = 0; i < 10; ++i) schedule.step();
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(schedule.base_lrs(), (std::vector<double>{1.0, 2.0}));
}

TEST(ScheduleTest, StepLRDecaysByGammaEveryStepSize) {
  Tensor a = ones({1}).requires_grad_();
  optim::SGD opt({a}, optim::SGDOptions(1.0));
  optim::StepLR schedule(opt, /*step_size=*/3, /*gamma=*/0.5);
  std::vector<double> lrs;
  for (int i = 0; i < 7; ++i) {
    lrs.push_back(opt.param_groups()[0].options().get_lr());
    schedule.step();
  }
  EXPECT_EQ(lrs, (std::vector<double>{1, 1, 1, 0.5, 0.5, 0.5, 0.25}));
}

TEST(ScheduleTest, ConstantLRIsConstantOrAFactorForAWhile) {
  Tensor a = ones({1}).requires_grad_();
  optim::SGD opt({a}, optim::SGDOptions(0.3));
  {
    optim::ConstantLR schedule(opt);
    for (int i = 0; i < 3; ++i) schedule.step();
    EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{0.3}));
  }
  optim::ConstantLR schedule(opt, /*factor=*/0.5, /*total_iters=*/2);
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{0.15}));
  schedule.step();
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{0.15}));
  schedule.step();
  EXPECT_EQ(schedule.get_last_lr(), (std::vector<double>{0.3}));
}

TEST(ScheduleTest, JumpingToAStepEqualsSteppingThere) {
  Tensor a = ones({1}).requires_grad_();
  optim::AdamW first({a}, optim::AdamWOptions(6e-4));
  optim::WarmupCosineLR walked(first, 20, 200, 6e-5);
  for (int i = 0; i < 57; ++i) walked.step();

  Tensor b = ones({1}).requires_grad_();
  optim::AdamW second({b}, optim::AdamWOptions(6e-4));
  optim::WarmupCosineLR jumped(second, 20, 200, 6e-5);
  jumped.set_last_step(57);
  EXPECT_EQ(walked.get_last_lr(), jumped.get_last_lr());  // bit for bit
  EXPECT_EQ(jumped.last_step(), 57);
}

TEST(ScheduleTest, BadArgumentsThrowBeforeAnyLrChanges) {
  Tensor a = ones({1}).requires_grad_();
  optim::SGD opt({a}, optim::SGDOptions(0.3));
  EXPECT_THROW(optim::StepLR(opt, 0), Error);
  EXPECT_THROW(optim::ConstantLR(opt, -1.0, 2), Error);
  EXPECT_THROW(optim::WarmupCosineLR(opt, 10, 5, 0.0), Error);
  EXPECT_THROW(optim::WarmupCosineLR(opt, 0, 5, -1.0), Error);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.3);
}
