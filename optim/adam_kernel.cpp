// adam_kernel.cpp: the fused Adam / AdamW loop (formulas in adam_kernel.h).
// Scalars are computed once per parameter in double, as PyTorch computes them in Python, and
// cast to the element type T before the loop, as ATen casts a Python float for a float32
// tensor. Each element depends only on itself; Optimizer::step cuts every parameter into
// fixed-size chunks (never derived from the thread count), so 1 thread or 16 give the same
// bits, and runs all parameters' chunks in one parallel_for (the job built here).
#include "optim/adam_kernel.h"

#include <cmath>

#include "tensor/kernels.h"

namespace ag::optim::detail {

namespace {

template <typename T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  T neg_step_size;          // -lr / (1 - beta1^step)
  T weight_decay;           // Adam's L2 coefficient
  T decay_factor;           // AdamW's 1 - lr * weight_decay
};

// How the weight decay enters: not at all, as an L2 term in g (Adam), or on p (AdamW).
enum class Decay { None, L2, Decoupled };

// p, grad, m, v, v_max: n contiguous elements (v_max only with kAmsgrad). The options are
// template parameters so the loop body has no branches and the compiler can vectorise it;
// vector and scalar IEEE add, mul, div and sqrt round alike, so the bits do not change.
template <typename T, Decay kDecay, bool kAmsgrad, bool kMaximize>
void adam_loop(T* p, const T* grad, T* m, T* v, T* v_max, int64_t n, const AdamScalars<T>& s) {
  for (int64_t i = 0; i < n; ++i) {
    T g = kMaximize ? -grad[i] : grad[i];
    if constexpr (kDecay == Decay::L2) g = g + s.weight_decay * p[i];
    T p_i = p[i];
    if constexpr (kDecay == Decay::Decoupled) p_i = p_i * s.decay_factor;
    const T m_i = m[i] * s.beta1 + s.one_minus_beta1 * g;
    const T v_i = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
    m[i] = m_i;
    v[i] = v_i;
    T v_hat = v_i;
    if constexpr (kAmsgrad) {
      v_hat = v_i <= v_max[i] ? v_max[i] : v_i;  // a max that lets a NaN through, as torch.maximum
      v_max[i] = v_hat;
    }
    // Dividing by sqrt(1 - beta2^step) undoes v's bias toward its zero start; eps is added
    // after that correction (PyTorch's placement), so early steps are not damped by it.
    const T denom = std::sqrt(v_hat) / s.bias_correction2_sqrt + s.eps;
    p[i] = p_i + s.neg_step_size * m_i / denom;
  }
}

// Turns the run-time options into the template's compile-time ones.
template <typename T>
using AdamLoop = void (*)(T*, const T*, T*, T*, T*, int64_t, const AdamScalars<T>&);

template <typename T, Decay kDecay>
AdamLoop<T> pick_loop(bool amsgrad, bool maximize) {
  if (amsgrad) return maximize ? adam_loop<T, kDecay, true, true> : adam_loop<T, kDecay, true, false>;
  return maximize ? adam_loop<T, kDecay, false, true> : adam_loop<T, kDecay, false, false>;
}

template <typename T>
AdamLoop<T> pick_loop(Decay decay, bool amsgrad, bool maximize) {
  switch (decay) {
    case Decay::L2: return pick_loop<T, Decay::L2>(amsgrad, maximize);
    case Decay::Decoupled: return pick_loop<T, Decay::Decoupled>(amsgrad, maximize);
    default: return pick_loop<T, Decay::None>(amsgrad, maximize);
  }
}

}  // namespace

ElementwiseJob adam_job(const AdamHyper& h, const Tensor& param, const Tensor& grad,
                        ParamState& state, std::string_view op) {
  const Tensor m = state.get_or_zeros("exp_avg", param);
  const Tensor v = state.get_or_zeros("exp_avg_sq", param);
  const Tensor v_max = h.amsgrad ? state.get_or_zeros("max_exp_avg_sq", param) : Tensor();
  const auto step = static_cast<double>(state.step);
  const double bias_correction1 = 1.0 - std::pow(h.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(h.beta2, step);
  const double step_size = h.lr / bias_correction1;

  const Tensor p = kernels::contiguous(param);  // param itself, unless it is a strided view
  const Tensor g = kernels::contiguous(grad);   // a broadcast grad (from sum()) becomes dense
  ElementwiseJob job;
  job.n = p.numel();
  dispatch_floating(p.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    const AdamScalars<T> s{static_cast<T>(h.beta1),
                           static_cast<T>(1.0 - h.beta1),
                           static_cast<T>(h.beta2),
                           static_cast<T>(1.0 - h.beta2),
                           static_cast<T>(h.eps),
                           static_cast<T>(std::sqrt(bias_correction2)),
                           static_cast<T>(-step_size),
                           static_cast<T>(h.weight_decay),
                           static_cast<T>(1.0 - h.lr * h.weight_decay)};
    const Decay decay = h.weight_decay == 0.0        ? Decay::None
                        : h.decoupled_weight_decay ? Decay::Decoupled
                                                   : Decay::L2;
    // The job holds the tensors, so the buffers outlive this call.
    job.run = [loop = pick_loop<T>(decay, h.amsgrad, h.maximize), s, p, g, m, v,
               v_max](int64_t begin, int64_t end) {
      T* v_max_data = v_max.defined() ? v_max.data_ptr<T>() + begin : nullptr;
      loop(p.data_ptr<T>() + begin, g.data_ptr<T>() + begin, m.data_ptr<T>() + begin,
           v.data_ptr<T>() + begin, v_max_data, end - begin, s);
    };
  });
  if (!p.is_same(param)) job.finish = [param, p] { kernels::copy_into(param, p); };
  return job;
}

}  // namespace ag::optim::detail
