// tensor_methods.cpp: Tensor's member spellings of the differentiable ops (x.sum(), x.view(...)),
// each a one-line call of the free function in ops.h that does the work.
#include "autograd/ops.h"

namespace ag {

Tensor Tensor::view(const Shape& shape) const { return ag::view(*this, shape); }
Tensor Tensor::reshape(const Shape& shape) const { return ag::reshape(*this, shape); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t start = normalize_dim(start_dim, dim(), "flatten");
  const int64_t end = normalize_dim(end_dim, dim(), "flatten");
  if (start > end) throw Error("flatten", "start_dim ", start, " comes after end_dim ", end);
  Shape shape(this->shape().begin(), this->shape().begin() + start);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= size(d);
  shape.push_back(merged);
  shape.insert(shape.end(), this->shape().begin() + end + 1, this->shape().end());
  return reshape(shape);
}
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return ag::permute(*this, dims); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return ag::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const {
  // As torch.t: a vector or a scalar has nothing to swap and comes back as it is.
  if (dim() > 2) throw Error("t", "expects a tensor with at most 2 dims, got shape ", shape());
  return dim() < 2 ? *this : ag::transpose(*this, 0, 1);
}
Tensor Tensor::unsqueeze(int64_t dim) const { return ag::unsqueeze(*this, dim); }
Tensor Tensor::squeeze(int64_t dim) const { return ag::squeeze(*this, dim); }
Tensor Tensor::squeeze() const { return ag::squeeze(*this); }
Tensor Tensor::expand(const Shape& shape) const { return ag::expand(*this, shape); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return ag::narrow(*this, dim, start, length);
}
Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  return ag::slice(*this, dim, start, end, step);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return ag::select(*this, dim, index); }
Tensor Tensor::contiguous() const { return ag::contiguous(*this); }
Tensor Tensor::clone() const { return ag::clone(*this); }
Tensor Tensor::to(DType dtype) const { return ag::to_dtype(*this, dtype); }

Tensor Tensor::matmul(const Tensor& other) const { return ag::matmul(*this, other); }
Tensor Tensor::sum() const { return ag::sum(*this); }
Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const {
  return ag::sum(*this, dims, keepdim);
}
Tensor Tensor::mean() const { return ag::mean(*this); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const {
  return ag::mean(*this, dims, keepdim);
}
Tensor Tensor::var(const std::vector<int64_t>& dims, bool unbiased, bool keepdim) const {
  return ag::var(*this, dims, unbiased, keepdim);
}
Tensor Tensor::max() const { return ag::amax(*this); }
Tensor Tensor::max(int64_t dim, bool keepdim) const { return ag::amax(*this, {dim}, keepdim); }
Tensor Tensor::min() const { return ag::amin(*this); }
Tensor Tensor::min(int64_t dim, bool keepdim) const { return ag::amin(*this, {dim}, keepdim); }
Tensor Tensor::argmax(int64_t dim, bool keepdim) const { return ag::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(int64_t dim, bool keepdim) const { return ag::argmin(*this, dim, keepdim); }
Tensor Tensor::logsumexp(int64_t dim, bool keepdim) const { return ag::logsumexp(*this, dim, keepdim); }
Tensor Tensor::softmax(int64_t dim) const { return ag::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return ag::log_softmax(*this, dim); }
Tensor Tensor::exp() const { return ag::exp(*this); }
Tensor Tensor::log() const { return ag::log(*this); }
Tensor Tensor::sqrt() const { return ag::sqrt(*this); }
Tensor Tensor::rsqrt() const { return ag::rsqrt(*this); }
Tensor Tensor::abs() const { return ag::abs(*this); }
Tensor Tensor::tanh() const { return ag::tanh(*this); }
Tensor Tensor::sigmoid() const { return ag::sigmoid(*this); }
Tensor Tensor::relu() const { return ag::relu(*this); }
Tensor Tensor::neg() const { return ag::neg(*this); }
Tensor Tensor::pow(double exponent) const { return ag::pow(*this, exponent); }
Tensor Tensor::masked_fill(const Tensor& mask, double value) const {
  return ag::masked_fill(*this, mask, value);
}

}  // namespace ag
