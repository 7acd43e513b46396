// softmax.cpp: F::softmax and F::log_softmax, the nn spellings of ag::softmax and ag::log_softmax.
// The math and the backward live in autograd/ops/softmax.cpp (and the kernel in
// tensor/softmax.cpp): every row is shifted by its maximum before exp(), so logits of 1e4 stay
// finite and a row of all -inf (every key masked) gives zeros, not NaN. Here we only check the
// input once, so a caller's mistake names F::softmax rather than a kernel.
#include "nn/functional.h"

namespace ag::nn::functional {

namespace {
void check_input(const Tensor& x, int64_t dim, std::string_view op) {
  if (!x.defined()) throw Error(op, "the input is undefined");
  if (!x.is_floating_point())
    throw Error(op, "expected a floating input (float32 or float64), got ", x.dtype(),
                " of shape ", x.shape());
  normalize_dim(dim, x.dim(), op);  // throws, naming op, when dim is out of range
}
}  // namespace

// y_i = exp(x_i - max) / sum_j exp(x_j - max) along dim.   x: any shape   returns: same shape
Tensor softmax(const Tensor& x, int64_t dim) {
  check_input(x, dim, "softmax");
  return ag::softmax(x, dim);
}

// y_i = x_i - max - log sum_j exp(x_j - max) along dim.   x: any shape   returns: same shape
Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_input(x, dim, "log_softmax");
  return ag::log_softmax(x, dim);
}

}  // namespace ag::nn::functional
