// dropout.cpp: nn::Dropout, which only remembers p and asks the module tree whether it trains.
#include "nn/dropout.h"

#include <sstream>

#include "nn/functional.h"

namespace ag::nn {

namespace F = functional;

Dropout::Dropout(double p) : p(p) {
  if (!(p >= 0.0 && p <= 1.0))  // written so that NaN fails too
    throw Error("Dropout", "the drop probability p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  // p = 0 or eval mode is the identity: skip the call, and the draw from the generator with it.
  if (p == 0.0 || !is_training()) return x;
  return F::dropout(x, p, /*training=*/true);
}

std::string Dropout::name() const {
  std::ostringstream os;
  os << "Dropout(p=" << p << ")";
  return os.str();
}

}  // namespace ag::nn
