// gradcheck.h: proof that a backward is right. gradcheck compares the analytic Jacobian that
// autograd computes with a numerical one from central differences,
//     dy/dx_e  ~=  (f(x + eps e) - f(x - eps e)) / (2 eps),
// element by element, in float64 (float32 rounding would swamp the O(eps^2) difference error).
// A pair passes when |analytic - numeric| <= atol + rtol * |numeric|, PyTorch's rule and defaults.
//
// Small outputs get the full Jacobian (one backward per output element). Larger ones are
// checked through random projections: u^T J from one backward against u^T (numeric column),
// which still checks every input element. The global generator is restored before every call
// of fn, so a function that uses dropout sees the same mask each time.
//
// gradgradcheck applies gradcheck to the function (inputs, v) -> v^T J(inputs): it proves the
// backward's own backward, i.e. second derivatives.
#pragma once

#include <functional>
#include <string>
#include <type_traits>

#include "tensor/tensor.h"

namespace ag::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int64_t max_full_jacobian_outputs = 256;  // above this many output elements, project
  int num_projections = 2;
  bool check_backward_twice = true;  // two backward passes give the same bits
  bool check_no_grad_inputs = true;  // inputs that do not require grad receive none
};

struct GradcheckResult {
  bool ok = true;
  std::string message;          // on failure: input, element, analytic and numeric values
  double max_abs_error = 0.0;   // largest |analytic - numeric| seen
  double max_rel_error = 0.0;   // largest |analytic - numeric| / max(|numeric|, 1e-12)
  int64_t checked = 0;          // pairs compared
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<TensorList(const TensorList&)>;

GradcheckResult gradcheck_list(const GradcheckFn& fn, const TensorList& inputs,
                               const GradcheckOptions& options = {});
GradcheckResult gradgradcheck_list(const GradcheckFn& fn, const TensorList& inputs,
                                   const GradcheckOptions& options = {});

namespace detail {
template <typename F>
GradcheckFn as_list_fn(F&& fn) {
  return [f = std::forward<F>(fn)](const TensorList& xs) -> TensorList {
    if constexpr (std::is_convertible_v<decltype(f(xs)), Tensor>) return {f(xs)};
    else return f(xs);
  };
}
}  // namespace detail

// fn: (const TensorList&) -> Tensor or TensorList. Inputs that require grad must be float64.
//   auto r = gradcheck([](const TensorList& x) { return x[0] * x[1]; }, {a, b});
//   EXPECT_TRUE(r.ok) << r.message;
template <typename F>
GradcheckResult gradcheck(F&& fn, const TensorList& inputs, const GradcheckOptions& options = {}) {
  return gradcheck_list(detail::as_list_fn(std::forward<F>(fn)), inputs, options);
}

template <typename F>
GradcheckResult gradgradcheck(F&& fn, const TensorList& inputs,
                              const GradcheckOptions& options = {}) {
  return gradgradcheck_list(detail::as_list_fn(std::forward<F>(fn)), inputs, options);
}

}  // namespace ag::autograd
