// clip_grad.cpp: clip_grad_norm_ and clip_grad_value_ (contracts in clip_grad.h).
// The norm is a reduction, the one place where thread count could change the bits: each
// fixed-size chunk (kChunk elements, independent of the thread count) keeps its own partial
// sum, and the partials are added in chunk order afterwards.
#include "optim/clip_grad.h"

#include <cmath>
#include <limits>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::optim {

namespace {

constexpr int64_t kChunk = 1 << 15;  // elements per parallel_for chunk

// sum |g|^p over g's elements (or max |g| for p = inf), in double, in a fixed order.
double grad_power_sum(const Tensor& grad, double norm_type) {
  const Tensor g = kernels::contiguous(grad);
  const int64_t n = g.numel();
  const bool inf_norm = std::isinf(norm_type);
  std::vector<double> partials(static_cast<size_t>((n + kChunk - 1) / kChunk), 0.0);
  dispatch_floating(g.dtype(), "clip_grad_norm_", [&](auto zero) {
    using T = decltype(zero);
    const T* data = g.data_ptr<T>();
    parallel_for(0, n, kChunk, [&](int64_t begin, int64_t end) {
      double acc = 0.0;
      for (int64_t i = begin; i < end; ++i) {
        const double a = std::fabs(static_cast<double>(data[i]));
        if (inf_norm) acc = (std::isnan(a) || std::isnan(acc)) ? a + acc : std::max(acc, a);
        else if (norm_type == 2.0) acc += a * a;  // the usual case, without pow()
        else if (norm_type == 1.0) acc += a;
        else acc += std::pow(a, norm_type);
      }
      partials[static_cast<size_t>(begin / kChunk)] = acc;
    });
  });
  double total = 0.0;
  for (double partial : partials)
    total = inf_norm ? ((std::isnan(partial) || std::isnan(total)) ? partial + total
                                                                   : std::max(total, partial))
                     : total + partial;
  return total;
}

// Applies f(element) to every element of param's gradient, in place. A gradient that is a
// broadcast view (the backward of sum() is an expanded 1) shares one element among many, so
// it is made dense first and set back as the gradient.
template <typename F>
void transform_grad(const Tensor& param, std::string_view op, F&& f) {
  const Tensor grad = param.grad();
  const Tensor g = kernels::contiguous(grad);
  dispatch_floating(g.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    T* data = g.data_ptr<T>();
    parallel_for(0, g.numel(), kChunk, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[i] = f(data[i]);
    });
  });
  if (g.is_same(grad)) g.storage()->bump_version();
  else param.set_grad(g);
}

}  // namespace

double clip_grad_norm_(const TensorList& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  if (!(max_norm >= 0.0))
    throw Error("clip_grad_norm_", "invalid max_norm: ", max_norm, " (must be >= 0)");
  if (!(norm_type > 0.0))
    throw Error("clip_grad_norm_", "invalid norm_type: ", norm_type, " (must be > 0, or INFINITY)");
  const bool inf_norm = std::isinf(norm_type);
  double total = 0.0;
  int64_t first_bad = -1;  // the first parameter whose gradient is not finite, for the message
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].defined() || !params[i].grad().defined()) continue;
    const double part = grad_power_sum(params[i].grad(), norm_type);
    if (!std::isfinite(part) && first_bad < 0) first_bad = static_cast<int64_t>(i);
    total = inf_norm ? ((std::isnan(part) || std::isnan(total)) ? part + total
                                                                : std::max(total, part))
                     : total + part;
  }
  const double total_norm = inf_norm            ? total
                            : norm_type == 2.0  ? std::sqrt(total)
                            : norm_type == 1.0  ? total
                                                : std::pow(total, 1.0 / norm_type);
  if (!std::isfinite(total_norm)) {
    if (error_if_nonfinite)
      throw Error("clip_grad_norm_", "the total norm of order ", norm_type, " of the gradients is ",
                  total_norm, first_bad >= 0 ? " (the gradient of parameter " : "",
                  first_bad >= 0 ? std::to_string(first_bad) : std::string(),
                  first_bad >= 0 ? " holds a NaN or Inf)" : "",
                  "; the gradients were left as they are");
    return total_norm;  // never scale by a NaN: it would spread into every gradient
  }
  // The 1e-6 keeps the coefficient finite for an all-zero gradient (PyTorch's constant).
  const double clip_coef = max_norm / (total_norm + 1e-6);
  if (clip_coef >= 1.0) return total_norm;  // already short enough: leave the bits alone
  for (const Tensor& param : params) {
    if (!param.defined() || !param.grad().defined()) continue;
    dispatch_floating(param.grad().dtype(), "clip_grad_norm_", [&](auto zero) {
      using T = decltype(zero);
      const auto coef = static_cast<T>(clip_coef);
      transform_grad(param, "clip_grad_norm_", [coef](T g) { return g * coef; });
    });
  }
  return total_norm;
}

void clip_grad_value_(const TensorList& params, double clip_value) {
  if (!(clip_value >= 0.0))
    throw Error("clip_grad_value_", "invalid clip_value: ", clip_value, " (must be >= 0)");
  for (const Tensor& param : params) {
    if (!param.defined() || !param.grad().defined()) continue;
    dispatch_floating(param.grad().dtype(), "clip_grad_value_", [&](auto zero) {
      using T = decltype(zero);
      const auto hi = static_cast<T>(clip_value);
      // Written with comparisons rather than std::clamp so that a NaN stays NaN (torch.clamp).
      transform_grad(param, "clip_grad_value_",
                     [hi](T g) { return g > hi ? hi : (g < -hi ? -hi : g); });
    });
  }
}

}  // namespace ag::optim
