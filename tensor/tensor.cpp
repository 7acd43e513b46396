// tensor.cpp: Tensor's layout accessors, element access, in-place writes and printing.
// (The differentiable methods are defined in autograd/; creation is in creation.cpp.)
#include "tensor/tensor.h"

#include <algorithm>
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
  // No elements, nothing out of order (as in PyTorch): strides of an empty tensor mean nothing,
  // and reporting false would make every kernel copy it for no reason.
  if (impl.shape.numel() == 0) return true;
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

namespace {
// An expanded view reads one memory slot as several elements. Writing through it would store
// several values into that slot, and which one survives would depend on the order the threads
// write in; PyTorch refuses such writes too. (Only the stride-0 form is detected: it is the
// one views produce, and the check costs nothing.)
void check_no_internal_overlap(const Tensor& t, std::string_view op) {
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.stride(d) == 0 && t.size(d) > 1)
      throw Error(op, "cannot write in place into a tensor of shape ", t.shape(), " with strides ",
                  t.strides(), ": several of its elements share one memory location (an "
                  "expanded view); clone() it first");
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace_allowed(*this, "fill_");
  check_no_internal_overlap(*this, "fill_");
  kernels::copy_into(*this, full({}, value, dtype()));
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace_allowed(*this, "copy_");
  check_no_internal_overlap(*this, "copy_");
  if (!src.defined()) throw Error("copy_", "the source tensor is undefined");
  if (broadcast_shapes(src.shape(), shape(), "copy_") != shape())
    throw Error("copy_", "source shape ", src.shape(), " does not broadcast to ", shape());
  // A source sharing our storage (x.copy_(x.t()), a shifted narrow) could be overwritten
  // before it is read; read it into a copy first, as memmove does.
  Tensor source = src.dtype() == dtype() ? src : kernels::cast(src, dtype());
  if (source.storage() == storage()) source = kernels::copy(source);
  kernels::copy_into(*this, source);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace_allowed(*this, "add_");
  check_no_internal_overlap(*this, "add_");
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
  check_no_internal_overlap(*this, "mul_");
  kernels::copy_into(*this, kernels::affine(*this, factor, 0.0));
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::masked_fill_(const Tensor& mask, double value) {
  check_inplace_allowed(*this, "masked_fill_");
  check_no_internal_overlap(*this, "masked_fill_");
  kernels::copy_into(*this, kernels::masked_fill(*this, mask, value, "masked_fill_"));
  storage()->bump_version();
  return *this;
}

// ---- printing, in PyTorch's style ----------------------------------------------------------
// tensor([[ 0.1000, -2.0000],
//         [ 3.0000,  4.0000]], dtype=float64)
// This follows torch/_tensor_str.py with its default print options: four decimals; every
// element padded to the widest one shown; rows wrapped at 80 characters; past 1000 elements,
// each dim longer than 6 shows only its first and last 3 entries around "...". Scientific
// notation is chosen, as there, when the shown non-zero finite magnitudes reach 1e8, go below
// 1e-4, or span more than a factor of 1000. Where attograd differs: a float tensor whose values
// are all integers still prints four decimals (PyTorch writes "1."), and the dtype is written
// "float64", not "torch.float64".

namespace {

constexpr int64_t kLineWidth = 80;   // characters per printed line
constexpr int64_t kThreshold = 1000; // more elements than this are summarised
constexpr int64_t kEdgeItems = 3;    // entries shown at each end of a summarised dim

// One float or bool element as PyTorch writes it (int64 elements are printed from themselves).
std::string format_element(double v, DType dtype, bool scientific) {
  char buf[64];
  if (dtype == kBool) return v != 0 ? "True" : "False";
  if (std::isnan(v)) {
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

// Whether a dim of size n is cut to its edges.
bool cut(int64_t n, bool summarise) { return summarise && n > 2 * kEdgeItems; }

// The indices of a dim that are printed, with -1 where "..." goes.
std::vector<int64_t> shown_indices(int64_t n, bool summarise) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    if (cut(n, summarise) && i == kEdgeItems) {
      out.push_back(-1);
      i = n - kEdgeItems;
    }
    out.push_back(i);
  }
  return out;
}

// Prints the sub-tensor of dims [dim, ndim) whose first element is cells[first], its rows
// indented by `indent` (the column after its opening bracket, less one).
// "," then `newlines` line breaks, then the indent of the next row.
std::string row_separator(size_t newlines, int64_t indent) {
  std::string separator = ",";
  separator.append(newlines, '\n');
  separator.append(static_cast<size_t>(indent + 1), ' ');
  return separator;
}

// Prints the sub-tensor of dims [dim, ndim) whose first element is cells[first], its rows
// indented by `indent` (the column after its opening bracket, less one).
std::string print_dims(const std::vector<std::string>& cells, const Shape& shape, size_t width,
                       bool summarise, size_t dim, int64_t first, int64_t indent) {
  const bool innermost = dim + 1 == shape.size();
  int64_t inner = 1;
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<std::string> parts;
  for (int64_t i : shown_indices(shape[dim], summarise)) {
    if (i < 0) {
      // " ..." keeps the column rhythm of a row: joined by ", " it reads "2,  ..., 97".
      parts.push_back(innermost ? " ..." : "...");
    } else if (innermost) {
      const std::string& cell = cells[static_cast<size_t>(first + i)];
      parts.push_back(std::string(width - cell.size(), ' ') + cell);
    } else {
      parts.push_back(print_dims(cells, shape, width, summarise, dim + 1, first + i * inner, indent + 1));
    }
  }
  // A row holds as many elements (each its width plus ", ") as fit in the line. Matrices
  // inside a 3-d tensor are separated by a blank line, and so on up.
  const int64_t per_line =
      innermost ? std::max<int64_t>(1, (kLineWidth - indent) / static_cast<int64_t>(width + 2)) : 1;
  const std::string separator = row_separator(innermost ? 1 : shape.size() - dim - 1, indent);
  std::string out = "[";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += static_cast<int64_t>(k) % per_line == 0 ? separator : std::string(", ");
    out += parts[k];
  }
  return out + "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = to_vector<double>();
  const std::vector<int64_t> integers = dtype() == kInt64 ? to_vector<int64_t>() : std::vector<int64_t>{};
  const bool summarise = numel() > kThreshold;
  // Which elements are printed: width and notation depend on those alone, as in PyTorch.
  std::vector<bool> shown(values.size(), true);
  if (summarise) {
    std::vector<int64_t> index(shape().size(), 0);
    for (size_t e = 0; e < values.size(); ++e) {
      for (size_t d = 0; d < index.size() && shown[e]; ++d)
        if (cut(shape()[d], true) && index[d] >= kEdgeItems && index[d] < shape()[d] - kEdgeItems)
          shown[e] = false;
      for (int64_t d = static_cast<int64_t>(index.size()) - 1; d >= 0; --d) {
        if (++index[d] < shape()[d]) break;
        index[d] = 0;
      }
    }
  }
  double max_abs = 0.0, min_abs = INFINITY;
  for (size_t e = 0; e < values.size(); ++e)
    if (shown[e] && std::isfinite(values[e]) && values[e] != 0.0) {
      max_abs = std::max(max_abs, std::fabs(values[e]));
      min_abs = std::min(min_abs, std::fabs(values[e]));
    }
  const bool scientific = is_floating(dtype()) && max_abs > 0 &&
                          (max_abs >= 1e8 || min_abs < 1e-4 || max_abs / min_abs > 1000.0);
  std::vector<std::string> cells(values.size());
  size_t width = 0;
  for (size_t e = 0; e < values.size(); ++e) {
    if (!shown[e]) continue;
    // int64 beyond 2^53 does not survive the trip through double: print it from the source.
    cells[e] = dtype() == kInt64 ? std::to_string(integers[e])
                                 : format_element(values[e], dtype(), scientific);
    width = std::max(width, cells[e].size());
  }
  std::ostringstream os;
  os << "tensor(";
  if (dim() == 0) {
    os << cells[0];
  } else if (numel() == 0) {
    os << "[]";
  } else {
    os << print_dims(cells, shape(), width, summarise, 0, 0, 7);  // 7 = strlen("tensor(")
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
