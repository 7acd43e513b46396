// sgd.cpp: the SGD update as one plain loop per parameter (see sgd.h for the formulas).
// Each element's update reads and writes only that element, so the work splits into chunks of
// a fixed size (kChunk, independent of the thread count) and the result is the same bits
// with any number of threads. The order of operations in the loop mirrors PyTorch's
// (buf.mul_(momentum).add_(g, alpha=1 - dampening), p.add_(g, alpha=-lr)) so float64 results
// agree with it to the last bit or two.
#include "optim/sgd.h"

#include <cmath>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::optim {

namespace {

constexpr int64_t kChunk = 1 << 15;  // elements per parallel_for chunk

// The scalars of one SGD step, already in the element type T (as ATen casts a Python float).
template <typename T>
struct SGDScalars {
  T neg_lr, weight_decay, momentum, one_minus_dampening;
  bool use_weight_decay, use_momentum, first_step, nesterov, maximize;
};

// p, grad, buf: n contiguous elements (buf unused without momentum).
template <typename T>
void sgd_step(T* p, const T* grad, T* buf, int64_t n, const SGDScalars<T>& s) {
  for (int64_t i = 0; i < n; ++i) {
    T g = s.maximize ? -grad[i] : grad[i];
    if (s.use_weight_decay) g = g + s.weight_decay * p[i];
    if (s.use_momentum) {
      buf[i] = s.first_step ? g : buf[i] * s.momentum + s.one_minus_dampening * g;
      g = s.nesterov ? g + s.momentum * buf[i] : buf[i];
    }
    p[i] = p[i] + s.neg_lr * g;
  }
}

}  // namespace

// ---- options ------------------------------------------------------------------------------------

std::vector<std::pair<std::string, double>> SGDOptions::hyperparameters() const {
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"dampening", dampening_},
          {"weight_decay", weight_decay_},
          {"nesterov", nesterov_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

void SGDOptions::set_hyperparameter(const std::string& name, double value, std::string_view op) {
  if (name == "lr") lr_ = value;
  else if (name == "momentum") momentum_ = value;
  else if (name == "dampening") dampening_ = value;
  else if (name == "weight_decay") weight_decay_ = value;
  else if (name == "nesterov") nesterov_ = value != 0.0;
  else if (name == "maximize") maximize_ = value != 0.0;
  else throw Error(op, "SGD has no hyperparameter \"", name, "\"");
}

void SGDOptions::validate(std::string_view op) const {
  // Written as !(x >= 0) so that NaN fails too.
  if (!(lr_ >= 0.0)) throw Error(op, "invalid lr: ", lr_, " (must be >= 0)");
  if (!(momentum_ >= 0.0)) throw Error(op, "invalid momentum: ", momentum_, " (must be >= 0)");
  if (!(weight_decay_ >= 0.0))
    throw Error(op, "invalid weight_decay: ", weight_decay_, " (must be >= 0)");
  if (!std::isfinite(dampening_)) throw Error(op, "invalid dampening: ", dampening_);
  // Nesterov looks ahead along the momentum; without momentum, or with a damped buffer,
  // the look-ahead is not Nesterov's, so PyTorch refuses both.
  if (nesterov_ && (momentum_ <= 0.0 || dampening_ != 0.0))
    throw Error(op, "nesterov requires momentum > 0 and dampening == 0, got momentum=",
                momentum_, ", dampening=", dampening_);
}

// ---- optimizer ----------------------------------------------------------------------------------

SGD::SGD(const TensorList& params, const SGDOptions& defaults)
    : SGD(std::vector<ParamGroup>{ParamGroup{.params = params}}, defaults) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults)
    : Optimizer("SGD", std::move(groups), defaults.clone()) {}

Optimizer::StateKeys SGD::state_keys(const OptimizerOptions& options) const {
  // The buffer appears on the first step with momentum; its absence means "first step".
  const auto& o = static_cast<const SGDOptions&>(options);
  if (o.momentum() != 0.0) return {.required = {}, .optional = {"momentum_buffer"}};
  return {};
}

void SGD::update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
                 ParamState& state) {
  const auto& o = static_cast<const SGDOptions&>(options);
  const bool use_momentum = o.momentum() != 0.0;
  bool first_step = false;
  Tensor buf;
  if (use_momentum) {
    first_step = !state.find("momentum_buffer").defined();
    buf = state.get_or_zeros("momentum_buffer", param);
  }
  const Tensor p = kernels::contiguous(param);  // param itself, unless it is a strided view
  const Tensor g = kernels::contiguous(grad);   // a broadcast grad (from sum()) becomes dense
  dispatch_floating(p.dtype(), "SGD", [&](auto zero) {
    using T = decltype(zero);
    const SGDScalars<T> s{static_cast<T>(-o.lr()),
                          static_cast<T>(o.weight_decay()),
                          static_cast<T>(o.momentum()),
                          static_cast<T>(1.0 - o.dampening()),
                          o.weight_decay() != 0.0,
                          use_momentum,
                          first_step,
                          o.nesterov(),
                          o.maximize()};
    T* p_data = p.data_ptr<T>();
    const T* g_data = g.data_ptr<T>();
    T* buf_data = use_momentum ? buf.data_ptr<T>() : nullptr;
    parallel_for(0, p.numel(), kChunk, [&](int64_t begin, int64_t end) {
      sgd_step(p_data + begin, g_data + begin, buf_data ? buf_data + begin : nullptr,
               end - begin, s);
    });
  });
  if (!p.is_same(param)) kernels::copy_into(param, p);
}

}  // namespace ag::optim
