// init.h: filling parameters with their starting values, as torch.nn.init does.
// Every function writes into the given tensor in place (the handle a module registered, so the
// module sees the new values), under a NoGradGuard: initialisation is not part of any graph.
// Random fills draw from the global generator, so ag::manual_seed makes a model's init
// reproducible, bit for bit, on any machine.
#pragma once

#include <utility>

#include "autograd/autograd.h"

namespace ag::nn::init {

// ---- constants -------------------------------------------------------------------------------
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);
Tensor constant_(Tensor tensor, double value);

// ---- random ----------------------------------------------------------------------------------
// U(low, high), each element independent.
Tensor uniform_(Tensor tensor, double low = 0.0, double high = 1.0);
// N(mean, std^2), each element independent.
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0);

// ---- fan-based schemes ------------------------------------------------------------------------
// (fan_in, fan_out) of a weight: a (out, in) matrix has fan_in = in and fan_out = out; further
// dims (a conv's kernel) multiply both. A 1-d tensor has no fans: Error.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);
// Glorot and Bengio (2010): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)), which keeps
// the variance of activations and of gradients equal through the layer.
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
// He et al. (2015), leaky-relu gain with slope a, fan_in mode: U(-b, b) with
// b = sqrt(6 / ((1 + a^2) fan_in)). With a = sqrt(5) (PyTorch's Linear default) this is
// b = 1/sqrt(fan_in).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0);

}  // namespace ag::nn::init
