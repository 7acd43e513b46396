// tensor_autograd.cpp: the autograd half of Tensor's methods (requires_grad_, grad, backward,
// detach, ...). They live here, not in tensor/, because they need the engine.
#include "autograd/engine.h"
#include "autograd/node.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::AutogradMeta;

namespace {
AutogradMeta& ensure_meta(const Tensor& t) {
  if (!t.impl()->autograd) t.impl()->autograd = std::make_shared<AutogradMeta>();
  return *t.impl()->autograd;
}
}  // namespace

Tensor& Tensor::requires_grad_(bool requires_grad) {
  if (!defined()) throw Error("requires_grad_", "the tensor is undefined");
  if (grad_fn())
    throw Error("requires_grad_", "only leaf tensors can change requires_grad; this one was made "
                "by ", grad_fn_name(), " (use detach() to get a leaf)");
  if (requires_grad && !is_floating(dtype()))
    throw Error("requires_grad_", "only floating tensors can require grad, this one is ", dtype());
  ensure_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const {
  return defined() && impl_->autograd && impl_->autograd->requires_grad;
}

Tensor Tensor::grad() const {
  if (!defined() || !impl_->autograd) return Tensor();
  return impl_->autograd->grad;
}

void Tensor::set_grad(const Tensor& grad) const {
  if (!defined()) throw Error("set_grad", "the tensor is undefined");
  if (grad.defined() && (grad.shape() != shape() || grad.dtype() != dtype()))
    throw Error("set_grad", "the gradient has shape ", grad.shape(), " and dtype ", grad.dtype(),
                " but the tensor has shape ", shape(), " and dtype ", dtype());
  ensure_meta(*this).grad = grad;
}

void Tensor::zero_grad() const {
  if (defined() && impl_->autograd) impl_->autograd->grad = Tensor();
}

void Tensor::retain_grad() const {
  if (!requires_grad())
    throw Error("retain_grad", "the tensor does not require grad, so it will have no gradient");
  impl_->autograd->retains_grad = true;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> kNone;
  if (!defined() || !impl_->autograd) return kNone;
  return impl_->autograd->grad_fn;
}

std::string Tensor::grad_fn_name() const {
  return grad_fn() ? grad_fn()->display_name() : std::string();
}

bool Tensor::is_leaf() const { return !grad_fn(); }

Tensor Tensor::detach() const {
  if (!defined()) throw Error("detach", "the tensor is undefined");
  return kernels::as_strided(*this, shape(), strides(), storage_offset());
}

}  // namespace ag
