// training_checkpoint.h: one safetensors file from which a training run resumes exactly: stop
// at step 50, save, load into a fresh model and optimizer, run to step 100, and the weights
// equal those of an uninterrupted 100-step run bit for bit, dropout included.
//
// What "exactly" needs, and where each piece goes in the file:
//   model tensors          "model.<name>"   (the state dict: nanoGPT's names for a GPT)
//   optimizer state        "optim.<name>"   (Optimizer::state_dict: moments, steps, hyperparameters)
//   training step          metadata "step"
//   lr schedule position   metadata "schedule.last_step", "schedule.base_lrs"
//   global generator       metadata "generator.seed", "generator.offset": Philox's whole state,
//                          so dropout masks and data sampling continue the same stream
//   the caller's extras    metadata "extra.<key>"
//
// It lives in optim/ because it needs both layers: nn/ for the module and the file format,
// optim/ for the optimizer and schedule (nn/ knows nothing of optimizers).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/checkpoint.h"
#include "nn/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace ag::optim {

struct TrainingCheckpointInfo {
  int64_t step = 0;                          // as given to save_training_checkpoint
  std::map<std::string, std::string> extra;  // as given, without the "extra." prefix
};

// Saves model, optimizer, step, schedule (when given) and the global generator's state to
// path, atomically (see nn/checkpoint.h).
void save_training_checkpoint(const std::string& path, const nn::Module& model,
                              const Optimizer& optimizer, int64_t step,
                              const std::map<std::string, std::string>& extra = {},
                              const LRScheduler* scheduler = nullptr);

// Restores all of it into model, optimizer, scheduler (when given; the file must then hold a
// schedule) and the global generator. Everything is checked before anything changes: a file
// that does not fit the model or optimizer is an Error and leaves them as they were.
TrainingCheckpointInfo load_training_checkpoint(const std::string& path, nn::Module& model,
                                                Optimizer& optimizer,
                                                LRScheduler* scheduler = nullptr);

}  // namespace ag::optim
