// clip_grad.h: gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
// Clipping by the total norm rescales all gradients together, so the update keeps its direction
// and only its length is capped: one bad batch cannot throw the weights far.
//
// Where attograd differs from PyTorch:
//   - The total norm is accumulated in double in a fixed order (parameters in order, elements
//     in fixed-size chunks added in chunk order), so it is the same bits with any thread count.
//   - A NaN or Inf total norm is reported (returned, and an Error with error_if_nonfinite) and
//     the gradients are left untouched; PyTorch multiplies them by the non-finite coefficient,
//     which spreads the NaN into every gradient and, after the step, every weight. The caller
//     decides what to do with the bad step (skip it, lower the loss scale, stop).
#pragma once

#include "autograd/autograd.h"

namespace ag::optim {

// Scales every defined gradient by max_norm / (total_norm + 1e-6) when total_norm > max_norm,
// where total_norm is the norm_type-norm of all gradients seen as one vector (norm_type > 0,
// or INFINITY for the largest |g|). Parameters without a gradient are skipped.
// Returns total_norm (before clipping). A non-finite total leaves the gradients as they are
// and is returned, or with error_if_nonfinite an Error naming the first parameter at fault.
double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element into [-clip_value, clip_value] (clip_value >= 0).
void clip_grad_value_(const TensorList& params, double clip_value);

}  // namespace ag::optim
