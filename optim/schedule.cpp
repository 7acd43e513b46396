// schedule.cpp: LRScheduler and the three schedules (see schedule.h for why each is a pure
// function of the step).
#include "optim/schedule.h"

#include <cmath>
#include <numbers>

namespace ag::optim {

LRScheduler::LRScheduler(Optimizer& optimizer,
                         std::function<double(int64_t, double)> schedule)
    : optimizer_(optimizer), schedule_(std::move(schedule)) {
  for (const auto& group : optimizer_.param_groups()) base_lrs_.push_back(group.options().get_lr());
  apply();
}

void LRScheduler::step() {
  ++last_step_;
  apply();
}

void LRScheduler::set_last_step(int64_t step) {
  if (step < 0) throw Error("LRScheduler", "invalid step: ", step, " (must be >= 0)");
  last_step_ = step;
  apply();
}

void LRScheduler::set_base_lrs(const std::vector<double>& base_lrs) {
  if (base_lrs.size() != optimizer_.param_groups().size())
    throw Error("LRScheduler", "got ", base_lrs.size(), " base lrs for ",
                optimizer_.param_groups().size(), " parameter groups");
  base_lrs_ = base_lrs;
  apply();
}

std::vector<double> LRScheduler::get_last_lr() const {
  std::vector<double> lrs;
  for (const auto& group : optimizer_.param_groups()) lrs.push_back(group.options().get_lr());
  return lrs;
}

void LRScheduler::apply() {
  auto& groups = optimizer_.param_groups();
  // A group added after the scheduler starts from its own current lr.
  for (size_t g = base_lrs_.size(); g < groups.size(); ++g)
    base_lrs_.push_back(groups[g].options().get_lr());
  for (size_t g = 0; g < groups.size(); ++g)
    groups[g].options().set_lr(schedule_(last_step_, base_lrs_[g]));
}

// ---- the schedules ------------------------------------------------------------------------------
// Each checks its arguments before the LRScheduler constructor applies it, so a bad argument
// throws before any group's lr has changed.

namespace {

std::function<double(int64_t, double)> constant_schedule(double factor, int64_t total_iters) {
  if (!(factor >= 0.0)) throw Error("ConstantLR", "invalid factor: ", factor, " (must be >= 0)");
  if (total_iters < 0)
    throw Error("ConstantLR", "invalid total_iters: ", total_iters, " (must be >= 0)");
  return [factor, total_iters](int64_t step, double base_lr) {
    return step < total_iters ? base_lr * factor : base_lr;
  };
}

std::function<double(int64_t, double)> step_schedule(int64_t step_size, double gamma) {
  if (step_size <= 0) throw Error("StepLR", "invalid step_size: ", step_size, " (must be > 0)");
  if (!(gamma >= 0.0)) throw Error("StepLR", "invalid gamma: ", gamma, " (must be >= 0)");
  return [step_size, gamma](int64_t step, double base_lr) {
    return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
  };
}

std::function<double(int64_t, double)> warmup_cosine_schedule(int64_t warmup_iters,
                                                              int64_t lr_decay_iters,
                                                              double min_lr) {
  if (warmup_iters < 0)
    throw Error("WarmupCosineLR", "invalid warmup_iters: ", warmup_iters, " (must be >= 0)");
  if (lr_decay_iters < warmup_iters)
    throw Error("WarmupCosineLR", "invalid lr_decay_iters: ", lr_decay_iters,
                " (must be >= warmup_iters = ", warmup_iters, ")");
  if (!(min_lr >= 0.0))
    throw Error("WarmupCosineLR", "invalid min_lr: ", min_lr, " (must be >= 0)");
  return [=](int64_t step, double base_lr) {
    return warmup_cosine_lr(step, base_lr, warmup_iters, lr_decay_iters, min_lr);
  };
}

}  // namespace

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, int64_t total_iters)
    : LRScheduler(optimizer, constant_schedule(factor, total_iters)) {}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, step_schedule(step_size, gamma)) {}

double warmup_cosine_lr(int64_t step, double base_lr, int64_t warmup_iters,
                        int64_t lr_decay_iters, double min_lr) {
  // 1) linear warm-up; (step + 1) / (warmup_iters + 1) so that step 0 does not get lr 0 (a
  //    wasted step), as in nanoGPT today.
  if (step < warmup_iters)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_iters + 1);
  // 2) after the decay, the floor.
  if (step > lr_decay_iters || lr_decay_iters == warmup_iters) return min_lr;
  // 3) in between, half a cosine from base_lr down to min_lr.
  const double decay_ratio = static_cast<double>(step - warmup_iters) /
                             static_cast<double>(lr_decay_iters - warmup_iters);  // in [0, 1]
  const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * decay_ratio));  // 1 -> 0
  return min_lr + coeff * (base_lr - min_lr);
}

WarmupCosineLR::WarmupCosineLR(Optimizer& optimizer, int64_t warmup_iters,
                               int64_t lr_decay_iters, double min_lr)
    : LRScheduler(optimizer, warmup_cosine_schedule(warmup_iters, lr_decay_iters, min_lr)) {}

}  // namespace ag::optim
