// tensor.h: ag::Tensor, an N-d array of float32, float64, int64 or bool that can take part in
// reverse-mode autograd. A Tensor is a cheap handle (a shared pointer): copying it aliases the
// same data, as in PyTorch. Its layout is (shape, strides, offset) over a shared Storage, which
// is what makes views (transpose, slice, expand, ...) free: they change the layout, not the bytes.
//
// The layers: this header belongs to tensor/, which knows nothing of gradients. It only holds
// a slot (AutogradMeta, forward-declared) that autograd/ fills in, and declares the familiar
// methods (x.matmul(w), x.sum(), a + b); their definitions live in autograd/ops/, where each
// op records how to differentiate itself. Raw, gradient-free kernels are in tensor/kernels.h.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace ag {

namespace autograd {
struct AutogradMeta;
class Node;
}  // namespace autograd

class Tensor;
using TensorList = std::vector<Tensor>;

// What a Tensor points to. Layout plus, when the tensor takes part in a graph, its autograd
// bookkeeping (null otherwise, so plain number crunching pays nothing for autograd).
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements, into storage
  DType dtype = kFloat32;
  std::shared_ptr<autograd::AutogradMeta> autograd;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false, most calls throw
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // ---- layout --------------------------------------------------------------------------------
  const Shape& shape() const;
  const Shape& sizes() const { return shape(); }  // libtorch's name
  int64_t size(int64_t dim) const;                 // negative dims count from the end
  int64_t dim() const;
  int64_t numel() const;
  const Strides& strides() const;
  int64_t stride(int64_t dim) const;
  int64_t storage_offset() const;
  DType dtype() const;
  DType scalar_type() const { return dtype(); }
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  const std::shared_ptr<Storage>& storage() const;

  // Pointer to the first element (storage + offset). T must match dtype(), else Error.
  template <typename T>
  T* data_ptr() const;
  void* raw_data() const;  // the same, untyped

  // The single element of a one-element tensor, converted to T.
  template <typename T>
  T item() const;
  double item() const { return item<double>(); }

  // All elements in row-major order, converted to T.
  template <typename T>
  std::vector<T> to_vector() const;

  std::string str() const;  // what operator<< prints: tensor([[...]], dtype=float64)

  // ---- autograd (defined in autograd/) --------------------------------------------------------
  // Marks a leaf as a variable to differentiate with respect to.
  Tensor& requires_grad_(bool requires_grad = true);
  bool requires_grad() const;
  // The accumulated gradient of a leaf (or of a tensor that called retain_grad()); undefined
  // until a backward reaches it.
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;  // for optimizers and checkpoint loading
  void zero_grad() const;                   // sets grad to undefined (PyTorch's set_to_none)
  void retain_grad() const;                 // keep the gradient of a non-leaf too
  // Backpropagates from this tensor. gradient is dL/d(this); it may be omitted for a scalar.
  // retain_graph keeps the saved tensors so backward can run through the graph again;
  // create_graph records the backward itself, for gradients of gradients.
  void backward(const Tensor& gradient = {}, bool retain_graph = false,
                bool create_graph = false) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  std::string grad_fn_name() const;  // "MulBackward", or "" for a leaf
  bool is_leaf() const;
  // A tensor sharing this one's data but cut from the graph (requires_grad false).
  Tensor detach() const;
  // Bumped by every in-place write; views share it with their base.
  uint64_t version() const;

  // ---- views: differentiable, share storage (autograd/ops/view.cpp) --------------------------
  Tensor view(const Shape& shape) const;     // one size may be -1; needs a compatible layout
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-d tensor
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size; only size-1 dims grow
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops the dim
  Tensor contiguous() const;                         // itself when already contiguous
  Tensor clone() const;                              // a copy that still tracks gradients
  Tensor to(DType dtype) const;                      // differentiable between float types

  // ---- math: differentiable (autograd/ops/) ---------------------------------------------------
  Tensor matmul(const Tensor& other) const;
  Tensor sum() const;
  Tensor sum(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<int64_t>& dims, bool keepdim = false) const;
  Tensor var(const std::vector<int64_t>& dims, bool unbiased = true, bool keepdim = false) const;
  Tensor max() const;
  Tensor max(int64_t dim, bool keepdim = false) const;  // values only; argmax() for indices
  Tensor min() const;
  Tensor min(int64_t dim, bool keepdim = false) const;
  Tensor argmax(int64_t dim, bool keepdim = false) const;  // int64, not differentiable
  Tensor argmin(int64_t dim, bool keepdim = false) const;
  Tensor logsumexp(int64_t dim, bool keepdim = false) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor abs() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor neg() const;
  Tensor pow(double exponent) const;
  Tensor masked_fill(const Tensor& mask, double value) const;

  // ---- in-place: not recorded by autograd; bump the version (tensor/tensor.cpp) -------------
  // They throw if this tensor requires grad while grad mode is on (use NoGradGuard, as an
  // optimizer does), because the graph could no longer be differentiated correctly.
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);                    // src broadcasts to this shape
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha * other
  Tensor& mul_(double factor);
  Tensor& masked_fill_(const Tensor& mask, double value);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation (tensor/creation.cpp) -----------------------------------------------------------
// Every function makes a new contiguous tensor that requires no grad.
Tensor empty(const Shape& shape, DType dtype = kFloat32);  // uninitialised
Tensor zeros(const Shape& shape, DType dtype = kFloat32);
Tensor ones(const Shape& shape, DType dtype = kFloat32);
Tensor full(const Shape& shape, double value, DType dtype = kFloat32);
Tensor scalar_tensor(double value, DType dtype = kFloat32);  // 0-d
Tensor arange(double end, DType dtype = kInt64);
Tensor arange(double start, double end, double step = 1.0, DType dtype = kInt64);
Tensor eye(int64_t n, DType dtype = kFloat32);
Tensor tril(const Tensor& x, int64_t diagonal = 0);  // zeros above the diagonal, last 2 dims
Tensor triu(const Tensor& x, int64_t diagonal = 0);
// Random tensors draw from the global generator (tensor/random.h, ag::manual_seed).
Tensor randn(const Shape& shape, DType dtype = kFloat32);  // standard normal
Tensor rand(const Shape& shape, DType dtype = kFloat32);   // uniform in [0, 1)
Tensor randint(int64_t low, int64_t high, const Shape& shape);  // int64 in [low, high)
// Copies values into a new tensor; values.size() must equal shape.numel().
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype);
Tensor empty_like(const Tensor& x);
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);
Tensor randn_like(const Tensor& x);
Tensor rand_like(const Tensor& x);

// ---- inline definitions -----------------------------------------------------------------------

template <typename T>
T* Tensor::data_ptr() const {
  if (!defined()) throw Error("data_ptr", "the tensor is undefined");
  if (dtype_of<std::remove_const_t<T>>() != dtype())
    throw Error("data_ptr", "asked for ", dtype_of<std::remove_const_t<T>>(),
                " elements of a ", dtype(), " tensor");
  return static_cast<T*>(raw_data());
}

}  // namespace ag
