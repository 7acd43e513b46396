// autograd.h: everything the autograd layer offers, in one include: Tensor and its creation
// functions (tensor/), the differentiable ops (ops.h), grad mode and anomaly mode
// (grad_mode.h), the engine (engine.h: backward, autograd::grad) and gradcheck.
#pragma once

#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"
