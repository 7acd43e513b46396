// init.cpp: parameter initialisers. Each draws a fresh tensor from the global generator (or
// makes a constant one) and copies it into place, so the order of draws, and therefore every
// number, depends only on the seed and on the order in which a model initialises its layers.
#include "nn/init.h"

#include <cmath>

namespace ag::nn::init {

namespace {

Tensor require_defined(const Tensor& tensor, std::string_view op) {
  if (!tensor.defined()) throw Error(op, "the tensor is undefined");
  return tensor;
}

Tensor require_floating(const Tensor& tensor, std::string_view op) {
  require_defined(tensor, op);
  if (!tensor.is_floating_point())
    throw Error(op, "expected a floating tensor (float32 or float64), got ", tensor.dtype());
  return tensor;
}

}  // namespace

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0.0); }

Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1.0); }

Tensor constant_(Tensor tensor, double value) {
  require_defined(tensor, "init.constant_");
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor uniform_(Tensor tensor, double low, double high) {
  require_floating(tensor, "init.uniform_");
  if (!(low <= high)) throw Error("init.uniform_", "low must not exceed high, got [", low, ", ", high, ")");
  NoGradGuard no_grad;
  // rand() is U(0, 1); an affine map moves it to U(low, high).
  tensor.copy_(rand(tensor.shape(), tensor.dtype()) * (high - low) + low);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std) {
  require_floating(tensor, "init.normal_");
  if (!(std >= 0.0)) throw Error("init.normal_", "std must be >= 0, got ", std);
  NoGradGuard no_grad;
  tensor.copy_(randn(tensor.shape(), tensor.dtype()) * std + mean);
  return tensor;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  require_defined(tensor, "init.calculate_fan_in_and_fan_out");
  if (tensor.dim() < 2)
    throw Error("init.calculate_fan_in_and_fan_out", "fans need a tensor of 2 or more dims, got shape ",
                tensor.shape());
  // weight: (out, in, *kernel)
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor xavier_uniform_(Tensor tensor, double gain) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor kaiming_uniform_(Tensor tensor, double a) {
  const auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  // gain for leaky relu with negative slope a, then a uniform with that standard deviation:
  // std = gain / sqrt(fan_in), and U(-b, b) has std b / sqrt(3).
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = std::sqrt(3.0) * gain / std::sqrt(static_cast<double>(fan_in));
  return uniform_(std::move(tensor), -bound, bound);
}

}  // namespace ag::nn::init
