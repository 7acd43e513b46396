// gradcheck_cases.cpp: the list itself. Each entry is one line of
//   r.add(op, variant, inputs, fn[, second_order, options])
// where inputs is a lambda drawing float64 leaves (seeded from "op/variant" by add) and fn
// turns them into the outputs gradcheck differentiates. Families that share their variants
// (one-input elementwise functions, two-input arithmetic) go through a helper that adds the
// standard set, so a new elementwise op is still one line.
//
// Two rules keep central differences honest (eps = 1e-6):
//   - inputs stay off kinks: at a kink the two one-sided slopes differ and the difference
//     quotient averages them, which no analytic subgradient matches;
//   - zero-size cases reduce their empty output with sum(): an empty output has no Jacobian
//     rows, so without the sum the backward would never run and nothing would be checked.
#include "autograd/gradcheck_cases.h"

#include <cstdint>
#include <utility>

#include "autograd/ops.h"
#include "tensor/random.h"

namespace ag::autograd {

namespace {

using Fn = std::function<TensorList(const TensorList&)>;
using Inputs = std::function<TensorList()>;
using UnaryFn = std::function<Tensor(const Tensor&)>;
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;

// ---- inputs ----------------------------------------------------------------------------------

// Where an input's values may lie.
enum class Domain {
  Any,       // standard normal
  Positive,  // [0.5, 1.5): log, sqrt, rsqrt, pow and division need x > 0; 0.5 keeps
             // x - eps far from the pole at 0
  NonZero,   // |x| in [0.5, 1.5), either sign: away from the kink of relu and abs at 0
};

// Values only, no requires_grad yet (views are taken before a leaf is made of them).
Tensor draw(Domain domain, const Shape& shape) {
  switch (domain) {
    case Domain::Any: return randn(shape, kFloat64);
    case Domain::Positive: return rand(shape, kFloat64) + 0.5;
    case Domain::NonZero: {
      const Tensor magnitude = rand(shape, kFloat64) + 0.5;
      const Tensor negative = lt(rand(shape, kFloat64), scalar_tensor(0.5, kFloat64));
      return where(negative, -magnitude, magnitude);
    }
  }
  return Tensor();
}

// A float64 leaf of `shape`.
Tensor leaf(const Shape& shape, Domain domain = Domain::Any) {
  return draw(domain, shape).requires_grad_();
}
Tensor positive(const Shape& shape) { return leaf(shape, Domain::Positive); }

// A leaf of `shape` that is a transposed view (strides (1, rows) for 2-d): its last two dims
// are stored swapped, so an op that ignored strides would read the wrong elements.
Tensor transposed(const Shape& shape, Domain domain = Domain::Any) {
  Shape stored = shape;
  std::swap(stored[stored.size() - 1], stored[stored.size() - 2]);
  return draw(domain, stored).transpose(-1, -2).requires_grad_();
}

// A leaf of `shape` that reads every other element of its storage along the last dim: no
// dim has stride 1, so kernels that need one (gemm) must copy first.
Tensor strided(const Shape& shape, Domain domain = Domain::Any) {
  Shape stored = shape;
  stored.back() *= 2;
  return draw(domain, stored).slice(-1, 0, stored.back(), 2).requires_grad_();
}

// An input that does not require grad: gradcheck also checks it receives no gradient.
Tensor constant(const Shape& shape, Domain domain = Domain::Any) { return draw(domain, shape); }

Tensor ids(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector<int64_t>(values, shape);
}
Tensor mask(const std::vector<bool>& values, const Shape& shape) {
  return from_vector<bool>(values, shape);
}

// ---- functions -------------------------------------------------------------------------------

Fn one(UnaryFn f) {
  return [f = std::move(f)](const TensorList& x) { return TensorList{f(x[0])}; };
}
Fn two(BinaryFn f) {
  return [f = std::move(f)](const TensorList& x) { return TensorList{f(x[0], x[1])}; };
}
// f's output summed: for zero-size cases, whose own output has no elements (see the top).
Fn one_summed(UnaryFn f) {
  return [f = std::move(f)](const TensorList& x) { return TensorList{f(x[0]).sum()}; };
}
Fn two_summed(BinaryFn f) {
  return [f = std::move(f)](const TensorList& x) { return TensorList{f(x[0], x[1]).sum()}; };
}

// 64-bit FNV-1a of the case's name: its inputs' seed, fixed by the name alone.
uint64_t seed_of(const std::string& op, const std::string& variant) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : op + "/" + variant) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

class Registry {
 public:
  void add(std::string op, std::string variant, Inputs inputs, Fn fn, bool second_order = true,
           GradcheckOptions options = {}) {
    const uint64_t seed = seed_of(op, variant);
    Inputs seeded = [seed, inputs = std::move(inputs)] {
      manual_seed(seed);
      return inputs();
    };
    cases_.push_back(GradcheckCase{std::move(op), std::move(variant), std::move(seeded),
                                   std::move(fn), options, second_order});
  }

  // The standard variants of a one-input elementwise function.
  void add_unary(const std::string& op, const UnaryFn& f, Domain domain = Domain::Any) {
    add(op, "plain", [=] { return TensorList{leaf({3, 4}, domain)}; }, one(f));
    // x (4) read as (3, 4): every element feeds three outputs, so its gradient sums three.
    add(op, "broadcast", [=] { return TensorList{leaf({4}, domain)}; },
        one([f](const Tensor& x) { return f(x.expand({3, 4})); }));
    add(op, "size1", [=] { return TensorList{leaf({1, 4, 1}, domain)}; }, one(f));
    add(op, "zero_size", [=] { return TensorList{leaf({0, 3}, domain)}; }, one_summed(f));
    add(op, "scalar", [=] { return TensorList{leaf({}, domain)}; }, one(f));
    add(op, "transposed", [=] { return TensorList{transposed({3, 4}, domain)}; }, one(f));
  }

  // The standard variants of a two-input broadcasting op; b is drawn from b_domain.
  void add_binary(const std::string& op, const BinaryFn& f, Domain a_domain = Domain::Any,
                  Domain b_domain = Domain::Any) {
    const Domain da = a_domain, db = b_domain;
    add(op, "plain", [=] { return TensorList{leaf({3, 4}, da), leaf({3, 4}, db)}; }, two(f));
    add(op, "broadcast", [=] { return TensorList{leaf({3, 1}, da), leaf({1, 4}, db)}; }, two(f));
    add(op, "broadcast_rank", [=] { return TensorList{leaf({2, 3, 4}, da), leaf({4}, db)}; },
        two(f));
    add(op, "size1", [=] { return TensorList{leaf({1, 4}, da), leaf({1, 1}, db)}; }, two(f));
    // b (4) against a (0, 4): b's gradient is a sum over zero rows, i.e. zeros of shape (4).
    add(op, "zero_size", [=] { return TensorList{leaf({0, 4}, da), leaf({4}, db)}; },
        two_summed(f));
    add(op, "scalar", [=] { return TensorList{leaf({}, da), leaf({3, 4}, db)}; }, two(f));
    add(op, "transposed", [=] { return TensorList{transposed({3, 4}, da), strided({3, 4}, db)}; },
        two(f));
    add(op, "one_requires_grad", [=] { return TensorList{leaf({3, 4}, da), constant({4}, db)}; },
        two(f));
  }

  std::vector<GradcheckCase> take() { return std::move(cases_); }

 private:
  std::vector<GradcheckCase> cases_;
};

// a and b equal where `tied` is true, different elsewhere; both leaves.
TensorList tied_pair(const std::vector<bool>& tied, const Shape& shape) {
  Tensor a = randn(shape, kFloat64);
  Tensor b = where(mask(tied, shape), a, randn(shape, kFloat64));
  return {a.requires_grad_(), b.requires_grad_()};
}

}  // namespace

std::vector<GradcheckCase> op_gradcheck_cases() {
  Registry r;
  GradcheckOptions loose;  // float32 round trips: the difference quotient sees float32 rounding
  loose.eps = 1e-3;
  loose.atol = 1e-3;
  loose.rtol = 1e-2;

  // ---- arithmetic ----------------------------------------------------------------------------
  r.add_binary("add", [](const Tensor& a, const Tensor& b) { return a + b; });
  r.add_binary("sub", [](const Tensor& a, const Tensor& b) { return a - b; });
  r.add_binary("mul", [](const Tensor& a, const Tensor& b) { return a * b; });
  r.add_binary("div", [](const Tensor& a, const Tensor& b) { return a / b; }, Domain::Any,
               Domain::NonZero);
  r.add("mul", "same_input_twice", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x * x; }));
  // maximum/minimum: normal draws are never equal, so the winner is clear except in "tie",
  // where the gradient is split in half. A central difference at a tie sees slope 1 on one
  // side and 0 on the other and also gives 1/2; the second derivative jumps there, so it is
  // not checked.
  r.add_binary("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); });
  r.add("maximum", "tie", [] { return tied_pair({true, false, true, false, false, true}, {2, 3}); },
        two([](const Tensor& a, const Tensor& b) { return maximum(a, b); }), false);
  r.add_binary("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  r.add("minimum", "tie", [] { return tied_pair({false, true, true, false, true, false}, {2, 3}); },
        two([](const Tensor& a, const Tensor& b) { return minimum(a, b); }), false);
  r.add_unary("neg", [](const Tensor& x) { return neg(x); });
  r.add("neg", "operator", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return -x; }));
  // pow: a positive base, because x^p for fractional p is undefined below 0.
  r.add_unary("pow", [](const Tensor& x) { return pow(x, 3.0); }, Domain::Positive);
  r.add("pow", "square", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return pow(x, 2.0); }));
  r.add("pow", "half", [] { return TensorList{positive({3, 4})}; },
        one([](const Tensor& x) { return pow(x, 0.5); }));
  r.add("pow", "negative_fractional", [] { return TensorList{positive({3, 4})}; },
        one([](const Tensor& x) { return pow(x, -1.5); }));
  r.add("pow", "zero_exponent", [] { return TensorList{positive({3, 4})}; },
        one([](const Tensor& x) { return pow(x, 0.0); }));
  r.add("pow", "method", [] { return TensorList{positive({2, 3})}; },
        one([](const Tensor& x) { return x.pow(2.5); }));
  // Scalar forms: y = x * s + t in one kernel, and s / x through div.
  r.add_unary("add_scalar", [](const Tensor& x) { return x + 1.5; });
  r.add("add_scalar", "scalar_first", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return 1.5 + x; }));
  r.add_unary("sub_scalar", [](const Tensor& x) { return x - 2.0; });
  r.add("sub_scalar", "scalar_first", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return 1.0 - x; }));
  r.add_unary("mul_scalar", [](const Tensor& x) { return x * 2.0; });
  r.add("mul_scalar", "scalar_first", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return -3.0 * x; }));
  r.add_unary("div_scalar", [](const Tensor& x) { return x / 4.0; });
  r.add_unary("rdiv_scalar", [](const Tensor& x) { return 1.0 / x; }, Domain::NonZero);

  // ---- elementwise functions -----------------------------------------------------------------
  r.add_unary("exp", [](const Tensor& x) { return exp(x); });
  r.add_unary("log", [](const Tensor& x) { return log(x); }, Domain::Positive);
  r.add_unary("sqrt", [](const Tensor& x) { return sqrt(x); }, Domain::Positive);
  r.add_unary("rsqrt", [](const Tensor& x) { return rsqrt(x); }, Domain::Positive);
  r.add_unary("abs", [](const Tensor& x) { return abs(x); }, Domain::NonZero);
  r.add_unary("tanh", [](const Tensor& x) { return tanh(x); });
  r.add_unary("sigmoid", [](const Tensor& x) { return sigmoid(x); });
  r.add_unary("relu", [](const Tensor& x) { return relu(x); }, Domain::NonZero);
  r.add_unary("gelu", [](const Tensor& x) { return gelu(x); });
  r.add_unary("gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); });
  // Far into both tails, where erf and tanh saturate and cancellation would show first.
  r.add("gelu", "tails", [] { return TensorList{(randn({6}, kFloat64) * 4.0).requires_grad_()}; },
        one([](const Tensor& x) { return gelu(x); }));

  // ---- selection -----------------------------------------------------------------------------
  r.add("where", "plain",
        [] { return TensorList{leaf({2, 3}), leaf({2, 3})}; },
        two([](const Tensor& a, const Tensor& b) {
          return where(mask({true, false, true, false, false, true}, {2, 3}), a, b);
        }));
  // cond (2, 1), a (1, 3), b (2, 3): a's gradient sums over the rows where cond picked it.
  r.add("where", "broadcast",
        [] { return TensorList{leaf({1, 3}), leaf({2, 3})}; },
        two([](const Tensor& a, const Tensor& b) { return where(mask({true, false}, {2, 1}), a, b); }));
  r.add("where", "scalar_operand",
        [] { return TensorList{leaf({2, 3}), leaf({})}; },
        two([](const Tensor& a, const Tensor& b) {
          return where(mask({false, true, true}, {3}), a, b);
        }));
  r.add("where", "zero_size",
        [] { return TensorList{leaf({0, 3}), leaf({3})}; },
        two_summed([](const Tensor& a, const Tensor& b) { return where(mask({}, {0, 1}), a, b); }));
  r.add("where", "transposed",
        [] { return TensorList{transposed({2, 3}), constant({2, 3})}; },
        two([](const Tensor& a, const Tensor& b) {
          return where(mask({true, true, false, false, true, false}, {2, 3}), a, b);
        }));
  r.add("masked_fill", "plain", [] { return TensorList{leaf({2, 3})}; },
        one([](const Tensor& x) {
          return masked_fill(x, mask({true, false, false, true, false, true}, {2, 3}), -1.0);
        }));
  r.add("masked_fill", "broadcast_mask", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return masked_fill(x, mask({false, true, false, true}, {4}), 0.0); }));
  r.add("masked_fill", "size1", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return masked_fill(x, mask({true}, {1, 1}), 2.0); }));
  r.add("masked_fill", "zero_size", [] { return TensorList{leaf({0, 2})}; },
        one_summed([](const Tensor& x) { return masked_fill(x, mask({true, false}, {2}), 5.0); }));
  r.add("masked_fill", "transposed", [] { return TensorList{transposed({2, 3})}; },
        one([](const Tensor& x) { return x.masked_fill(mask({false, true, true}, {3}), 1.0); }));

  // ---- reductions ----------------------------------------------------------------------------
  r.add("sum", "all", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.sum(); }));
  r.add("sum", "dim", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.sum({1}); }));
  r.add("sum", "keepdim", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.sum({0, 2}, true); }));
  r.add("sum", "negative_dims", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.sum({-1, -3}); }));
  r.add("sum", "size1", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return x.sum({1}); }));
  // Summing away a dim of size 0 gives zeros of shape (3); the gradient is empty.
  r.add("sum", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one([](const Tensor& x) { return x.sum({0}); }));
  r.add("sum", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return x.sum(); }));
  r.add("sum", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.sum({0}); }));
  r.add("mean", "all", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.mean(); }));
  r.add("mean", "dims_keepdim", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.mean({-1, 0}, true); }));
  r.add("mean", "size1", [] { return TensorList{leaf({1, 3})}; },
        one([](const Tensor& x) { return x.mean({0}); }));
  r.add("mean", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return x.mean({1}); }));
  r.add("mean", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.mean({1}); }));
  r.add("var", "unbiased", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.var({1}); }));
  r.add("var", "biased_all", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return var(x, {}, /*unbiased=*/false); }));
  r.add("var", "dims_keepdim", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.var({0, -1}, true, true); }));
  r.add("var", "size1", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return x.var({1}, /*unbiased=*/false); }));
  r.add("var", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return x.var({1}); }));
  r.add("var", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.var({0}); }));
  // sum_to: the backward of broadcasting, as an op of its own.
  r.add("sum_to", "leading_and_inner", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return sum_to(x, {3, 1}); }));
  r.add("sum_to", "leading", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return sum_to(x, {4}); }));
  r.add("sum_to", "to_scalar_shape", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return sum_to(x, {1, 1}); }));
  r.add("sum_to", "identity", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return sum_to(x, {3, 4}); }));
  r.add("sum_to", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one([](const Tensor& x) { return sum_to(x, {3}); }));
  r.add("sum_to", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return sum_to(x, {1, 4}); }));
  // amax/amin: normal draws have one clear extreme per row; the "tie" cases hold exactly two
  // equal extremes. Only pairs can be checked numerically: moving one of k tied maxima up by
  // eps raises the max by eps and moving it down leaves it, so the difference quotient is 1/2
  // for every k, while the even split gives 1/k. And f' jumps at a tie: no second order there.
  r.add("amax", "dim", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return amax(x, {1}); }));
  r.add("amax", "all", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.max(); }));
  r.add("amax", "keepdim_negative_dim", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.max(-2, true); }));
  r.add("amax", "size1", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return amax(x, {1}); }));
  r.add("amax", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return amax(x, {1}); }));
  r.add("amax", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return amax(x); }));
  r.add("amax", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return amax(x, {0}); }));
  r.add("amax", "tie",
        [] { return TensorList{from_vector<double>({1, 3, 3, 0.5, 2, -1}, {2, 3}).requires_grad_()}; },
        one([](const Tensor& x) { return amax(x, {1}); }), false);
  r.add("amax", "tie_all",
        [] { return TensorList{from_vector<double>({1, 3, -2, 0.5, 3, -1}, {2, 3}).requires_grad_()}; },
        one([](const Tensor& x) { return x.max(); }), false);
  r.add("amin", "dim", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return amin(x, {0}); }));
  r.add("amin", "all", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.min(); }));
  r.add("amin", "keepdim", [] { return TensorList{leaf({2, 3})}; },
        one([](const Tensor& x) { return x.min(1, true); }));
  r.add("amin", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return amin(x, {-1}); }));
  r.add("amin", "tie",
        [] { return TensorList{from_vector<double>({-2, 1, -2, 4, 0, 5}, {2, 3}).requires_grad_()}; },
        one([](const Tensor& x) { return amin(x, {1}); }), false);
  r.add("logsumexp", "dim", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return logsumexp(x, 1); }));
  r.add("logsumexp", "keepdim_dim0", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.logsumexp(0, true); }));
  r.add("logsumexp", "3d_middle_dim", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return logsumexp(x, -2); }));
  r.add("logsumexp", "size1", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return logsumexp(x, 1); }));
  r.add("logsumexp", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return logsumexp(x, 1); }));
  r.add("logsumexp", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return logsumexp(x, 0); }));
  r.add("logsumexp", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return logsumexp(x, 1); }));
  // Logits near 30: the row max is subtracted first, so nothing overflows or loses digits.
  r.add("logsumexp", "large_logits", [] { return TensorList{(randn({2, 3}, kFloat64) + 30.0).requires_grad_()}; },
        one([](const Tensor& x) { return logsumexp(x, 1); }));

  // ---- softmax -------------------------------------------------------------------------------
  for (const char* op : {"softmax", "log_softmax"}) {
    const bool log_form = std::string(op) == "log_softmax";
    auto f = [log_form](int64_t dim) {
      return one([log_form, dim](const Tensor& x) {
        return log_form ? log_softmax(x, dim) : softmax(x, dim);
      });
    };
    auto f_summed = [log_form](int64_t dim) {
      return one_summed([log_form, dim](const Tensor& x) {
        return log_form ? log_softmax(x, dim) : softmax(x, dim);
      });
    };
    r.add(op, "last_dim", [] { return TensorList{leaf({3, 4})}; }, f(-1));
    r.add(op, "dim0", [] { return TensorList{leaf({3, 4})}; }, f(0));
    r.add(op, "3d_middle_dim", [] { return TensorList{leaf({2, 3, 4})}; }, f(1));
    // A size-1 dim: softmax is the constant 1 there, so every gradient is 0.
    r.add(op, "size1", [] { return TensorList{leaf({3, 1})}; }, f(1));
    r.add(op, "zero_size", [] { return TensorList{leaf({0, 3})}; }, f_summed(1));
    r.add(op, "scalar", [] { return TensorList{leaf({})}; }, f(0));
    r.add(op, "transposed", [] { return TensorList{transposed({3, 4})}; }, f(-1));
    r.add(op, "large_logits", [] { return TensorList{(randn({2, 3}, kFloat64) + 30.0).requires_grad_()}; }, f(-1));
    r.add(op, "projected", [] { return TensorList{leaf({10, 30})}; }, f(-1));
  }

  // ---- matmul --------------------------------------------------------------------------------
  const auto mm = two([](const Tensor& a, const Tensor& b) { return matmul(a, b); });
  r.add("matmul", "2d", [] { return TensorList{leaf({3, 4}), leaf({4, 2})}; }, mm);
  r.add("matmul", "batched", [] { return TensorList{leaf({2, 3, 4}), leaf({2, 4, 2})}; }, mm);
  // Batch (2, 1) against (3): the result is (2, 3, M, N); a's gradient sums over the 3.
  r.add("matmul", "broadcast_batch", [] { return TensorList{leaf({2, 1, 3, 4}), leaf({3, 4, 2})}; }, mm);
  // A batch against one shared matrix (a Linear layer), which folds into one tall GEMM.
  r.add("matmul", "batch_times_matrix", [] { return TensorList{leaf({2, 3, 4}), leaf({4, 2})}; }, mm);
  r.add("matmul", "matrix_times_batch", [] { return TensorList{leaf({3, 4}), leaf({2, 4, 2})}; }, mm);
  r.add("matmul", "vector_matrix", [] { return TensorList{leaf({4}), leaf({4, 3})}; }, mm);
  r.add("matmul", "matrix_vector", [] { return TensorList{leaf({3, 4}), leaf({4})}; }, mm);
  r.add("matmul", "vector_vector", [] { return TensorList{leaf({4}), leaf({4})}; }, mm);
  r.add("matmul", "batch_vector", [] { return TensorList{leaf({2, 3, 4}), leaf({4})}; }, mm);
  r.add("matmul", "vector_batch", [] { return TensorList{leaf({4}), leaf({2, 4, 3})}; }, mm);
  r.add("matmul", "size1", [] { return TensorList{leaf({1, 4}), leaf({4, 1})}; }, mm);
  // K = 0: the product is a (3, 2) matrix of zeros, and the gradients are empty.
  r.add("matmul", "zero_inner", [] { return TensorList{leaf({3, 0}), leaf({0, 2})}; }, mm);
  r.add("matmul", "zero_rows", [] { return TensorList{leaf({0, 4}), leaf({4, 2})}; },
        two_summed([](const Tensor& a, const Tensor& b) { return matmul(a, b); }));
  // A transposed operand is read in place by gemm; a strided one (no unit stride) is copied.
  r.add("matmul", "transposed", [] { return TensorList{transposed({3, 4}), strided({4, 2})}; }, mm);
  r.add("matmul", "transposed_batched",
        [] { return TensorList{transposed({2, 3, 4}), transposed({2, 4, 5})}; }, mm);
  r.add("matmul", "one_requires_grad", [] { return TensorList{leaf({3, 4}), constant({4, 2})}; }, mm);
  // 320 outputs: past gradcheck's full-Jacobian limit, so checked through projections.
  r.add("matmul", "projected", [] { return TensorList{leaf({16, 5}), leaf({5, 20})}; }, mm);

  // ---- joining and indexing ------------------------------------------------------------------
  auto cat_fn = [](int64_t dim) {
    return Fn([dim](const TensorList& xs) { return TensorList{cat(xs, dim)}; });
  };
  r.add("cat", "dim0", [] { return TensorList{leaf({2, 3}), leaf({4, 3})}; }, cat_fn(0));
  r.add("cat", "last_dim_three", [] { return TensorList{leaf({2, 3}), leaf({2, 1}), leaf({2, 2})}; },
        cat_fn(-1));
  r.add("cat", "zero_size", [] { return TensorList{leaf({0, 3}), leaf({2, 3})}; }, cat_fn(0));
  r.add("cat", "transposed", [] { return TensorList{transposed({3, 2}), leaf({3, 4})}; }, cat_fn(1));
  r.add("cat", "one_requires_grad", [] { return TensorList{leaf({2, 3}), constant({1, 3})}; },
        cat_fn(0));
  auto stack_fn = [](int64_t dim) {
    return Fn([dim](const TensorList& xs) { return TensorList{stack(xs, dim)}; });
  };
  r.add("stack", "dim0", [] { return TensorList{leaf({2, 3}), leaf({2, 3})}; }, stack_fn(0));
  r.add("stack", "last_dim_three", [] { return TensorList{leaf({2, 3}), leaf({2, 3}), leaf({2, 3})}; },
        stack_fn(-1));
  r.add("stack", "scalars", [] { return TensorList{leaf({}), leaf({}), leaf({})}; }, stack_fn(0));
  r.add("stack", "zero_size", [] { return TensorList{leaf({0, 2}), leaf({0, 2})}; },
        Fn([](const TensorList& xs) { return TensorList{stack(xs, 1).sum()}; }));
  r.add("stack", "transposed", [] { return TensorList{transposed({2, 3}), leaf({2, 3})}; },
        stack_fn(1));
  // Index 2 appears twice: its row's gradient is the sum of both copies' gradients.
  r.add("index_select", "repeated_rows", [] { return TensorList{leaf({4, 3}), ids({2, 0, 2}, {3})}; },
        two([](const Tensor& x, const Tensor& index) { return index_select(x, 0, index); }));
  r.add("index_select", "last_dim", [] { return TensorList{leaf({2, 4}), ids({3, 1}, {2})}; },
        two([](const Tensor& x, const Tensor& index) { return index_select(x, -1, index); }));
  r.add("index_select", "vector", [] { return TensorList{leaf({5}), ids({4, 4, 0}, {3})}; },
        two([](const Tensor& x, const Tensor& index) { return index_select(x, 0, index); }));
  r.add("index_select", "zero_size", [] { return TensorList{leaf({4, 3}), ids({}, {0})}; },
        two_summed([](const Tensor& x, const Tensor& index) { return index_select(x, 0, index); }));
  r.add("index_select", "transposed", [] { return TensorList{transposed({4, 3}), ids({1, 3}, {2})}; },
        two([](const Tensor& x, const Tensor& index) { return index_select(x, 0, index); }));
  r.add("gather", "dim1_repeated", [] { return TensorList{leaf({3, 4}), ids({0, 0, 3, 1, 2, 2}, {3, 2})}; },
        two([](const Tensor& x, const Tensor& index) { return gather(x, 1, index); }));
  r.add("gather", "dim0", [] { return TensorList{leaf({3, 4}), ids({2, 0, 1, 2, 0, 0, 0, 1}, {2, 4})}; },
        two([](const Tensor& x, const Tensor& index) { return gather(x, 0, index); }));
  r.add("gather", "3d_last_dim", [] { return TensorList{leaf({2, 2, 3}), ids({2, 0, 1, 1, 0, 0, 2, 2}, {2, 2, 2})}; },
        two([](const Tensor& x, const Tensor& index) { return gather(x, -1, index); }));
  r.add("gather", "zero_size", [] { return TensorList{leaf({3, 4}), ids({}, {3, 0})}; },
        two_summed([](const Tensor& x, const Tensor& index) { return gather(x, 1, index); }));
  r.add("gather", "transposed", [] { return TensorList{transposed({3, 4}), ids({3, 0, 1, 1, 2, 0}, {3, 2})}; },
        two([](const Tensor& x, const Tensor& index) { return gather(x, 1, index); }));
  // The weight is the differentiable input; token 1 appears twice.
  r.add("embedding", "plain", [] { return TensorList{leaf({5, 3}), ids({1, 4, 1, 0, 2, 1}, {2, 3})}; },
        two([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));
  r.add("embedding", "vector_ids", [] { return TensorList{leaf({5, 3}), ids({3, 3}, {2})}; },
        two([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));
  r.add("embedding", "scalar_id", [] { return TensorList{leaf({5, 3}), ids({2}, {})}; },
        two([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));
  r.add("embedding", "zero_size", [] { return TensorList{leaf({5, 3}), ids({}, {0})}; },
        two_summed([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));
  r.add("embedding", "transposed", [] { return TensorList{transposed({5, 3}), ids({4, 0}, {2})}; },
        two([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));

  // ---- views ---------------------------------------------------------------------------------
  r.add("view", "plain", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.view({2, 6}); }));
  r.add("view", "inferred", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.view({-1, 4}); }));
  // A transposed tensor can still be viewed when the split dim is contiguous in itself.
  r.add("view", "transposed_compatible", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.view({3, 2, 2}); }));
  r.add("view", "size1", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.view({1, 3, 1, 4}); }));
  r.add("view", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return x.view({3, 0}); }));
  r.add("view", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return x.view({1, 1}); }));
  r.add("reshape", "plain", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.reshape({4, 3}); }));
  // Not viewable: reshape copies (through clone), and the gradient still finds its way back.
  r.add("reshape", "transposed_copy", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.reshape({12}); }));
  r.add("reshape", "flatten", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.flatten(1); }));
  r.add("reshape", "to_scalar", [] { return TensorList{leaf({1, 1})}; },
        one([](const Tensor& x) { return x.reshape({}); }));
  r.add("reshape", "zero_size", [] { return TensorList{leaf({2, 0})}; },
        one_summed([](const Tensor& x) { return x.reshape({0, 5}); }));
  r.add("permute", "plain", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.permute({2, 0, 1}); }));
  r.add("permute", "negative_dims", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.permute({-1, 0, -2}); }));
  r.add("permute", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.permute({1, 0}); }));
  r.add("permute", "zero_size", [] { return TensorList{leaf({0, 3})}; },
        one_summed([](const Tensor& x) { return x.permute({1, 0}); }));
  r.add("transpose", "plain", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.transpose(0, 2); }));
  r.add("transpose", "t", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.t(); }));
  r.add("transpose", "size1", [] { return TensorList{leaf({1, 4})}; },
        one([](const Tensor& x) { return x.transpose(-1, -2); }));
  r.add("transpose", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return x.transpose(0, -1); }));
  r.add("unsqueeze", "middle", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.unsqueeze(1); }));
  r.add("unsqueeze", "last", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.unsqueeze(-1); }));
  r.add("unsqueeze", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return x.unsqueeze(0); }));
  r.add("squeeze", "dim", [] { return TensorList{leaf({3, 1, 4})}; },
        one([](const Tensor& x) { return x.squeeze(1); }));
  r.add("squeeze", "all", [] { return TensorList{leaf({1, 3, 1})}; },
        one([](const Tensor& x) { return x.squeeze(); }));
  r.add("expand", "new_and_grown_dims", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return x.expand({2, 3, 4}); }));
  r.add("expand", "keep_with_minus_one", [] { return TensorList{leaf({3, 1})}; },
        one([](const Tensor& x) { return x.expand({-1, 5}); }));
  r.add("expand", "scalar", [] { return TensorList{leaf({})}; },
        one([](const Tensor& x) { return x.expand({2, 3}); }));
  r.add("expand", "zero_size", [] { return TensorList{leaf({0, 1})}; },
        one_summed([](const Tensor& x) { return x.expand({0, 3}); }));
  r.add("expand", "transposed", [] { return TensorList{transposed({1, 3})}; },
        one([](const Tensor& x) { return x.expand({4, 3}); }));
  r.add("slice", "plain", [] { return TensorList{leaf({5, 4})}; },
        one([](const Tensor& x) { return x.slice(0, 1, 4); }));
  r.add("slice", "step", [] { return TensorList{leaf({5, 4})}; },
        one([](const Tensor& x) { return x.slice(1, 0, 4, 2); }));
  r.add("slice", "negative_bounds", [] { return TensorList{leaf({5, 4})}; },
        one([](const Tensor& x) { return x.slice(0, -3, -1); }));
  r.add("slice", "zero_size", [] { return TensorList{leaf({5, 4})}; },
        one_summed([](const Tensor& x) { return x.slice(0, 2, 2); }));
  r.add("slice", "transposed", [] { return TensorList{transposed({5, 4})}; },
        one([](const Tensor& x) { return x.slice(1, 1, 4, 2); }));
  r.add("narrow", "plain", [] { return TensorList{leaf({3, 5})}; },
        one([](const Tensor& x) { return x.narrow(1, 1, 3); }));
  r.add("narrow", "negative_start", [] { return TensorList{leaf({4, 3})}; },
        one([](const Tensor& x) { return x.narrow(0, -2, 2); }));
  r.add("select", "plain", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.select(0, 1); }));
  r.add("select", "negative_index", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return x.select(-1, -1); }));
  r.add("select", "to_scalar", [] { return TensorList{leaf({4})}; },
        one([](const Tensor& x) { return x.select(0, 2); }));
  r.add("select", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.select(1, 0); }));
  r.add("contiguous", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.contiguous(); }));
  r.add("contiguous", "already_contiguous", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.contiguous(); }));
  r.add("clone", "plain", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.clone(); }));
  r.add("clone", "strided", [] { return TensorList{strided({3, 4})}; },
        one([](const Tensor& x) { return x.clone(); }));
  r.add("to", "float32_round_trip", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.to(kFloat32).to(kFloat64); }), true, loose);
  r.add("to", "same_dtype", [] { return TensorList{leaf({3, 4})}; },
        one([](const Tensor& x) { return x.to(kFloat64) * 2.0; }));
  r.add("to", "transposed", [] { return TensorList{transposed({3, 4})}; },
        one([](const Tensor& x) { return x.to(kFloat32).to(kFloat64); }), true, loose);

  // ---- expanded inputs -----------------------------------------------------------------------
  // Each op once more on a stride-0 view: x (1, 4) read as (3, 4) inside fn, so every element
  // of x feeds three rows, the kernels read through stride 0, and the backward must sum the
  // rows back (through expand's own backward, sum_to). The expansion is along a dim the op
  // does not reduce, so reductions see no artificial ties.
  auto expanded = [](UnaryFn f) {
    return one([f = std::move(f)](const Tensor& x) { return f(x.expand({3, 4})); });
  };
  const Inputs row = [] { return TensorList{leaf({1, 4})}; };
  r.add("sum", "broadcast", row, expanded([](const Tensor& x) { return x.sum({1}); }));
  r.add("mean", "broadcast", row, expanded([](const Tensor& x) { return x.mean({1}); }));
  r.add("var", "broadcast", row, expanded([](const Tensor& x) { return x.var({1}); }));
  r.add("amax", "broadcast", row, expanded([](const Tensor& x) { return amax(x, {1}); }));
  r.add("amin", "broadcast", row, expanded([](const Tensor& x) { return amin(x, {-1}, true); }));
  r.add("logsumexp", "broadcast", row, expanded([](const Tensor& x) { return logsumexp(x, 1); }));
  r.add("softmax", "broadcast", row, expanded([](const Tensor& x) { return softmax(x, 1); }));
  r.add("log_softmax", "broadcast", row, expanded([](const Tensor& x) { return log_softmax(x, 1); }));
  r.add("sum_to", "broadcast", row, expanded([](const Tensor& x) { return sum_to(x, {1, 4}); }));
  r.add("index_select", "broadcast", row,
        expanded([](const Tensor& x) { return index_select(x, 1, ids({3, 0, 3}, {3})); }));
  r.add("gather", "broadcast", row,
        expanded([](const Tensor& x) { return gather(x, 1, ids({1, 1, 0, 3, 2, 2}, {3, 2})); }));
  r.add("cat", "broadcast", row, expanded([](const Tensor& x) { return cat({x, x * 2.0}, 1); }));
  r.add("stack", "broadcast", row, expanded([](const Tensor& x) { return stack({x, x.exp()}, 1); }));
  r.add("view", "broadcast", row, expanded([](const Tensor& x) { return x.view({3, 2, 2}); }));
  r.add("reshape", "broadcast", row, expanded([](const Tensor& x) { return x.reshape({12}); }));
  r.add("permute", "broadcast", row, expanded([](const Tensor& x) { return x.permute({1, 0}); }));
  r.add("transpose", "broadcast", row, expanded([](const Tensor& x) { return x.t() * 1.5; }));
  r.add("unsqueeze", "broadcast", row, expanded([](const Tensor& x) { return x.unsqueeze(0); }));
  r.add("squeeze", "broadcast", [] { return TensorList{leaf({1, 4})}; },
        one([](const Tensor& x) { return x.expand({3, 1, 4}).squeeze(1); }));
  r.add("expand", "broadcast", row, expanded([](const Tensor& x) { return x.unsqueeze(0).expand({2, 3, 4}); }));
  r.add("slice", "broadcast", row, expanded([](const Tensor& x) { return x.slice(1, 1, 4, 2); }));
  r.add("narrow", "broadcast", row, expanded([](const Tensor& x) { return x.narrow(0, 1, 2); }));
  r.add("select", "broadcast", row, expanded([](const Tensor& x) { return x.select(1, 2); }));
  r.add("contiguous", "broadcast", row, expanded([](const Tensor& x) { return x.contiguous(); }));
  r.add("clone", "broadcast", row, expanded([](const Tensor& x) { return x.clone(); }));
  r.add("to", "broadcast", row, expanded([](const Tensor& x) { return x.to(kFloat32).to(kFloat64); }),
        true, loose);
  r.add("matmul", "expanded_operand", row,
        expanded([](const Tensor& x) { return matmul(x, x.t()); }));
  r.add("where", "expanded_operand", row, expanded([](const Tensor& x) {
          return where(mask({true, false, false, true}, {4}), x, x * -1.0);
        }));

  // ---- size-1 dims for the ops above that lack one -------------------------------------------
  r.add("cat", "size1", [] { return TensorList{leaf({1, 3}), leaf({1, 1})}; }, cat_fn(1));
  r.add("stack", "size1", [] { return TensorList{leaf({1}), leaf({1})}; }, stack_fn(0));
  r.add("index_select", "size1", [] { return TensorList{leaf({1, 3}), ids({0, 0}, {2})}; },
        two([](const Tensor& x, const Tensor& index) { return index_select(x, 0, index); }));
  r.add("gather", "size1", [] { return TensorList{leaf({3, 1}), ids({0, 0, 0}, {3, 1})}; },
        two([](const Tensor& x, const Tensor& index) { return gather(x, 1, index); }));
  r.add("embedding", "size1", [] { return TensorList{leaf({1, 3}), ids({0, 0}, {2, 1})}; },
        two([](const Tensor& weight, const Tensor& tokens) { return embedding(weight, tokens); }));
  r.add("amin", "size1", [] { return TensorList{leaf({1, 3})}; },
        one([](const Tensor& x) { return amin(x, {0}); }));
  r.add("softmax", "size1_batch", [] { return TensorList{leaf({1, 1, 4})}; },
        one([](const Tensor& x) { return softmax(x, -1); }));
  r.add("permute", "size1", [] { return TensorList{leaf({1, 3, 1})}; },
        one([](const Tensor& x) { return x.permute({2, 0, 1}); }));
  r.add("expand", "size1", [] { return TensorList{leaf({1, 1})}; },
        one([](const Tensor& x) { return x.expand({1, 3}); }));
  r.add("slice", "size1", [] { return TensorList{leaf({1, 4})}; },
        one([](const Tensor& x) { return x.slice(0, 0, 1); }));
  r.add("select", "size1", [] { return TensorList{leaf({1, 4})}; },
        one([](const Tensor& x) { return x.select(0, 0); }));
  r.add("where", "size1", [] { return TensorList{leaf({1, 1}), leaf({1, 3})}; },
        two([](const Tensor& a, const Tensor& b) { return where(mask({true, false, true}, {3}), a, b); }));
  r.add("reshape", "size1", [] { return TensorList{leaf({1, 3, 1})}; },
        one([](const Tensor& x) { return x.reshape({3}); }));

  return r.take();
}

std::string gradcheck_case_name(const GradcheckCase& c) {
  std::string name = c.op + "_" + c.variant;
  for (char& ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!ok) ch = '_';
  }
  return name;
}

GradcheckResult run_gradcheck_case(const GradcheckCase& c) {
  GradcheckResult first = gradcheck_list(c.fn, c.make_inputs(), c.options);
  if (!first.ok || !c.second_order) return first;
  return gradgradcheck_list(c.fn, c.make_inputs(), c.options);
}

}  // namespace ag::autograd
