// vector_math.h: erf and exp for float32 written as branch-free polynomials, so a plain loop
// that calls them vectorises (a call into libm's erff stops GCC from vectorising: GELU cost
// ~13% of a tiny-GPT training step, erff alone 7%). The one idea: clamp the argument into the range
// where the polynomial is accurate, evaluate it with Horner's rule, and turn every special case
// into a select (a ? b : c) rather than a branch; selects become blend instructions.
//
// Accuracy against double-precision std::erf / std::exp, measured once over every float in
// the range and re-checked on a dense grid by tests/tensor/vector_math_test.cpp:
//   erf_f32: |error| <= 4.7e-7 absolute on [-6, 6] and beyond (largest near
//            |x| = 3.27, where erf is within 1e-5 of +-1 and float's ulp is 6e-8; so ~8 ulp
//            there, <= 4 ulp of 1; GELU's x Phi(x) inherits |x|/2 times that, absolute), and
//            relative error <= 4e-7 for |x| < 1 (erf is odd: erf_f32(-x) == -erf_f32(x));
//   exp_f32: relative error <= 8.3e-8 (under 1 ulp) on [-87.3, 88]; 0 below, +inf above
//            (so (88, 88.72], where exp is still finite, is reported as +inf).
// NaN in gives NaN out. Both are always inlined: a call per element would stop the
// vectoriser just as libm's did. float64 code never uses these: it calls std::erf, exactly.
// Also here, for the same reason: row_sum, a sum in double that vectorises for float rows.
#pragma once

#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ag::kernels {
// Cephes' expf, the method behind exp_f32 below and the AVX2 / AVX-512 exp of
// tensor/simd/vec_exp.h: x = n ln2 + r with |r| <= ln2 / 2, then exp(x) = 2^n exp(r) with
// exp(r) ~ 1 + r + r^2 (p0 + p1 r + ... + p5 r^5). One set of constants for both, so the scalar
// and the vector exp cannot drift apart. (Plain constants: no instruction-set concerns.)
namespace exp_constants {
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;     // 8 significant bits: n * kLn2Hi is exact
inline constexpr float kLn2Lo = -2.12194440e-4f;  // ln2 - kLn2Hi
inline constexpr float kMinX = -87.3365447505531f;  // ln(FLT_MIN): below, the result is 0
inline constexpr float kP0 = 5.0000001201e-1f, kP1 = 1.6666665459e-1f, kP2 = 4.1665795894e-2f,
                       kP3 = 8.3334519073e-3f, kP4 = 1.3981999507e-3f, kP5 = 1.9875691500e-4f;
}  // namespace exp_constants
}  // namespace ag::kernels

// Everything is in an anonymous namespace: tensor/simd/gelu_<isa>.cpp compile these same loops
// with AVX2 / AVX-512 flags, and one copy per translation unit keeps the linker from handing a
// wide-ISA copy to a CPU without it (see tensor/simd/gemm_pack.h).
namespace ag::kernels {
namespace {

// erf(x) = x P(x^2) / Q(x^2) on [-4, 4], the rational minimax fit used by XLA and Eigen
// (generic_fast_erf_float); past |x| = 4, erf(x) rounds to +-1 in float anyway.
[[gnu::always_inline]] inline float erf_f32(float x) {
  // The comparisons are false for NaN, so NaN passes through the clamp unchanged.
  x = x < -4.0f ? -4.0f : x;
  x = x > 4.0f ? 4.0f : x;
  const float z = x * x;
  float p = -2.72614225801306e-10f;
  p = p * z + 2.77068142495902e-08f;
  p = p * z + -2.10102402082508e-06f;
  p = p * z + -5.69250639462346e-05f;
  p = p * z + -7.34990630326855e-04f;
  p = p * z + -2.95459980854025e-03f;
  p = p * z + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * z + -2.13374055278905e-04f;
  q = q * z + -1.68282697438203e-03f;
  q = q * z + -7.37332916720468e-03f;
  q = q * z + -1.42647390514189e-02f;
  return x * p / q;
}

// exp(x) as 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; e^r is Cephes' expf
// polynomial, and 2^n is built directly in the float's exponent bits.
[[gnu::always_inline]] inline float exp_f32(float x) {
  using namespace exp_constants;
  constexpr float kLo = kMinX;  // exp(kLo) is the smallest normal float
  constexpr float kHi = 88.0f;  // keeps n <= 127; exp overflows float from 88.72 anyway
  const float in = x;
  x = x > kLo ? x : kLo;  // also maps NaN to kLo; the select at the end restores it
  x = x < kHi ? x : kHi;
  // n = round-to-nearest(x log2 e): adding 1.5 * 2^23 pushes the fraction bits out.
  const float n = (x * kLog2e + 12582912.0f) - 12582912.0f;
  // r = x - n ln 2, with ln 2 split in two so n * ln2_hi is exact.
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = kP5;
  p = p * r + kP4;
  p = p * r + kP3;
  p = p * r + kP2;
  p = p * r + kP1;
  p = p * r + kP0;
  const float er = p * r * r + r + 1.0f;
  const float two_n = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  const float y = er * two_n;
  return in < kLo ? 0.0f : (in > kHi ? std::numeric_limits<float>::infinity() : (in != in ? in : y));
}

// ---- float32 GELU (exact form), built on the two above ------------------------------------
// gelu(x) = x Phi(x) = x/2 (1 + erf(x / sqrt 2))      gelu'(x) = Phi(x) + x phi(x)
[[gnu::always_inline]] inline float gelu_erf_f32(float x) {
  return 0.5f * x * (1.0f + erf_f32(x * 0.707106781186547524f));
}
// gelu'(x) = Phi(x) + x phi(x), given cdf = Phi(x) (the forward's, when it kept it).
[[gnu::always_inline]] inline float gelu_erf_grad_from_cdf_f32(float x, float cdf) {
  const float pdf = exp_f32(-0.5f * x * x) * 0.398942280401432678f;  // 1 / sqrt(2 pi)
  return cdf + x * pdf;
}
[[gnu::always_inline]] inline float gelu_erf_grad_f32(float x) {
  const float cdf = 0.5f * (1.0f + erf_f32(x * 0.707106781186547524f));
  return gelu_erf_grad_from_cdf_f32(x, cdf);
}

// The contiguous loops, one definition for every instruction set. Files compiled with wider
// ISAs build them with -ffp-contract=off, so no multiply-add is fused: every lane computes the
// same IEEE operations in the same order, and the bits never depend on the CPU or the path.
inline void gelu_erf_f32_loop(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_erf_f32(x[i]);
}
inline void gelu_erf_backward_f32_loop(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_erf_grad_f32(x[i]);
}
// bias_gelu's two loops (x = h + b, then GELU), with Phi(x) kept from the forward for the
// backward: the backward then needs one exp per element and no erf (whose division made it the
// dearer half), and it also adds each dh into db_part, the bias gradient's running sums in
// double. Adding the bias inside the loop saves a pass over a row of x. y and dh are the bits
// of the loops above applied to x = h + b, since erf_f32 gives the same Phi in both.
inline void bias_gelu_erf_cdf_f32_loop(const float* h, const float* b, float* y, float* cdf,
                                       int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = h[i] + b[i];
    const float e = erf_f32(x * 0.707106781186547524f);
    y[i] = 0.5f * x * (1.0f + e);  // gelu_erf_f32
    cdf[i] = 0.5f * (1.0f + e);    // as in gelu_erf_grad_f32
  }
}
inline void bias_gelu_erf_backward_cdf_f32_loop(const float* dy, const float* h, const float* b,
                                                const float* cdf, float* dh, double* db_part,
                                                int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = dy[i] * gelu_erf_grad_from_cdf_f32(h[i] + b[i], cdf[i]);
    dh[i] = d;
    db_part[i] += d;
  }
}

// ---- row_sum: a sum in double over one row, in a fixed order ---------------------------------
// sum over i in [0, n) of term(i), in double: a row's sums in layer_norm and cross_entropy. One
// chain of dependent adds is latency bound (each add waits ~4 cycles for the last), so float
// rows use 8 accumulators, lane k taking i = k mod 8, combined in a fixed tree: the adds
// pipeline, and the order still depends on n alone. The terms are floats summed in double, so
// the reordering moves the sum by ~1e-16 relative and a float32 result almost never by a bit.
// float64 rows keep the single left-to-right chain, as they always had.
//
// The 8 accumulators are one Doubles8: eight doubles in this build's vectors (two AVX quads,
// or four SSE2 pairs in the baseline build), every lane the same IEEE operation in either, so
// both builds give the same bits. A term is written once for both widths, as term(i, lanes):
// with Lanes<Doubles8> it gives terms i .. i + 7, with Lanes<double> term i alone; load(lanes,
// p) reads p[0], or p[0 .. 7], as doubles, and a double in the arithmetic applies to every
// lane. (Eight scalar accumulators in an array, as this was first written, stayed scalar:
// GCC's vectoriser did not pack them, so layer norm's backward ran 96 scalar float-to-double
// conversions per row where 12 vector ones do.)
#if defined(__AVX__)
struct Doubles8 {
  __m256d lo, hi;  // lanes 0-3, 4-7
};
[[gnu::always_inline]] inline Doubles8 splat8(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
template <typename Op>
[[gnu::always_inline]] inline Doubles8 lanewise(const Doubles8& a, const Doubles8& b, Op op) {
  return {op(a.lo, b.lo), op(a.hi, b.hi)};
}
[[gnu::always_inline]] inline Doubles8 operator+(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m256d x, __m256d y) { return _mm256_add_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 operator-(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m256d x, __m256d y) { return _mm256_sub_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 operator*(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m256d x, __m256d y) { return _mm256_mul_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 load8(const float* p) {
  return {_mm256_cvtps_pd(_mm_loadu_ps(p)), _mm256_cvtps_pd(_mm_loadu_ps(p + 4))};
}
[[gnu::always_inline]] inline void store8(double* out, const Doubles8& d) {
  _mm256_storeu_pd(out, d.lo);
  _mm256_storeu_pd(out + 4, d.hi);
}
#else
struct Doubles8 {
  __m128d q0, q1, q2, q3;  // lanes 0-1, 2-3, 4-5, 6-7
};
[[gnu::always_inline]] inline Doubles8 splat8(double x) {
  const __m128d v = _mm_set1_pd(x);
  return {v, v, v, v};
}
template <typename Op>
[[gnu::always_inline]] inline Doubles8 lanewise(const Doubles8& a, const Doubles8& b, Op op) {
  return {op(a.q0, b.q0), op(a.q1, b.q1), op(a.q2, b.q2), op(a.q3, b.q3)};
}
[[gnu::always_inline]] inline Doubles8 operator+(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m128d x, __m128d y) { return _mm_add_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 operator-(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m128d x, __m128d y) { return _mm_sub_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 operator*(const Doubles8& a, const Doubles8& b) {
  return lanewise(a, b, [](__m128d x, __m128d y) { return _mm_mul_pd(x, y); });
}
[[gnu::always_inline]] inline Doubles8 load8(const float* p) {
  const __m128 lo = _mm_loadu_ps(p), hi = _mm_loadu_ps(p + 4);
  return {_mm_cvtps_pd(lo), _mm_cvtps_pd(_mm_movehl_ps(lo, lo)), _mm_cvtps_pd(hi),
          _mm_cvtps_pd(_mm_movehl_ps(hi, hi))};
}
[[gnu::always_inline]] inline void store8(double* out, const Doubles8& d) {
  _mm_storeu_pd(out, d.q0);
  _mm_storeu_pd(out + 2, d.q1);
  _mm_storeu_pd(out + 4, d.q2);
  _mm_storeu_pd(out + 6, d.q3);
}
#endif
[[gnu::always_inline]] inline Doubles8 operator+(const Doubles8& a, double b) { return a + splat8(b); }
[[gnu::always_inline]] inline Doubles8 operator-(const Doubles8& a, double b) { return a - splat8(b); }
[[gnu::always_inline]] inline Doubles8 operator*(const Doubles8& a, double b) { return a * splat8(b); }
[[gnu::always_inline]] inline Doubles8 operator*(double a, const Doubles8& b) { return splat8(a) * b; }

template <typename D>
struct Lanes {};  // a tag: which width a row_sum term computes
[[gnu::always_inline]] inline double load(Lanes<double>, const float* p) { return *p; }
[[gnu::always_inline]] inline double load(Lanes<double>, const double* p) { return *p; }
[[gnu::always_inline]] inline Doubles8 load(Lanes<Doubles8>, const float* p) { return load8(p); }

template <typename T, typename Term>
[[gnu::always_inline]] inline double row_sum(int64_t n, Term term) {
  if constexpr (std::is_same_v<T, float>) {
    Doubles8 acc = splat8(0.0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = acc + term(i, Lanes<Doubles8>{});
    double tail = 0.0;
    for (; i < n; ++i) tail += term(i, Lanes<double>{});
    double a[8];
    store8(a, acc);
    return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;
  } else {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += term(i, Lanes<double>{});
    return sum;
  }
}

}  // namespace
}  // namespace ag::kernels
