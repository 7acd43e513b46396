// shape.cpp: numel, row-major strides, dim normalisation and NumPy broadcasting.
#include "tensor/shape.h"

#include <sstream>

#include "tensor/error.h"

namespace ag {

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int64_t s : *this) n *= s;
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) {
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  return os << ')';
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t stride = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= shape[d] > 0 ? shape[d] : 1;
  }
  return strides;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op) {
  const int64_t n = ndim > 0 ? ndim : 1;  // a 0-d tensor still answers to dim 0 / -1
  if (dim < -n || dim >= n)
    throw Error(op, "dim ", dim, " is out of range for a tensor with ", ndim,
                " dims (expected a dim in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (size_t i = 0; i < ndim; ++i) {
    // Align from the right: i counts dims from the last one.
    const int64_t sa = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t sb = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      throw Error(op, "shapes ", a, " and ", b, " do not broadcast (dim ",
                  static_cast<int64_t>(ndim - 1 - i), " is ", sa, " vs ", sb, ")");
    out[ndim - 1 - i] = sa == 1 ? sb : sa;
  }
  return out;
}

Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& to) {
  Strides out(to.size(), 0);
  const size_t lead = to.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d)
    out[lead + d] = (shape[d] == 1 && to[lead + d] != 1) ? 0 : strides[d];
  return out;
}

}  // namespace ag
