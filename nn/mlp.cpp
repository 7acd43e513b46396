// mlp.cpp: nanoGPT's MLP. Legend: C channels; "..." any leading dims (B, T).
#include "nn/mlp.h"

#include <sstream>

#include "nn/functional.h"

namespace ag::nn {

namespace F = functional;

MLP::MLP(int64_t n_embd, double dropout, bool bias, std::string approximate)
    : approximate(std::move(approximate)) {
  if (this->approximate != "none" && this->approximate != "tanh")
    throw Error("MLP", "approximate must be \"none\" or \"tanh\", got \"", this->approximate, "\"");
  c_fc = register_module("c_fc", std::make_shared<Linear>(n_embd, 4 * n_embd, bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(4 * n_embd, n_embd, bias));
  this->dropout = register_module("dropout", std::make_shared<Dropout>(dropout));
}

Tensor MLP::forward(const Tensor& x) {
  // (..., 4C): c_fc then GELU; with a bias, the bias is added inside the fused GELU
  const Tensor h = c_fc->bias.defined()
                       ? F::bias_gelu(F::linear(x, c_fc->weight), c_fc->bias, approximate)
                       : F::gelu(c_fc->forward(x), approximate);
  return dropout->forward(c_proj->forward(h));  // (..., C)
}

std::string MLP::name() const {
  std::ostringstream os;
  os << "MLP(n_embd=" << c_fc->in_features << ", hidden=" << c_fc->out_features
     << ", gelu=" << approximate << ")";
  return os.str();
}

}  // namespace ag::nn
