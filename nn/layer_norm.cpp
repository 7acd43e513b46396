// layer_norm.cpp: nn::LayerNorm. The fused forward and backward are F::layer_norm.
#include "nn/layer_norm.h"

#include <sstream>

#include "nn/functional.h"
#include "nn/init.h"

namespace ag::nn {

namespace F = functional;

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, bool bias)
    : normalized_shape(std::move(normalized_shape)), eps(eps) {
  if (this->normalized_shape.empty())
    throw Error("LayerNorm", "normalized_shape must name at least one dim, got ()");
  for (int64_t size : this->normalized_shape)
    if (size <= 0)
      throw Error("LayerNorm", "normalized_shape sizes must be positive, got ", this->normalized_shape);
  if (!(eps > 0.0)) throw Error("LayerNorm", "eps must be positive, got ", eps);
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(this->normalized_shape));
    if (bias) this->bias = register_parameter("bias", empty(this->normalized_shape));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) {
  // x: (..., *normalized_shape)   returns: same shape
  auto optional = [](const Tensor& t) { return t.defined() ? std::optional<Tensor>(t) : std::nullopt; };
  return F::layer_norm(x, normalized_shape, optional(weight), optional(bias), eps);
}

std::string LayerNorm::name() const {
  std::ostringstream os;
  os << "LayerNorm(" << normalized_shape << ", eps=" << eps
     << ", elementwise_affine=" << (weight.defined() ? "true" : "false");
  if (weight.defined() && !bias.defined()) os << ", bias=false";
  os << ")";
  return os.str();
}

}  // namespace ag::nn
