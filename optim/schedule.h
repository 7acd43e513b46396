// schedule.h: learning-rate schedules that work with any optimizer. A schedule is a function
// of the step number alone (lr = f(step, base_lr)), never of its own past outputs, so its whole
// state is one integer (plus the base lrs) and jumping to step 50 after a resume gives the lr
// an uninterrupted run had at step 50, exactly.
//
// Use, as in PyTorch: the constructor sets every group's lr for step 0; call step() after each
// optimizer.step() to move to the next:
//
//   ag::optim::WarmupCosineLR schedule(opt, /*warmup_iters=*/100, /*lr_decay_iters=*/5000,
//                                      /*min_lr=*/6e-5);
//   for (int64_t it = 0; it < max_iters; ++it) { ...; opt.step(); schedule.step(); }
//
// Where attograd differs from PyTorch: StepLR uses the closed form base_lr * gamma^(step /
// step_size) instead of multiplying the previous lr by gamma (same values up to rounding, and
// resumable without replaying); ConstantLR's defaults (factor 1, total_iters 0) keep the lr
// constant, while PyTorch's defaults (1/3 for 5 steps) are a short warm-up.
#pragma once

#include <functional>
#include <vector>

#include "optim/optimizer.h"

namespace ag::optim {

class LRScheduler {
 public:
  // schedule(step, base_lr) -> lr, called for each group with the lr it had at construction.
  // The scheduler keeps a reference to optimizer, which must outlive it.
  LRScheduler(Optimizer& optimizer, std::function<double(int64_t step, double base_lr)> schedule);
  virtual ~LRScheduler() = default;

  // Moves to the next step and sets every group's lr for it.
  void step();
  // Where the schedule is: 0 after construction, +1 per step(). Part of a checkpoint.
  int64_t last_step() const { return last_step_; }
  // Jumps to a step (resuming) and sets the lrs for it.
  void set_last_step(int64_t step);
  // The lr each group started from; saved with a checkpoint, since after a resume the groups'
  // current lrs are the schedule's output, not its input.
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  void set_base_lrs(const std::vector<double>& base_lrs);  // one per group; sets the lrs again
  // The lr of every group now.
  std::vector<double> get_last_lr() const;

 private:
  void apply();
  Optimizer& optimizer_;
  std::function<double(int64_t, double)> schedule_;
  std::vector<double> base_lrs_;
  int64_t last_step_ = 0;
};

// lr = base_lr * factor for step < total_iters, then base_lr. The defaults: a constant lr.
class ConstantLR : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0, int64_t total_iters = 0);
};

// lr = base_lr * gamma^floor(step / step_size): decays by gamma every step_size steps.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
};

// nanoGPT's get_lr: a linear warm-up over warmup_iters steps, from base_lr / (warmup_iters + 1)
// up to base_lr, then a cosine from base_lr down to min_lr at lr_decay_iters, then min_lr.
// min_lr is absolute (the same for every group), as in nanoGPT.
double warmup_cosine_lr(int64_t step, double base_lr, int64_t warmup_iters,
                        int64_t lr_decay_iters, double min_lr);

class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_iters, int64_t lr_decay_iters,
                 double min_lr);
};

}  // namespace ag::optim
