// optim.h: everything the optim layer offers, in one include: the Optimizer base with
// parameter groups and state dicts (optimizer.h), SGD, Adam, AdamW, gradient clipping,
// learning-rate schedules, and training checkpoints that resume a run exactly.
//
//   #include "optim/optim.h"
//   ag::optim::AdamW opt(ag::optim::decay_groups(model.named_parameters(), 0.1),
//                        ag::optim::AdamWOptions(6e-4).betas({0.9, 0.95}));
//   ag::optim::WarmupCosineLR schedule(opt, 100, 5000, 6e-5);
//   loss.backward(); ag::optim::clip_grad_norm_(model.parameters(), 1.0);
//   opt.step(); opt.zero_grad(); schedule.step();
#pragma once

#include "optim/adam.h"
#include "optim/adamw.h"
#include "optim/clip_grad.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "optim/training_checkpoint.h"
