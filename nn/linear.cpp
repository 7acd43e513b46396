// linear.cpp: nn::Linear. The math is F::linear; this file only owns the parameters.
#include "nn/linear.h"

#include <cmath>
#include <sstream>

#include "nn/functional.h"
#include "nn/init.h"

namespace ag::nn {

namespace F = functional;

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_features(in_features), out_features(out_features) {
  if (in_features <= 0 || out_features <= 0)
    throw Error("Linear", "in_features and out_features must be positive, got in_features=",
                in_features, ", out_features=", out_features);
  weight = register_parameter("weight", empty({out_features, in_features}));  // (out, in)
  if (bias) this->bias = register_parameter("bias", empty({out_features}));    // (out)
  reset_parameters();
}

Linear::Linear(Tensor weight) {
  if (!weight.defined() || weight.dim() != 2)
    throw Error("Linear", "a shared weight must be a 2-d (out_features, in_features) tensor, got ",
                weight.defined() ? weight.shape().str() : std::string("undefined"));
  out_features = weight.size(0);
  in_features = weight.size(1);
  this->weight = register_parameter("weight", std::move(weight));
}

void Linear::reset_parameters() {
  // kaiming_uniform(a = sqrt(5)) on (out, in) gives U(-1/sqrt(in), 1/sqrt(in)): PyTorch's choice,
  // kept for its numbers' sake (models tuned in PyTorch expect this scale).
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) {
  if (!x.defined() || x.dim() == 0 || x.size(-1) != in_features)
    throw Error("Linear", "expected an input of shape (..., ", in_features, "), got ",
                x.defined() ? x.shape().str() : std::string("undefined"));
  // x: (..., in)   weight: (out, in)   returns: (..., out)
  return F::linear(x, weight, bias.defined() ? std::optional<Tensor>(bias) : std::nullopt);
}

std::string Linear::name() const {
  std::ostringstream os;
  os << "Linear(in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "true" : "false") << ")";
  return os.str();
}

}  // namespace ag::nn
