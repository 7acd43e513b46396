// functional_test_helpers.h: small comparisons shared by the nn::functional suites: largest
// differences (absolute and relative to the reference's largest value), bitwise equality,
// finiteness, and "this call throws an ag::Error whose message says ...".
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/functional.h"

namespace ag::testing {

inline double max_abs(const Tensor& t) {
  double m = 0.0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    const double d = std::fabs(x[i] - y[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// max |a - b| / max |reference|: a norm-wise relative difference, which (unlike an elementwise
// one) does not blow up on elements that happen to be near zero.
inline double rel_diff(const Tensor& a, const Tensor& reference) {
  const double scale = max_abs(reference);
  const double diff = max_abs_diff(a, reference);
  return scale > 0 ? diff / scale : diff;
}

// Same shape and the same value bits (to_vector<double> converts float32 exactly).
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<double>() == b.to_vector<double>();
}

inline bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

// Runs fn, which must throw ag::Error with every one of `parts` in its message.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos)
          << "the message\n  " << message << "\ndoes not contain\n  " << part;
    return;
  }
  ADD_FAILURE() << "expected an ag::Error containing \"" << (parts.empty() ? "" : parts[0])
                << "\", but nothing was thrown";
}

}  // namespace ag::testing

namespace ag::testing {

// One attention call and its backward for the loss sum(out * g): the output and the gradients
// of q, k, v (and of the attn_mask when it is a float tensor that requires grad).
struct AttentionRun {
  Tensor out, dq, dk, dv, dmask;
};

inline AttentionRun run_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                  nn::functional::AttentionOptions options, const Tensor& g) {
  // Fresh leaves each time, so gradients never accumulate across runs.
  Tensor q_leaf = q.detach().requires_grad_(), k_leaf = k.detach().requires_grad_();
  Tensor v_leaf = v.detach().requires_grad_();
  Tensor mask_leaf;
  if (options.attn_mask && options.attn_mask->requires_grad()) {
    mask_leaf = options.attn_mask->detach().requires_grad_();
    options.attn_mask = mask_leaf;
  }
  const Tensor out = nn::functional::scaled_dot_product_attention(q_leaf, k_leaf, v_leaf, options);
  (out * g).sum().backward();
  return {out.detach(), q_leaf.grad(), k_leaf.grad(), v_leaf.grad(),
          mask_leaf.defined() ? mask_leaf.grad() : Tensor()};
}

}  // namespace ag::testing
