// tensor.cpp: Tensor's layout accessors, element access, in-place writes and printing.
// (The differentiable methods are defined in autograd/; creation is in creation.cpp.)
#include "tensor/tensor.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "tensor/kernels.h"

namespace ag {

// In-place writes ask autograd whether they are allowed; autograd/ answers through this hook
// so that tensor/ does not depend on it (see autograd/grad_mode.cpp).
void check_inplace_allowed(const Tensor& t, std::string_view op);

namespace {
const TensorImpl& checked(const TensorImpl* impl, std::string_view what) {
  if (impl == nullptr) throw Error(what, "the tensor is undefined (default-constructed)");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_.get(), "shape").shape; }
int64_t Tensor::size(int64_t dim) const {
  return shape()[normalize_dim(dim, this->dim(), "size")];
}
int64_t Tensor::dim() const { return static_cast<int64_t>(shape().size()); }
int64_t Tensor::numel() const { return shape().numel(); }
const Strides& Tensor::strides() const { return checked(impl_.get(), "strides").strides; }
int64_t Tensor::stride(int64_t dim) const {
  return strides()[normalize_dim(dim, this->dim(), "stride")];
}
int64_t Tensor::storage_offset() const { return checked(impl_.get(), "storage_offset").offset; }
DType Tensor::dtype() const { return checked(impl_.get(), "dtype").dtype; }
const std::shared_ptr<Storage>& Tensor::storage() const {
  return checked(impl_.get(), "storage").storage;
}
uint64_t Tensor::version() const { return storage()->version(); }

bool Tensor::is_contiguous() const {
  const TensorImpl& impl = checked(impl_.get(), "is_contiguous");
  int64_t expected = 1;
  for (int64_t d = static_cast<int64_t>(impl.shape.size()) - 1; d >= 0; --d) {
    if (impl.shape[d] == 1) continue;  // a size-1 dim's stride never matters
    if (impl.strides[d] != expected) return false;
    expected *= impl.shape[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  const TensorImpl& impl = checked(impl_.get(), "data_ptr");
  return static_cast<char*>(impl.storage->data()) +
         impl.offset * static_cast<int64_t>(element_size(impl.dtype));
}

template <typename T>
T Tensor::item() const {
  if (numel() != 1)
    throw Error("item", "only a tensor with one element converts to a number, this one has shape ",
                shape());
  return dispatch_all(dtype(), [&](auto zero) {
    using S = decltype(zero);
    return static_cast<T>(*static_cast<const S*>(raw_data()));
  });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = kernels::contiguous(*this);
  std::vector<T> out(static_cast<size_t>(numel()));
  dispatch_all(dtype(), [&](auto zero) {
    using S = decltype(zero);
    const S* src = static_cast<const S*>(c.raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(src[i]);
  });
  return out;
}

template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template bool Tensor::item<bool>() const;
template int Tensor::item<int>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;
template std::vector<int> Tensor::to_vector<int>() const;

// ---- in-place writes ----------------------------------------------------------------------

Tensor& Tensor::fill_(double value) {
  check_inplace_allowed(*this, "fill_");
  kernels::copy_into(*this, full({}, value, dtype()));
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace_allowed(*this, "copy_");
  if (!src.defined()) throw Error("copy_", "the source tensor is undefined");
  if (broadcast_shapes(src.shape(), shape(), "copy_") != shape())
    throw Error("copy_", "source shape ", src.shape(), " does not broadcast to ", shape());
  kernels::copy_into(*this, src.dtype() == dtype() ? src : kernels::cast(src, dtype()));
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace_allowed(*this, "add_");
  if (other.dtype() != dtype())
    throw Error("add_", "dtype mismatch: this is ", dtype(), ", other is ", other.dtype());
  const Tensor scaled = alpha == 1.0 ? other : kernels::affine(other, alpha, 0.0);
  const Tensor sum = kernels::binary(kernels::Binary::Add, *this, scaled, "add_");
  if (sum.shape() != shape())
    throw Error("add_", "other's shape ", other.shape(), " does not broadcast to ", shape());
  kernels::copy_into(*this, sum);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::mul_(double factor) {
  check_inplace_allowed(*this, "mul_");
  kernels::copy_into(*this, kernels::affine(*this, factor, 0.0));
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  check_inplace_allowed(*this, "masked_fill_");
  kernels::copy_into(*this, kernels::masked_fill(*this, mask, value, "masked_fill_"));
  storage()->bump_version();
  return *this;
}

// ---- printing, in PyTorch's style ----------------------------------------------------------
// tensor([[ 0.1000, -2.0000],
//         [ 3.0000,  4.0000]], dtype=float64)

namespace {

std::string format_element(double v, DType dtype, bool scientific) {
  char buf[64];
  if (dtype == kBool) return v != 0 ? "True" : "False";
  if (dtype == kInt64) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else if (std::isnan(v)) {
    return "nan";
  } else if (std::isinf(v)) {
    return v > 0 ? "inf" : "-inf";
  } else if (scientific) {
    std::snprintf(buf, sizeof buf, "%.4e", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4f", v);
  }
  return buf;
}

void print_dims(std::ostream& os, const std::vector<std::string>& cells, const Shape& shape,
                size_t width, size_t dim, int64_t& next, int indent) {
  const int64_t n = shape[dim];
  os << '[';
  // Long dims show their first and last three entries, as PyTorch does past 1000 elements.
  const bool summarise = cells.size() > 1000 && n > 6;
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && i == 3) {
      os << (dim + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      // Skip the elements we do not print.
      int64_t skipped = 1;
      for (size_t d = dim + 1; d < shape.size(); ++d) skipped *= shape[d];
      next += skipped * (n - 6);
      i = n - 3;
    }
    if (dim + 1 == shape.size()) {
      const std::string& cell = cells[static_cast<size_t>(next++)];
      os << std::string(width - cell.size(), ' ') << cell;
    } else {
      print_dims(os, cells, shape, width, dim + 1, next, indent + 1);
    }
    if (i + 1 < n) {
      if (dim + 1 == shape.size()) os << ", ";
      else os << ',' << std::string(shape.size() - dim - 1, '\n') << std::string(indent + 1, ' ');
    }
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = to_vector<double>();
  bool scientific = false;
  double max_abs = 0.0, min_abs = INFINITY;
  for (double v : values)
    if (std::isfinite(v) && v != 0.0) {
      max_abs = std::max(max_abs, std::fabs(v));
      min_abs = std::min(min_abs, std::fabs(v));
    }
  if (is_floating(dtype()) && (max_abs >= 1e8 || (min_abs < 1e-4 && max_abs > 0))) scientific = true;
  std::vector<std::string> cells;
  size_t width = 0;
  cells.reserve(values.size());
  for (double v : values) {
    cells.push_back(format_element(v, dtype(), scientific));
    width = std::max(width, cells.back().size());
  }
  std::ostringstream os;
  os << "tensor(";
  if (dim() == 0) {
    os << cells[0];
  } else if (numel() == 0) {
    os << "[]";
  } else {
    int64_t next = 0;
    print_dims(os, cells, shape(), width, 0, next, 7);
  }
  if (numel() == 0 && dim() > 1) os << ", size=" << shape();
  if (dtype() != kFloat32 && dtype() != kInt64 && dtype() != kBool) os << ", dtype=" << dtype();
  if (grad_fn()) os << ", grad_fn=<" << grad_fn_name() << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ag
