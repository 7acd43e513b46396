// elementwise.cpp: arithmetic (+ - * / with broadcasting), the elementwise functions (exp, log,
// tanh, gelu, ...), comparisons and selection (where, masked_fill), each forward followed by
// its backward.
//
// Broadcasting has one backward rule, kept in one place (unbroadcast): if a (3, 1) input was
// stretched to (3, 4), each of its elements fed 4 outputs, so its gradient is the sum of those
// 4 output gradients. Every binary op's backward ends with it.
//
// Every backward is written with differentiable ops (dy * y, not a raw kernel), so running it
// with create_graph records the backward too and gradients of gradients work.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

namespace {

// Sums a broadcast gradient back to the input's shape.   g: broadcast shape   returns: shape
Tensor unbroadcast(const Tensor& g, const Shape& shape) { return sum_to(g, shape); }

// A double as a 0-d tensor of x's dtype, for scalar arithmetic.
Tensor scalar_like(double value, const Tensor& x) { return scalar_tensor(value, x.dtype()); }

void check_operands(const Tensor& a, const Tensor& b, std::string_view op) {
  if (!a.defined() || !b.defined()) throw Error(op, "an operand is undefined");
  if (a.dtype() != b.dtype())
    throw Error(op, "dtype mismatch: ", a.dtype(), " ", a.shape(), " and ", b.dtype(), " ",
                b.shape(), " (convert one with .to(dtype))");
}

}  // namespace

// ---- arithmetic ---------------------------------------------------------------------------

// y = a + b.   da = dy, db = dy (each summed back to its own shape)
Tensor add(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "add");
  Tensor y = kernels::binary(kernels::Binary::Add, a, b, "add");
  return record("add", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& dy) {
    return Grads{unbroadcast(dy, sa), unbroadcast(dy, sb)};
  });
}

// y = a - b.   da = dy, db = -dy
Tensor sub(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "sub");
  Tensor y = kernels::binary(kernels::Binary::Sub, a, b, "sub");
  return record("sub", y, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& dy) {
    return Grads{unbroadcast(dy, sa), unbroadcast(neg(dy), sb)};
  });
}

// y = a * b.   da = dy * b, db = dy * a
Tensor mul(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "mul");
  Tensor y = kernels::binary(kernels::Binary::Mul, a, b, "mul");
  return record("mul", y, {a, b}, [a, b](const Tensor& dy) {
    return Grads{a.requires_grad() ? unbroadcast(dy * b, a.shape()) : Tensor(),
                 b.requires_grad() ? unbroadcast(dy * a, b.shape()) : Tensor()};
  }, {a, b});
}

// y = a / b.   da = dy / b, db = -dy * a / b^2
Tensor div(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "div");
  Tensor y = kernels::binary(kernels::Binary::Div, a, b, "div");
  return record("div", y, {a, b}, [a, b](const Tensor& dy) {
    return Grads{a.requires_grad() ? unbroadcast(dy / b, a.shape()) : Tensor(),
                 b.requires_grad() ? unbroadcast(neg(dy) * a / (b * b), b.shape()) : Tensor()};
  }, {a, b});
}

namespace {
// maximum/minimum: the gradient goes to whichever operand won; on a tie it is split in half.
Tensor extremum(const Tensor& a, const Tensor& b, bool is_max) {
  const char* name = is_max ? "maximum" : "minimum";
  check_operands(a, b, name);
  Tensor y = kernels::binary(is_max ? kernels::Binary::Maximum : kernels::Binary::Minimum, a, b, name);
  return record(name, y, {a, b}, [a, b, is_max](const Tensor& dy) {
    const Tensor a_wins = (is_max ? gt(a, b) : lt(a, b)).to(dy.dtype());
    const Tensor tie = eq(a, b).to(dy.dtype());
    const Tensor share_a = a_wins + tie * 0.5;       // 1, 1/2 or 0
    const Tensor share_b = 1.0 - share_a;
    return Grads{unbroadcast(dy * share_a, a.shape()), unbroadcast(dy * share_b, b.shape())};
  }, {a, b});
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, false); }

// y = -x.   dx = -dy
Tensor neg(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Neg, x);
  return record("neg", y, {x}, [](const Tensor& dy) { return Grads{neg(dy)}; });
}

// y = x^p.   dx = dy * p * x^(p-1)
Tensor pow(const Tensor& x, double exponent) {
  Tensor y = kernels::pow_scalar(x, exponent);
  return record("pow", y, {x}, [x, exponent](const Tensor& dy) {
    if (exponent == 0.0) return Grads{zeros_like(x)};
    return Grads{dy * (pow(x, exponent - 1.0) * exponent)};
  }, {x});
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }

// Scalar forms: y = x * s + t in one kernel pass. dx = dy * s.
namespace {
Tensor scale_shift(const Tensor& x, double scale, double shift, const char* name) {
  Tensor y = kernels::affine(x, scale, shift);
  return record(name, y, {x}, [scale](const Tensor& dy) {
    return Grads{scale == 1.0 ? dy : dy * scale};
  });
}
}  // namespace

Tensor operator+(const Tensor& a, double b) { return scale_shift(a, 1.0, b, "add"); }
Tensor operator+(double a, const Tensor& b) { return scale_shift(b, 1.0, a, "add"); }
Tensor operator-(const Tensor& a, double b) { return scale_shift(a, 1.0, -b, "sub"); }
Tensor operator-(double a, const Tensor& b) { return scale_shift(b, -1.0, a, "sub"); }
Tensor operator*(const Tensor& a, double b) { return scale_shift(a, b, 0.0, "mul"); }
Tensor operator*(double a, const Tensor& b) { return scale_shift(b, a, 0.0, "mul"); }
Tensor operator/(const Tensor& a, double b) { return scale_shift(a, 1.0 / b, 0.0, "div"); }
Tensor operator/(double a, const Tensor& b) { return scalar_like(a, b) / b; }

// ---- elementwise functions ------------------------------------------------------------------

// y = e^x.   dx = dy * e^x = dy * y
Tensor exp(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Exp, x);
  return record("exp", y, {x}, [](const Tensor& dy, const Tensor& y) { return Grads{dy * y}; });
}

// y = ln x.   dx = dy / x
Tensor log(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Log, x);
  return record("log", y, {x}, [x](const Tensor& dy) { return Grads{dy / x}; }, {x});
}

// y = sqrt(x).   dx = dy / (2 sqrt(x)) = dy / (2y)
Tensor sqrt(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Sqrt, x);
  return record("sqrt", y, {x}, [](const Tensor& dy, const Tensor& y) {
    return Grads{dy / (y * 2.0)};
  });
}

// y = x^(-1/2).   dx = -dy x^(-3/2) / 2 = -dy y^3 / 2
Tensor rsqrt(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Rsqrt, x);
  return record("rsqrt", y, {x}, [](const Tensor& dy, const Tensor& y) {
    return Grads{dy * (y * y * y) * -0.5};
  });
}

// y = |x|.   dx = dy * sign(x) (0 at the kink, as PyTorch)
Tensor abs(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Abs, x);
  return record("abs", y, {x}, [x](const Tensor& dy) {
    return Grads{dy * kernels::unary(kernels::Unary::Sign, x)};
  }, {x});
}

// y = tanh x.   dx = dy (1 - y^2)
Tensor tanh(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Tanh, x);
  return record("tanh", y, {x}, [](const Tensor& dy, const Tensor& y) {
    return Grads{dy * (1.0 - y * y)};
  });
}

// y = 1 / (1 + e^-x).   dx = dy y (1 - y)
Tensor sigmoid(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Sigmoid, x);
  return record("sigmoid", y, {x}, [](const Tensor& dy, const Tensor& y) {
    return Grads{dy * (y * (1.0 - y))};
  });
}

// y = max(x, 0).   dx = dy where x > 0 (the step is piecewise constant: its own derivative is 0)
Tensor relu(const Tensor& x) {
  Tensor y = kernels::unary(kernels::Unary::Relu, x);
  return record("relu", y, {x}, [x](const Tensor& dy) {
    return Grads{dy * kernels::unary(kernels::Unary::Step, x)};
  }, {x});
}

// gelu'(x) as a differentiable op of its own, so gelu has a second derivative.
Tensor gelu_grad(const Tensor& x, bool tanh_form) {
  Tensor g = kernels::unary(tanh_form ? kernels::Unary::GeluTanhGrad : kernels::Unary::GeluErfGrad, x);
  return record("gelu_grad", g, {x}, [x, tanh_form](const Tensor& dg) {
    return Grads{dg * kernels::unary(tanh_form ? kernels::Unary::GeluTanhGrad2
                                               : kernels::Unary::GeluErfGrad2, x)};
  }, {x});
}

// y = x Phi(x) (exact) or its tanh approximation.   dx = dy * gelu'(x)
Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (approximate != "none" && approximate != "tanh")
    throw Error("gelu", "approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  const bool tanh_form = approximate == "tanh";
  Tensor y = kernels::unary(tanh_form ? kernels::Unary::GeluTanh : kernels::Unary::GeluErf, x);
  return record("gelu", y, {x}, [x, tanh_form](const Tensor& dy) {
    // Without create_graph nothing records the backward, so one fused pass does it.
    if (!GradMode::is_enabled()) return Grads{kernels::gelu_backward(dy, x, tanh_form)};
    return Grads{dy * gelu_grad(x, tanh_form)};
  }, {x});
}

// ---- comparisons and selection ----------------------------------------------------------

Tensor eq(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Eq, a, b, "eq"); }
Tensor ne(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Ne, a, b, "ne"); }
Tensor lt(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Lt, a, b, "lt"); }
Tensor le(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Le, a, b, "le"); }
Tensor gt(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Gt, a, b, "gt"); }
Tensor ge(const Tensor& a, const Tensor& b) { return kernels::compare(kernels::Compare::Ge, a, b, "ge"); }
Tensor logical_not(const Tensor& mask) { return kernels::logical_not(mask); }

// y = cond ? a : b.   da = dy where cond, db = dy elsewhere
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_operands(a, b, "where");
  Tensor y = kernels::where(cond, a, b, "where");
  return record("where", y, {a, b}, [cond, sa = a.shape(), sb = b.shape()](const Tensor& dy) {
    const Tensor zero = zeros({}, dy.dtype());
    return Grads{unbroadcast(where(cond, dy, zero), sa), unbroadcast(where(cond, zero, dy), sb)};
  }, {cond});
}

// y = mask ? value : x.   dx = dy where the mask is false (a filled entry no longer depends on x)
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  Tensor y = kernels::masked_fill(x, mask, value, "masked_fill");
  return record("masked_fill", y, {x}, [mask](const Tensor& dy) {
    return Grads{masked_fill(dy, mask, 0.0)};
  }, {mask});
}

}  // namespace ag
