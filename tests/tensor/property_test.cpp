// property_test.cpp: the elementwise, reduction and softmax kernels against naive loops, on
// random shapes (rank 0 to 4, sizes 1 to 67) and random layouts: transposed, sliced with steps,
// padded, offset, broadcast (stride 0) and size-1 dims with odd strides, in float32 and float64.
//
// The reference here reads every element by its multi-index through the view's own strides,
// one at a time, in double: slow and obviously right. The kernels merge dims, take fast paths
// for contiguous runs and split work across threads; any mistake in that machinery shows up
// as a mismatch at some layout. Each case also runs with 1 and with 4 threads and must give
// the same bits (DESIGN: chunk boundaries never depend on the thread count).
//
// GEMM has its own property tests (gemm_test.cpp). Every case is a pure function of its seed;
// a failure prints the seed, the shapes and strides, and the worst element, and
// AG_PROPERTY_SEED=<seed> replays it alone (see tests/property_cases.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "property_cases.h"
#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace {

using namespace ag;
using ag::testing::Rng;

constexpr int64_t kMaxNumel = 1 << 15;  // keeps the naive loops (and the suite) fast

// ---- random shapes and layouts ------------------------------------------------------------

Shape random_shape(Rng& rng) {
  const int64_t rank = rng.uniform_int(0, 4);
  Shape s;
  for (int64_t d = 0; d < rank; ++d) {
    // Small sizes, 1 and primes are where loops go wrong; 67 makes tails past a SIMD width.
    s.push_back(rng.coin(0.3) ? rng.pick(std::vector<int64_t>{1, 2, 3, 5, 7, 31, 33, 64, 67})
                              : rng.uniform_int(1, 67));
  }
  while (s.numel() > kMaxNumel) {
    int64_t& biggest = *std::max_element(s.begin(), s.end());
    biggest = (biggest + 1) / 2;
  }
  return s;
}

// How a view's elements sit in its storage.
struct Layout {
  bool transposed = false, stepped = false, broadcast = false;
  std::string str(const Tensor& t) const {
    std::ostringstream os;
    os << "shape " << t.shape() << " strides " << t.strides() << " offset " << t.storage_offset()
       << " " << t.dtype() << (transposed ? " transposed" : "") << (stepped ? " stepped" : "")
       << (broadcast ? " broadcast" : "");
    return os.str();
  }
};

// Fills storage with values from `draw` and returns a view of `shape` into it. The dims are
// laid out in a random order (a transpose), each with a random step (a strided slice) and a
// little padding (a narrowed dim), behind a random offset; a size-1 dim gets a random stride
// (any stride is valid there); and when allowed, a dim may be broadcast (stride 0).
Tensor random_view(Rng& rng, const Shape& shape, DType dtype, const std::function<double(Rng&)>& draw,
                   bool allow_broadcast, Layout* layout = nullptr) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  Layout info;
  std::vector<int64_t> order(static_cast<size_t>(rank));  // order[0] is the outermost in memory
  for (int64_t d = 0; d < rank; ++d) order[d] = d;
  if (rank >= 2 && rng.coin(0.5)) {
    for (int64_t i = rank - 1; i > 0; --i) std::swap(order[i], order[rng.uniform_int(0, i)]);
    info.transposed = !std::is_sorted(order.begin(), order.end());
  }
  Strides strides(static_cast<size_t>(rank), 0);
  int64_t extent = 1;  // elements spanned so far, innermost first
  for (int64_t i = rank - 1; i >= 0; --i) {
    const int64_t d = order[i];
    const int64_t step = rng.coin(0.25) ? rng.uniform_int(2, 3) : 1;
    const int64_t pad = rng.coin(0.25) ? rng.uniform_int(1, 2) : 0;
    info.stepped = info.stepped || step > 1 || pad > 0;
    strides[d] = extent * step;
    extent *= shape[d] * step + pad;
  }
  for (int64_t d = 0; d < rank; ++d) {
    if (shape[d] == 1 && rng.coin(0.3)) strides[d] = rng.uniform_int(0, 9);
    if (allow_broadcast && shape[d] > 1 && rng.coin(0.1)) {
      strides[d] = 0;
      info.broadcast = true;
    }
  }
  const int64_t offset = rng.coin(0.5) ? rng.uniform_int(1, 7) : 0;
  std::vector<double> values(static_cast<size_t>(offset + extent + 9));
  for (double& v : values) v = draw(rng);
  const Tensor storage = from_vector(values, {static_cast<int64_t>(values.size())}, dtype);
  if (layout) *layout = info;
  return kernels::as_strided(storage, shape, strides, offset);
}

// ---- the naive reference: one element at a time, by multi-index --------------------------

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

// x[index] for any view, read through its strides. Broadcasting: index may have more dims
// than x (leading ones are dropped), and a size-1 dim of x reads element 0.
double at(const Tensor& x, const std::vector<int64_t>& index) {
  const size_t skip = index.size() - x.shape().size();
  int64_t offset = 0;
  for (size_t d = 0; d < x.shape().size(); ++d)
    offset += (x.shape()[d] == 1 ? 0 : index[skip + d]) * x.strides()[d];
  if (x.dtype() == kFloat32) return x.data_ptr<float>()[offset];
  if (x.dtype() == kFloat64) return x.data_ptr<double>()[offset];
  return static_cast<double>(x.data_ptr<int64_t>()[offset]);
}

// Everything of a contiguous result, as doubles.
std::vector<double> values_of(const Tensor& t) {
  if (t.dtype() == kInt64) {
    const auto v = t.to_vector<int64_t>();
    return std::vector<double>(v.begin(), v.end());
  }
  return t.to_vector<double>();
}

// ---- comparing ----------------------------------------------------------------------------

// Checks got against want element by element: |got - want| <= atol + rtol |want| (scale,
// when given, replaces |want| per element: a sum's error grows with the sum of |terms|).
void expect_close(const Tensor& got, const Shape& want_shape, const std::vector<double>& want,
                  double atol, double rtol, const std::vector<double>& scale = {}) {
  ASSERT_EQ(got.shape(), want_shape);
  const std::vector<double> g = values_of(got);
  ASSERT_EQ(g.size(), want.size());
  int64_t worst = -1;
  double worst_excess = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double tolerance = atol + rtol * (scale.empty() ? std::fabs(want[i]) : scale[i]);
    const double error = std::fabs(g[i] - want[i]);
    const bool same_special = (std::isnan(g[i]) && std::isnan(want[i])) || g[i] == want[i];
    if (!same_special && !(error <= tolerance) && error - tolerance >= worst_excess) {
      worst = static_cast<int64_t>(i);
      worst_excess = std::isnan(error) ? std::numeric_limits<double>::infinity() : error - tolerance;
    }
  }
  if (worst >= 0) {
    std::ostringstream os;
    os << "(";
    const auto index = unravel(worst, want_shape);
    for (size_t d = 0; d < index.size(); ++d) os << (d ? ", " : "") << index[d];
    os << ")";
    ADD_FAILURE() << "mismatch at element " << os.str() << " of " << want_shape << ": got "
                  << g[worst] << ", want " << want[worst] << " (tolerance "
                  << atol + rtol * (scale.empty() ? std::fabs(want[worst]) : scale[worst]) << ")";
  }
}

// Runs kernel with 1 thread and with 4; the two results must match bit for bit. Returns one.
Tensor run_with_1_and_4_threads(const std::function<Tensor()>& kernel) {
  const int previous = get_num_threads();
  set_num_threads(1);
  const Tensor one = kernel();
  set_num_threads(4);
  const Tensor four = kernel();
  set_num_threads(previous);
  EXPECT_EQ(one.shape(), four.shape());
  EXPECT_EQ(one.dtype(), four.dtype());
  // (A kernel may return its input itself, a view: sum_to to the same shape does.)
  const Tensor a = kernels::contiguous(one), b = kernels::contiguous(four);
  const size_t bytes = static_cast<size_t>(a.numel()) * element_size(a.dtype());
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), bytes), 0)
      << "1 thread and 4 threads gave different bits";
  return four;
}

double normal(Rng& rng) { return rng.normal(); }
double positive(Rng& rng) { return 0.05 + 3.0 * rng.uniform(); }  // log, sqrt, 1/x domains
double away_from_zero(Rng& rng) {  // divisors
  const double m = 0.25 + 2.0 * rng.uniform();
  return rng.coin() ? m : -m;
}

// Float32 kernels compute in float: allow a few ulps on the result (and on cancellations).
double atol_for(DType dtype) { return dtype == kFloat32 ? 2e-6 : 1e-13; }
double rtol_for(DType dtype) { return dtype == kFloat32 ? 1e-5 : 1e-12; }

// ---- elementwise --------------------------------------------------------------------------

struct UnaryCase {
  kernels::Unary op;
  const char* name;
  double (*draw)(Rng&);
  double (*reference)(double);
};

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); }
double big_phi(double x) { return 0.5 * (1 + std::erf(x / std::numbers::sqrt2)); }
constexpr double kC = 0.7978845608028654;  // sqrt(2 / pi)

const std::vector<UnaryCase>& unary_cases() {
  using kernels::Unary;
  static const std::vector<UnaryCase> cases = {
      {Unary::Neg, "neg", normal, [](double x) { return -x; }},
      {Unary::Exp, "exp", normal, [](double x) { return std::exp(x); }},
      {Unary::Log, "log", positive, [](double x) { return std::log(x); }},
      {Unary::Sqrt, "sqrt", positive, [](double x) { return std::sqrt(x); }},
      {Unary::Rsqrt, "rsqrt", positive, [](double x) { return 1 / std::sqrt(x); }},
      {Unary::Abs, "abs", normal, [](double x) { return std::fabs(x); }},
      {Unary::Sign, "sign", normal, [](double x) { return double((x > 0) - (x < 0)); }},
      {Unary::Tanh, "tanh", normal, [](double x) { return std::tanh(x); }},
      {Unary::Sigmoid, "sigmoid", normal, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {Unary::Relu, "relu", normal, [](double x) { return x > 0 ? x : 0.0; }},
      {Unary::Step, "step", normal, [](double x) { return x > 0 ? 1.0 : 0.0; }},
      {Unary::Square, "square", normal, [](double x) { return x * x; }},
      {Unary::Reciprocal, "reciprocal", away_from_zero, [](double x) { return 1 / x; }},
      {Unary::Erf, "erf", normal, [](double x) { return std::erf(x); }},
      {Unary::GeluErf, "gelu", normal, [](double x) { return x * big_phi(x); }},
      {Unary::GeluTanh, "gelu_tanh", normal,
       [](double x) { return 0.5 * x * (1 + std::tanh(kC * (x + 0.044715 * x * x * x))); }},
      {Unary::GeluErfGrad, "gelu_grad", normal, [](double x) { return big_phi(x) + x * phi(x); }},
      {Unary::GeluTanhGrad, "gelu_tanh_grad", normal, [](double x) {
         const double t = std::tanh(kC * (x + 0.044715 * x * x * x));
         return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kC * (1 + 3 * 0.044715 * x * x);
       }},
  };
  return cases;
}

TEST(TensorPropertyTest, UnaryKernelsMatchANaiveLoopOnRandomLayouts) {
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.Unary", 150)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const UnaryCase& c = rng.pick(unary_cases());
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    Layout layout;
    const Tensor x = random_view(rng, random_shape(rng), dtype, c.draw, true, &layout);
    SCOPED_TRACE(std::string(c.name) + " of " + layout.str(x));
    const Tensor y = run_with_1_and_4_threads([&] { return kernels::unary(c.op, x); });
    std::vector<double> want(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) want[i] = c.reference(at(x, unravel(i, x.shape())));
    expect_close(y, x.shape(), want, atol_for(dtype), rtol_for(dtype));
  }
}

TEST(TensorPropertyTest, BinaryKernelsBroadcastLikeANaiveLoopOnRandomLayouts) {
  using kernels::Binary;
  struct BinaryCase { Binary op; const char* name; double (*reference)(double, double); };
  const std::vector<BinaryCase> cases = {
      {Binary::Add, "add", [](double a, double b) { return a + b; }},
      {Binary::Sub, "sub", [](double a, double b) { return a - b; }},
      {Binary::Mul, "mul", [](double a, double b) { return a * b; }},
      {Binary::Div, "div", [](double a, double b) { return a / b; }},
      {Binary::Maximum, "maximum", [](double a, double b) { return std::max(a, b); }},
      {Binary::Minimum, "minimum", [](double a, double b) { return std::min(a, b); }},
  };
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.Binary", 150)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const BinaryCase& c = rng.pick(cases);
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    // b's shape: a's trailing dims, each kept or set to 1; a's dims may be set to 1 as well,
    // so either side can be the one that broadcasts.
    Shape sa = random_shape(rng);
    Shape sb(sa.end() - rng.uniform_int(0, static_cast<int64_t>(sa.size())), sa.end());
    for (int64_t& size : sb) if (rng.coin(0.3)) size = 1;
    for (int64_t& size : sa) if (rng.coin(0.15)) size = 1;
    if (rng.coin()) std::swap(sa, sb);
    Layout la, lb;
    const Tensor a = random_view(rng, sa, dtype, normal, true, &la);
    const Tensor b = random_view(rng, sb, dtype, c.op == Binary::Div ? away_from_zero : normal,
                                 true, &lb);
    SCOPED_TRACE(std::string(c.name) + " of a: " + la.str(a) + ", b: " + lb.str(b));
    const Tensor y = run_with_1_and_4_threads([&] { return kernels::binary(c.op, a, b, c.name); });
    const Shape shape = broadcast_shapes(sa, sb, "test");
    std::vector<double> want(static_cast<size_t>(shape.numel()));
    for (int64_t i = 0; i < shape.numel(); ++i) {
      const auto idx = unravel(i, shape);
      want[i] = c.reference(at(a, idx), at(b, idx));
    }
    expect_close(y, shape, want, atol_for(dtype), rtol_for(dtype));
  }
}

TEST(TensorPropertyTest, ScalarKernelsCopyAndCastMatchANaiveLoopOnRandomLayouts) {
  // pow_scalar, affine (x * s + t), contiguous() and cast between float types.
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.Scalar", 100)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    const int64_t which = rng.uniform_int(0, 3);
    const double exponent = rng.pick(std::vector<double>{2.0, 1.0, 0.5, -1.5, 3.0});
    const double scale = rng.normal(), shift = rng.coin() ? 0.0 : rng.normal();
    Layout layout;
    const Tensor x = random_view(rng, random_shape(rng), dtype, which == 0 ? positive : normal,
                                 true, &layout);
    const DType to = dtype == kFloat32 ? kFloat64 : kFloat32;
    SCOPED_TRACE("op " + std::to_string(which) + " of " + layout.str(x));
    const Tensor y = run_with_1_and_4_threads([&] {
      switch (which) {
        case 0: return kernels::pow_scalar(x, exponent);
        case 1: return kernels::affine(x, scale, shift);
        case 2: return kernels::copy(x);
        default: return kernels::cast(x, to);
      }
    });
    std::vector<double> want(static_cast<size_t>(x.numel())), magnitude(want.size());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double v = at(x, unravel(i, x.shape()));
      switch (which) {
        case 0: want[i] = std::pow(v, exponent); break;
        case 1: want[i] = v * scale + shift; break;
        default: want[i] = v; break;  // a copy, or a cast (exact to float64, rounded to float32)
      }
      // x * s + t may cancel: its rounding error scales with the terms, not the result.
      magnitude[i] = which == 1 ? std::fabs(v * scale) + std::fabs(shift) : std::fabs(want[i]);
    }
    if (which == 3) {
      EXPECT_EQ(y.dtype(), to);
    }
    const DType result = which == 3 ? to : dtype;
    expect_close(y, x.shape(), want, atol_for(result), rtol_for(result), magnitude);
  }
}

// ---- reductions ---------------------------------------------------------------------------

TEST(TensorPropertyTest, ReductionsMatchANaiveLoopOnRandomLayouts) {
  using kernels::Reduce;
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.Reduce", 200)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const Reduce op = rng.pick(std::vector<Reduce>{Reduce::Sum, Reduce::Sum, Reduce::Max,
                                                   Reduce::Min, Reduce::ArgMax, Reduce::ArgMin});
    const bool arg = op == Reduce::ArgMax || op == Reduce::ArgMin;
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    const bool keepdim = rng.coin();
    Layout layout;
    const Tensor x = random_view(rng, random_shape(rng), dtype, normal, true, &layout);
    const int64_t rank = x.dim();
    // Arg-reductions take one dim; the others a random subset (empty = every dim).
    std::vector<int64_t> dims;
    if (arg && rank > 0) {
      dims.push_back(rng.uniform_int(-rank, rank - 1));
    } else if (!arg) {
      for (int64_t d = 0; d < rank; ++d)
        if (rng.coin()) dims.push_back(rng.coin(0.3) ? d - rank : d);
    }
    std::ostringstream what;
    what << "reduce op " << static_cast<int>(op) << " over dims (";
    for (size_t i = 0; i < dims.size(); ++i) what << (i ? ", " : "") << dims[i];
    what << ") keepdim " << keepdim << " of " << layout.str(x);
    SCOPED_TRACE(what.str());
    const Tensor y = run_with_1_and_4_threads([&] {
      return kernels::reduce(op, x, dims, keepdim, "reduce");
    });

    // Which dims are reduced, and the output shape with and without the kept 1s.
    std::vector<bool> reduced(static_cast<size_t>(rank), dims.empty());
    for (int64_t d : dims) reduced[static_cast<size_t>(d < 0 ? d + rank : d)] = true;
    Shape out_shape, kept_shape;
    for (int64_t d = 0; d < rank; ++d) {
      kept_shape.push_back(reduced[d] ? 1 : x.size(d));
      if (!reduced[d]) out_shape.push_back(x.size(d));
      else if (keepdim) out_shape.push_back(1);
    }
    // One pass over x in row-major order: for arg-reductions that makes "first index wins
    // ties" mean the smallest index along the dim, as the kernel promises.
    const int64_t n_out = kept_shape.numel();
    std::vector<double> want(static_cast<size_t>(n_out)), abs_sum(static_cast<size_t>(n_out), 0);
    std::vector<double> best(static_cast<size_t>(n_out));
    std::vector<bool> seen(static_cast<size_t>(n_out), false);
    const int64_t arg_dim = arg && rank > 0 ? (dims[0] < 0 ? dims[0] + rank : dims[0]) : -1;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto idx = unravel(i, x.shape());
      int64_t o = 0;
      for (int64_t d = 0; d < rank; ++d) o = o * kept_shape[d] + (reduced[d] ? 0 : idx[d]);
      const double v = at(x, idx);
      if (op == Reduce::Sum) {
        want[o] += v;
        abs_sum[o] += std::fabs(v);
        continue;
      }
      const bool want_max = op == Reduce::Max || op == Reduce::ArgMax;
      if (!seen[o] || (want_max ? v > best[o] : v < best[o])) {
        seen[o] = true;
        best[o] = v;
        want[o] = arg ? (arg_dim >= 0 ? static_cast<double>(idx[arg_dim]) : 0.0) : v;
      }
    }
    EXPECT_EQ(y.dtype(), arg ? kInt64 : dtype);
    if (op == Reduce::Sum)  // float32 sums accumulate in double, so only the last rounding
      expect_close(y, out_shape, want, 1e-300, dtype == kFloat32 ? 1e-6 : 1e-13, abs_sum);
    else
      expect_close(y, out_shape, want, 0.0, 0.0);  // a max is one of the inputs: exact
  }
}

TEST(TensorPropertyTest, SumToUndoesBroadcastingLikeANaiveLoop) {
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.SumTo", 80)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    Layout layout;
    const Tensor x = random_view(rng, random_shape(rng), dtype, normal, false, &layout);
    // The target: trailing dims of x's shape, some set to 1.
    Shape target(x.shape().end() - rng.uniform_int(0, x.dim()), x.shape().end());
    for (int64_t& size : target) if (rng.coin(0.4)) size = 1;
    std::ostringstream what;
    what << "sum_to " << target << " of " << layout.str(x);
    SCOPED_TRACE(what.str());
    const Tensor y = run_with_1_and_4_threads([&] { return kernels::sum_to(x, target); });
    std::vector<double> want(static_cast<size_t>(target.numel()), 0.0), abs_sum(want.size(), 0.0);
    const size_t skip = x.shape().size() - target.size();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto idx = unravel(i, x.shape());
      int64_t o = 0;
      for (size_t d = 0; d < target.size(); ++d) o = o * target[d] + (target[d] == 1 ? 0 : idx[skip + d]);
      const double v = at(x, idx);
      want[o] += v;
      abs_sum[o] += std::fabs(v);
    }
    expect_close(y, target, want, 1e-300, dtype == kFloat32 ? 1e-6 : 1e-13, abs_sum);
  }
}

// ---- softmax family -----------------------------------------------------------------------

TEST(TensorPropertyTest, SoftmaxFamilyMatchesANaiveLoopOnRandomLayouts) {
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("TensorPropertyTest.Softmax", 150)) {
    SCOPED_TRACE(ag::testing::replay_hint(index++, seed));
    Rng rng(seed);
    const DType dtype = rng.coin() ? kFloat32 : kFloat64;
    const int64_t kind = rng.uniform_int(0, 2);  // softmax, log_softmax, logsumexp
    const bool keepdim = rng.coin();
    // Logits up to +-30 (and sometimes near 1e4) so the max shift matters.
    const double spread = rng.pick(std::vector<double>{1.0, 10.0, 30.0});
    const double bias = rng.coin(0.2) ? 1e4 : 0.0;
    Layout layout;
    const Tensor x = random_view(
        rng, random_shape(rng), dtype,
        [spread, bias](Rng& r) { return bias + spread * r.normal(); }, true, &layout);
    const int64_t rank = x.dim();
    const int64_t dim = rank == 0 ? 0 : rng.uniform_int(-rank, rank - 1);
    std::ostringstream what;
    what << (kind == 0 ? "softmax" : kind == 1 ? "log_softmax" : "logsumexp") << " over dim "
         << dim << " keepdim " << keepdim << " of " << layout.str(x);
    SCOPED_TRACE(what.str());
    const Tensor y = run_with_1_and_4_threads([&] {
      if (kind == 0) return kernels::softmax(x, dim);
      if (kind == 1) return kernels::log_softmax(x, dim);
      return kernels::logsumexp(x, dim, keepdim);
    });

    // Rows along dim, computed in double with the max shift.
    const int64_t d = rank == 0 ? -1 : (dim < 0 ? dim + rank : dim);
    const int64_t n = d < 0 ? 1 : x.size(d);
    Shape row_shape = x.shape();  // x's shape with dim set to 1: one entry per row
    if (d >= 0) row_shape[d] = 1;
    std::vector<double> row_max(static_cast<size_t>(row_shape.numel()), -HUGE_VAL);
    std::vector<double> row_sum(row_max.size(), 0.0);
    auto row_of = [&](const std::vector<int64_t>& idx) {
      int64_t r = 0;
      for (int64_t k = 0; k < rank; ++k) r = r * row_shape[k] + (k == d ? 0 : idx[k]);
      return r;
    };
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto idx = unravel(i, x.shape());
      row_max[row_of(idx)] = std::max(row_max[row_of(idx)], at(x, idx));
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto idx = unravel(i, x.shape());
      row_sum[row_of(idx)] += std::exp(at(x, idx) - row_max[row_of(idx)]);
    }
    std::vector<double> want;
    Shape want_shape;
    if (kind == 2) {
      for (size_t r = 0; r < row_max.size(); ++r) want.push_back(row_max[r] + std::log(row_sum[r]));
      for (int64_t k = 0; k < rank; ++k)
        if (k != d) want_shape.push_back(x.size(k));
        else if (keepdim) want_shape.push_back(1);
    } else {
      want_shape = x.shape();
      for (int64_t i = 0; i < x.numel(); ++i) {
        const auto idx = unravel(i, x.shape());
        const int64_t r = row_of(idx);
        const double shifted = at(x, idx) - row_max[r];
        want.push_back(kind == 0 ? std::exp(shifted) / row_sum[r] : shifted - std::log(row_sum[r]));
      }
    }
    // log_softmax and logsumexp are sums of terms as large as the logits: scale the tolerance.
    const double magnitude = kind == 0 ? 0.0 : bias + spread * 6.0 + std::log(double(n));
    expect_close(y, want_shape, want, atol_for(dtype) * (1 + magnitude), rtol_for(dtype));
  }
}

}  // namespace
