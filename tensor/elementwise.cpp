// elementwise.cpp: copies, casts and every elementwise kernel (unary, binary with broadcasting,
// comparisons, where, masked_fill). All run on strided_loop.h: operands are described by
// (broadcast shape, own strides), so a transposed or expanded input costs no copy, and a
// contiguous one becomes a single flat loop the compiler vectorises.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/kernels.h"
#include "tensor/simd/gelu_simd.h"
#include "tensor/strided_loop.h"
#include "tensor/vector_math.h"

namespace ag::kernels {

namespace {

void require_defined(const Tensor& t, std::string_view op, std::string_view name) {
  if (!t.defined()) throw Error(op, name, " is an undefined tensor");
}

void require_same_dtype(const Tensor& a, const Tensor& b, std::string_view op) {
  if (a.dtype() != b.dtype())
    throw Error(op, "dtype mismatch: ", a.dtype(), " ", a.shape(), " and ", b.dtype(), " ",
                b.shape(), " (convert one with .to(dtype))");
}

// out[i] = f(x[i]) for a fresh contiguous out of x's shape.
template <typename TOut, typename TIn, typename F>
Tensor map1(const Tensor& x, DType out_dtype, F f) {
  Tensor out = empty(x.shape(), out_dtype);
  TOut* o = out.data_ptr<TOut>();
  const TIn* in = x.data_ptr<TIn>();
  if (x.is_contiguous()) {  // the common case: one flat loop, no layout to build
    parallel_for(0, x.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = f(in[i]);
    });
    return out;
  }
  StridedLayout<2> layout(x.shape(), {contiguous_strides(x.shape()), x.strides()});
  parallel_for_each_run(layout, [&](int64_t, std::array<int64_t, 2> off, int64_t n,
                                    std::array<int64_t, 2> inc) {
    TOut* po = o + off[0];
    const TIn* pi = in + off[1];
    if (inc[1] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pi[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pi[i * inc[1]]);
    }
  });
  return out;
}

// True when `shape` holds n elements along its last dim and 1 along every other: (n), (1, n).
bool is_row_vector_of(const Shape& shape, int64_t n) {
  if (shape.empty() || shape.back() != n) return false;
  for (size_t d = 0; d + 1 < shape.size(); ++d)
    if (shape[d] != 1) return false;
  return true;
}

// out[i] = f(a[i], b[i]) with a and b broadcast to a common shape.
template <typename TOut, typename TA, typename TB, typename F>
Tensor map2(const Tensor& a, const Tensor& b, DType out_dtype, std::string_view op, F f) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = empty(shape, out_dtype);
  TOut* o = out.data_ptr<TOut>();
  const TA* pa0 = a.data_ptr<TA>();
  const TB* pb0 = b.data_ptr<TB>();
  if (a.shape() == shape && b.shape() == shape && a.is_contiguous() && b.is_contiguous()) {
    // Same shape, both contiguous: one flat loop (the same chunks as the strided path).
    parallel_for(0, shape.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = f(pa0[i], pb0[i]);
    });
    return out;
  }
  if (a.shape() == shape && a.is_contiguous() && b.is_contiguous() && !shape.empty() &&
      is_row_vector_of(b.shape(), shape.back())) {
    // a: (..., N) contiguous, b: (N) broadcast along every row (a bias add): walk a flat and
    // b cyclically, one vectorisable loop per stretch of a row inside the chunk.
    const int64_t N = shape.back();
    parallel_for(0, shape.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t c0 = i % N;
        const int64_t n = std::min(N - c0, end - i);
        TOut* po = o + i;
        const TA* pa = pa0 + i;
        const TB* pb = pb0 + c0;
        for (int64_t k = 0; k < n; ++k) po[k] = f(pa[k], pb[k]);
        i += n;
      }
    });
    return out;
  }
  StridedLayout<3> layout(shape, {contiguous_strides(shape),
                                  broadcast_strides(a.shape(), a.strides(), shape),
                                  broadcast_strides(b.shape(), b.strides(), shape)});
  parallel_for_each_run(layout, [&](int64_t, std::array<int64_t, 3> off, int64_t n,
                                    std::array<int64_t, 3> inc) {
    TOut* po = o + off[0];
    const TA* pa = pa0 + off[1];
    const TB* pb = pb0 + off[2];
    if (inc[1] == 1 && inc[2] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (inc[1] == 1 && inc[2] == 0) {
      const TB vb = *pb;
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    } else {
      for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i * inc[1]], pb[i * inc[2]]);
    }
  });
  return out;
}

}  // namespace

// ---- layout -------------------------------------------------------------------------------

Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

Tensor contiguous(const Tensor& x) {
  require_defined(x, "contiguous", "the input");
  return x.is_contiguous() ? x : copy(x);
}

namespace {

// out (R, C) row-major = a transposed matrix: element (r, c) at src[r + c * ld]. Read element by
// element, every read lands ld elements past the last (a new cache line each time); tiles of
// kTile x kTile read kTile whole lines and write kTile whole rows instead. Row blocks are split
// across threads by a grain fixed by C alone; a copy is exact, so the bits never depend on it.
template <typename T>
void copy_transposed(T* out, const T* src, int64_t R, int64_t C, int64_t ld) {
  constexpr int64_t kTile = 16;
  const int64_t blocks = (R + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / (kTile * std::max<int64_t>(C, 1)));
  parallel_for(0, blocks, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t r0 = b0 * kTile; r0 < std::min(R, b1 * kTile); r0 += kTile) {
      const int64_t r1 = std::min(R, r0 + kTile);
      for (int64_t c0 = 0; c0 < C; c0 += kTile) {
        const int64_t c1 = std::min(C, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) out[r * C + c] = src[r + c * ld];
      }
    }
  });
}

}  // namespace

Tensor copy(const Tensor& x) {
  require_defined(x, "copy", "the input");
  if (x.dim() == 2 && x.size(0) > 1 && x.size(1) > 1 && x.stride(0) == 1 &&
      x.stride(1) >= x.size(0)) {
    // A transposed matrix (W.t() and the gradients that come back through it): tiled.
    Tensor out = empty(x.shape(), x.dtype());
    dispatch_all(x.dtype(), [&](auto zero) {
      using T = decltype(zero);
      copy_transposed(out.data_ptr<T>(), x.data_ptr<T>(), x.size(0), x.size(1), x.stride(1));
    });
    return out;
  }
  return dispatch_all(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return map1<T, T>(x, x.dtype(), [](T v) { return v; });
  });
}

void copy_into(const Tensor& dst, const Tensor& src) {
  require_defined(dst, "copy_", "the destination");
  require_defined(src, "copy_", "the source");
  require_same_dtype(dst, src, "copy_");
  dispatch_all(dst.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* d0 = dst.data_ptr<T>();
    const T* s0 = src.data_ptr<T>();
    StridedLayout<2> layout(dst.shape(), {dst.strides(),
                                          broadcast_strides(src.shape(), src.strides(), dst.shape())});
    parallel_for_each_run(layout, [&](int64_t, std::array<int64_t, 2> off, int64_t n,
                                      std::array<int64_t, 2> inc) {
      T* pd = d0 + off[0];
      const T* ps = s0 + off[1];
      // Runs that are plain copies or fills get loops the compiler can vectorise.
      if (inc[0] == 1 && inc[1] == 1) {
        std::copy_n(ps, n, pd);  // memmove: no aliasing test per run
      } else if (inc[0] == 1 && inc[1] == 0) {
        const T v = *ps;
        for (int64_t i = 0; i < n; ++i) pd[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) pd[i * inc[0]] = ps[i * inc[1]];
      }
    });
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  require_defined(x, "to", "the input");
  if (x.dtype() == dtype) return x;
  return dispatch_all(dtype, [&](auto out_zero) {
    using TOut = decltype(out_zero);
    return dispatch_all(x.dtype(), [&](auto in_zero) {
      using TIn = decltype(in_zero);
      return map1<TOut, TIn>(x, dtype, [](TIn v) { return static_cast<TOut>(v); });
    });
  });
}

// ---- unary --------------------------------------------------------------------------------

namespace {

// float32 GELU uses the branch-free erf_f32 / exp_f32 of vector_math.h, so its loops
// vectorise; float64 keeps libm's std::erf and std::exp (gradcheck compares against it).
template <typename T>
[[gnu::always_inline]] inline T erf_any(T x) {
  if constexpr (std::is_same_v<T, float>) return erf_f32(x);
  else return std::erf(x);
}
template <typename T>
[[gnu::always_inline]] inline T exp_any(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_f32(x);
  else return std::exp(x);
}

template <typename T>
[[gnu::always_inline]] inline T gelu_erf(T x) {
  if constexpr (std::is_same_v<T, float>) return gelu_erf_f32(x);
  else return T(0.5) * x * (T(1) + std::erf(x * T(std::numbers::sqrt2 / 2)));
}
// GELU's tanh form: inner = sqrt(2/pi) (x + 0.044715 x^3).
inline constexpr double kSqrt2OverPi = std::numbers::sqrt2 * std::numbers::inv_sqrtpi;
inline constexpr double kGeluCubic = 0.044715;
template <typename T>
T gelu_tanh(T x) {
  const T inner = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
  return T(0.5) * x * (T(1) + std::tanh(inner));
}
// d/dx x*Phi(x) = Phi(x) + x*phi(x), phi the standard normal density.
template <typename T>
[[gnu::always_inline]] inline T gelu_erf_grad(T x) {
  if constexpr (std::is_same_v<T, float>) return gelu_erf_grad_f32(x);
  const T cdf = T(0.5) * (T(1) + erf_any(x * T(std::numbers::sqrt2 / 2)));
  const T pdf = exp_any(T(-0.5) * x * x) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  return cdf + x * pdf;
}
// d2/dx2 x*Phi(x) = 2 phi(x) + x phi'(x) = phi(x) (2 - x^2).
template <typename T>
T gelu_erf_grad2(T x) {
  const T pdf = std::exp(T(-0.5) * x * x) * T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  return pdf * (T(2) - x * x);
}
// With u = inner(x), t = tanh(u): y = x(1+t)/2, y' = (1+t)/2 + x(1-t^2)u'/2.
template <typename T>
[[gnu::always_inline]] inline T gelu_tanh_grad(T x) {
  const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
  const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
  const T t = std::tanh(u);
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
}
// y'' = (1-t^2)u' + x/2 [ -2t(1-t^2)u'^2 + (1-t^2)u'' ],  u'' = 6*0.044715*sqrt(2/pi)*x.
template <typename T>
T gelu_tanh_grad2(T x) {
  const T u = T(kSqrt2OverPi) * (x + T(kGeluCubic) * x * x * x);
  const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluCubic) * x * x);
  const T ddu = T(kSqrt2OverPi * 6 * kGeluCubic) * x;
  const T t = std::tanh(u);
  const T sech2 = T(1) - t * t;
  return sech2 * du + T(0.5) * x * (T(-2) * t * sech2 * du * du + sech2 * ddu);
}

template <typename T>
Tensor unary_typed(Unary op, const Tensor& x) {
  const DType dt = x.dtype();
  switch (op) {
    case Unary::Neg: return map1<T, T>(x, dt, [](T v) { return static_cast<T>(-v); });
    case Unary::Abs: return map1<T, T>(x, dt, [](T v) { return v < T(0) ? static_cast<T>(-v) : v; });
    case Unary::Sign:
      return map1<T, T>(x, dt, [](T v) { return static_cast<T>((T(0) < v) - (v < T(0))); });
    case Unary::Square: return map1<T, T>(x, dt, [](T v) { return static_cast<T>(v * v); });
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case Unary::Exp: return map1<T, T>(x, dt, [](T v) { return std::exp(v); });
      case Unary::Log: return map1<T, T>(x, dt, [](T v) { return std::log(v); });
      case Unary::Sqrt: return map1<T, T>(x, dt, [](T v) { return std::sqrt(v); });
      case Unary::Rsqrt: return map1<T, T>(x, dt, [](T v) { return T(1) / std::sqrt(v); });
      case Unary::Tanh: return map1<T, T>(x, dt, [](T v) { return std::tanh(v); });
      case Unary::Sigmoid:
        // Written so neither branch overflows: exp() only ever sees a non-positive argument.
        return map1<T, T>(x, dt, [](T v) {
          if (v >= T(0)) return T(1) / (T(1) + std::exp(-v));
          const T e = std::exp(v);
          return e / (T(1) + e);
        });
      case Unary::Relu: return map1<T, T>(x, dt, [](T v) { return v > T(0) ? v : T(0); });
      case Unary::Step: return map1<T, T>(x, dt, [](T v) { return v > T(0) ? T(1) : T(0); });
      case Unary::Reciprocal: return map1<T, T>(x, dt, [](T v) { return T(1) / v; });
      case Unary::Erf: return map1<T, T>(x, dt, [](T v) { return std::erf(v); });
      case Unary::GeluErf: return map1<T, T>(x, dt, [](T v) { return gelu_erf(v); });
      case Unary::GeluTanh: return map1<T, T>(x, dt, [](T v) { return gelu_tanh(v); });
      case Unary::GeluErfGrad: return map1<T, T>(x, dt, [](T v) { return gelu_erf_grad(v); });
      case Unary::GeluTanhGrad: return map1<T, T>(x, dt, [](T v) { return gelu_tanh_grad(v); });
      case Unary::GeluErfGrad2: return map1<T, T>(x, dt, [](T v) { return gelu_erf_grad2(v); });
      case Unary::GeluTanhGrad2: return map1<T, T>(x, dt, [](T v) { return gelu_tanh_grad2(v); });
      default: break;
    }
  }
  throw Error("unary", "this elementwise function needs a floating tensor, got ", x.dtype());
}

}  // namespace

namespace {

// The float32 GELU loops for this CPU, chosen once: AVX-512, AVX2, or the baseline build.
// All give the same bits (see vector_math.h), so the choice only changes the speed.
struct GeluLoops {
  void (*forward)(const float* x, float* y, int64_t n);
  void (*backward)(const float* dy, const float* x, float* dx, int64_t n);
  // bias_gelu's: x = h + b, keeping Phi(x) in the forward; the backward also adds dh to db_part.
  void (*bias_forward_cdf)(const float* h, const float* b, float* y, float* cdf, int64_t n);
  void (*bias_backward_cdf)(const float* dy, const float* h, const float* b, const float* cdf,
                            float* dh, double* db_part, int64_t n);
};

const GeluLoops& gelu_loops() {
  static const GeluLoops loops = [] {
#if defined(AG_HAVE_SIMD)
    if (cpu_has_avx512())
      return GeluLoops{simd::gelu_erf_f32_avx512, simd::gelu_erf_backward_f32_avx512,
                       simd::bias_gelu_erf_cdf_f32_avx512,
                       simd::bias_gelu_erf_backward_cdf_f32_avx512};
    if (cpu_has_avx2())
      return GeluLoops{simd::gelu_erf_f32_avx2, simd::gelu_erf_backward_f32_avx2,
                       simd::bias_gelu_erf_cdf_f32_avx2, simd::bias_gelu_erf_backward_cdf_f32_avx2};
#endif
    return GeluLoops{gelu_erf_f32_loop, gelu_erf_backward_f32_loop, bias_gelu_erf_cdf_f32_loop,
                     bias_gelu_erf_backward_cdf_f32_loop};
  }();
  return loops;
}

}  // namespace

Tensor unary(Unary op, const Tensor& x) {
  require_defined(x, "unary", "the input");
  if (op == Unary::GeluErf && x.dtype() == kFloat32 && x.is_contiguous()) {
    Tensor out = empty(x.shape(), kFloat32);
    const float* in = x.data_ptr<float>();
    float* o = out.data_ptr<float>();
    const auto forward = gelu_loops().forward;
    parallel_for(0, x.numel(), kElementwiseGrain,
                 [&](int64_t begin, int64_t end) { forward(in + begin, o + begin, end - begin); });
    return out;
  }
  if (x.dtype() == kBool) throw Error("unary", "not defined for bool tensors");
  return dispatch_all(x.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) return x;
    else return unary_typed<T>(op, x);
  });
}

Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool tanh_form) {
  require_defined(dy, "gelu_backward", "dy");
  require_defined(x, "gelu_backward", "x");
  require_same_dtype(dy, x, "gelu_backward");
  if (!tanh_form && x.dtype() == kFloat32 && dy.shape() == x.shape() && dy.is_contiguous() &&
      x.is_contiguous()) {
    Tensor dx = empty(x.shape(), kFloat32);
    const float* pdy = dy.data_ptr<float>();
    const float* px = x.data_ptr<float>();
    float* pdx = dx.data_ptr<float>();
    const auto backward = gelu_loops().backward;
    parallel_for(0, x.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      backward(pdy + begin, px + begin, pdx + begin, end - begin);
    });
    return dx;
  }
  return dispatch_floating(x.dtype(), "gelu_backward", [&](auto zero) {
    using T = decltype(zero);
    // The same product dy * gelu'(x) as the unfused form, so the bits agree with it.
    if (tanh_form)
      return map2<T, T, T>(dy, x, x.dtype(), "gelu_backward",
                           [](T g, T v) { return g * gelu_tanh_grad(v); });
    return map2<T, T, T>(dy, x, x.dtype(), "gelu_backward",
                         [](T g, T v) { return g * gelu_erf_grad(v); });
  });
}

// ---- bias + GELU, fused -------------------------------------------------------------------
// The MLP's first layer ends in gelu(x W^T + b). Adding b while applying GELU saves a pass over
// the (N, 4C) activations each way: the forward no longer writes the bias before the GEMM, and
// the backward sums db from dh while dh is being written instead of reading it again. Each row
// is t = h + b (one float add, as the unfused form), then the same GELU loop, so y and dh are
// bitwise those of gelu(h + b) and its backward.
//
// float32 with the exact (erf) form may also keep Phi(t) from the forward (one float per
// element, while the graph holds the node): the backward then skips the erf, whose polynomial
// and division were half of its cost, and gets the same bits.

namespace {
constexpr int64_t kBiasGeluRows = 32;  // rows per chunk; db keeps one partial per chunk

void check_bias_gelu(const Tensor& h, const Tensor& b, const char* op) {
  require_defined(h, op, "h");
  require_defined(b, op, "the bias");
  require_same_dtype(h, b, op);
  if (!h.is_contiguous() || !b.is_contiguous() || b.dim() != 1 || h.dim() < 1 ||
      h.size(-1) != b.size(0))
    throw Error(op, "needs a contiguous h (..., C) and bias (C); got h ", h.shape(), ", bias ",
                b.shape());
}

// One row: t = h + b into the scratch row t, then y = gelu(t) (forward, dy null) or
// dh = dy * gelu'(t) (backward) into out, whose values the backward also adds to db_part (C
// running sums in double). t is separate from out so the vector loops never see their input
// and output alias (the compiler would fall back to scalar code for that).
// Float32 erf form only, or null: keep_cdf, the forward's row of Phi(t) to write; kept_cdf,
// the backward's to read. With either, one fused loop adds the bias itself (and sums db).
template <typename T>
void bias_gelu_row(T* out, T* t, const T* h, const T* b, const T* dy, double* db_part,
                   float* keep_cdf, const float* kept_cdf, int64_t C, bool tanh_form) {
  if constexpr (std::is_same_v<T, float>) {
    if (!tanh_form && (keep_cdf || kept_cdf)) {
      const GeluLoops& loops = gelu_loops();
      if (dy) loops.bias_backward_cdf(dy, h, b, kept_cdf, out, db_part, C);
      else loops.bias_forward_cdf(h, b, out, keep_cdf, C);
      return;
    }
  }
  for (int64_t c = 0; c < C; ++c) t[c] = h[c] + b[c];
  const bool float_erf = std::is_same_v<T, float> && !tanh_form;  // the vector GELU loops
  if constexpr (std::is_same_v<T, float>) {
    if (float_erf) {
      const GeluLoops& loops = gelu_loops();
      if (dy) loops.backward(dy, t, out, C);
      else loops.forward(t, out, C);
    }
  }
  if (!float_erf) {
    for (int64_t c = 0; c < C; ++c) {
      if (dy) out[c] = dy[c] * (tanh_form ? gelu_tanh_grad(t[c]) : gelu_erf_grad(t[c]));
      else out[c] = tanh_form ? gelu_tanh(t[c]) : gelu_erf(t[c]);
    }
  }
  if (dy)
    for (int64_t c = 0; c < C; ++c) db_part[c] += out[c];
}
}  // namespace

Tensor bias_gelu(const Tensor& h, const Tensor& b, bool tanh_form, Tensor* cdf) {
  check_bias_gelu(h, b, "bias_gelu");
  Tensor y = empty(h.shape(), h.dtype());
  const bool keep_cdf = cdf && !tanh_form && h.dtype() == kFloat32;
  if (cdf) *cdf = keep_cdf ? empty(h.shape(), kFloat32) : Tensor();
  const int64_t C = b.size(0), N = C == 0 ? 0 : h.numel() / C;
  dispatch_floating(h.dtype(), "bias_gelu", [&](auto zero) {
    using T = decltype(zero);
    const T* hp = h.data_ptr<T>();
    const T* bp = b.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    float* cdfp = keep_cdf ? cdf->data_ptr<float>() : nullptr;
    parallel_for(0, N, kBiasGeluRows, [&](int64_t r0, int64_t r1) {
      std::vector<T> t(static_cast<size_t>(C));
      for (int64_t r = r0; r < r1; ++r)
        bias_gelu_row<T>(yp + r * C, t.data(), hp + r * C, bp, nullptr, nullptr,
                         cdfp ? cdfp + r * C : nullptr, nullptr, C, tanh_form);
    });
  });
  return y;
}

std::pair<Tensor, Tensor> bias_gelu_backward(const Tensor& dy, const Tensor& h, const Tensor& b,
                                             bool tanh_form, const Tensor& cdf) {
  check_bias_gelu(h, b, "bias_gelu_backward");
  require_defined(dy, "bias_gelu_backward", "dy");
  require_same_dtype(dy, h, "bias_gelu_backward");
  if (!dy.is_contiguous() || dy.shape() != h.shape())
    throw Error("bias_gelu_backward", "dy must be contiguous and shaped as h ", h.shape(),
                ", got ", dy.shape());
  if (cdf.defined() && (tanh_form || h.dtype() != kFloat32 || cdf.dtype() != kFloat32 ||
                        !cdf.is_contiguous() || cdf.shape() != h.shape()))
    throw Error("bias_gelu_backward", "the kept cdf must be a contiguous float32 tensor shaped as ",
                "h ", h.shape(), " from the erf form; got ", cdf.dtype(), " ", cdf.shape(),
                tanh_form ? " with the tanh form" : "");
  Tensor dh = empty(h.shape(), h.dtype()), db = empty(b.shape(), b.dtype());
  const int64_t C = b.size(0), N = C == 0 ? 0 : h.numel() / C;
  const int64_t num_chunks = (N + kBiasGeluRows - 1) / kBiasGeluRows;
  std::vector<double> partial(static_cast<size_t>(num_chunks * C), 0.0);  // (chunks, C)
  dispatch_floating(h.dtype(), "bias_gelu_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* dyp = dy.data_ptr<T>();
    const T* hp = h.data_ptr<T>();
    const T* bp = b.data_ptr<T>();
    T* dhp = dh.data_ptr<T>();
    const float* cdfp = cdf.defined() ? cdf.data_ptr<float>() : nullptr;
    parallel_for(0, N, kBiasGeluRows, [&](int64_t r0, int64_t r1) {
      double* part = partial.data() + (r0 / kBiasGeluRows) * C;
      std::vector<T> t(static_cast<size_t>(C));
      for (int64_t r = r0; r < r1; ++r) {
        bias_gelu_row<T>(dhp + r * C, t.data(), hp + r * C, bp, dyp + r * C, part, nullptr,
                         cdfp ? cdfp + r * C : nullptr, C, tanh_form);
      }
    });
    T* dbp = db.data_ptr<T>();
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int64_t k = 0; k < num_chunks; ++k) sum += partial[k * C + c];  // chunk order
      dbp[c] = static_cast<T>(sum);
    }
  });
  return {dh, db};
}

Tensor pow_scalar(const Tensor& x, double exponent) {
  return dispatch_floating(x.dtype(), "pow", [&](auto zero) {
    using T = decltype(zero);
    const T e = static_cast<T>(exponent);
    if (exponent == 2.0) return map1<T, T>(x, x.dtype(), [](T v) { return v * v; });
    if (exponent == 1.0) return map1<T, T>(x, x.dtype(), [](T v) { return v; });
    return map1<T, T>(x, x.dtype(), [e](T v) { return std::pow(v, e); });
  });
}

Tensor affine(const Tensor& x, double scale, double shift) {
  return dispatch_floating(x.dtype(), "affine", [&](auto zero) {
    using T = decltype(zero);
    const T s = static_cast<T>(scale), b = static_cast<T>(shift);
    if (shift == 0.0) return map1<T, T>(x, x.dtype(), [s](T v) { return v * s; });
    return map1<T, T>(x, x.dtype(), [s, b](T v) { return v * s + b; });
  });
}

// ---- binary -------------------------------------------------------------------------------

Tensor binary(Binary op, const Tensor& a, const Tensor& b, std::string_view op_name) {
  require_defined(a, op_name, "the first operand");
  require_defined(b, op_name, "the second operand");
  require_same_dtype(a, b, op_name);
  if (a.dtype() == kBool) throw Error(op_name, "arithmetic on bool tensors is not supported");
  return dispatch_all(a.dtype(), [&](auto zero) -> Tensor {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      return a;
    } else {
      const DType dt = a.dtype();
      switch (op) {
        case Binary::Add: return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return x + y; });
        case Binary::Sub: return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return x - y; });
        case Binary::Mul: return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return x * y; });
        case Binary::Div:
          if constexpr (std::is_integral_v<T>)
            throw Error(op_name, "integer division is not supported; convert to a float dtype");
          else
            return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return x / y; });
        case Binary::Maximum:
          return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return x < y ? y : x; });
        case Binary::Minimum:
          return map2<T, T, T>(a, b, dt, op_name, [](T x, T y) { return y < x ? y : x; });
      }
      return a;
    }
  });
}

// ---- comparisons, logic, where, masked_fill ----------------------------------------------

namespace {
template <typename T>
bool compare_values(Compare op, T x, T y) {
  switch (op) {
    case Compare::Eq: return x == y;
    case Compare::Ne: return x != y;
    case Compare::Lt: return x < y;
    case Compare::Le: return x <= y;
    case Compare::Gt: return x > y;
    case Compare::Ge: return x >= y;
  }
  return false;
}
}  // namespace

Tensor compare(Compare op, const Tensor& a, const Tensor& b, std::string_view op_name) {
  require_defined(a, op_name, "the first operand");
  require_defined(b, op_name, "the second operand");
  require_same_dtype(a, b, op_name);
  return dispatch_all(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return map2<bool, T, T>(a, b, kBool, op_name,
                            [op](T x, T y) { return compare_values(op, x, y); });
  });
}

Tensor compare_scalar(Compare op, const Tensor& a, double value) {
  return compare(op, a, full({}, value, a.dtype()), "compare");
}

Tensor logical_not(const Tensor& mask) {
  if (mask.dtype() != kBool) throw Error("logical_not", "expected a bool tensor, got ", mask.dtype());
  return map1<bool, bool>(mask, kBool, [](bool v) { return !v; });
}

Tensor logical_and(const Tensor& a, const Tensor& b) {
  if (a.dtype() != kBool || b.dtype() != kBool)
    throw Error("logical_and", "expected bool tensors, got ", a.dtype(), " and ", b.dtype());
  return map2<bool, bool, bool>(a, b, kBool, "logical_and", [](bool x, bool y) { return x && y; });
}

Tensor logical_or(const Tensor& a, const Tensor& b) {
  if (a.dtype() != kBool || b.dtype() != kBool)
    throw Error("logical_or", "expected bool tensors, got ", a.dtype(), " and ", b.dtype());
  return map2<bool, bool, bool>(a, b, kBool, "logical_or", [](bool x, bool y) { return x || y; });
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, std::string_view op_name) {
  require_defined(cond, op_name, "the condition");
  if (cond.dtype() != kBool)
    throw Error(op_name, "the condition must be a bool tensor, got ", cond.dtype());
  require_same_dtype(a, b, op_name);
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), op_name),
                                       b.shape(), op_name);
  Tensor out = empty(shape, a.dtype());
  dispatch_all(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* o = out.data_ptr<T>();
    const bool* c0 = cond.data_ptr<bool>();
    const T* a0 = a.data_ptr<T>();
    const T* b0 = b.data_ptr<T>();
    StridedLayout<4> layout(shape, {contiguous_strides(shape),
                                    broadcast_strides(cond.shape(), cond.strides(), shape),
                                    broadcast_strides(a.shape(), a.strides(), shape),
                                    broadcast_strides(b.shape(), b.strides(), shape)});
    parallel_for_each_run(layout, [&](int64_t, std::array<int64_t, 4> off, int64_t n,
                                      std::array<int64_t, 4> inc) {
      for (int64_t i = 0; i < n; ++i)
        o[off[0] + i] = c0[off[1] + i * inc[1]] ? a0[off[2] + i * inc[2]] : b0[off[3] + i * inc[3]];
    });
  });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, std::string_view op_name) {
  require_defined(x, op_name, "the input");
  require_defined(mask, op_name, "the mask");
  if (mask.dtype() != kBool)
    throw Error(op_name, "the mask must be a bool tensor (true = fill), got ", mask.dtype());
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), op_name);
  if (shape != x.shape())
    throw Error(op_name, "mask of shape ", mask.shape(), " does not broadcast to the input's shape ",
                x.shape());
  return where(mask, full({}, value, x.dtype()), x, op_name);
}

}  // namespace ag::kernels
