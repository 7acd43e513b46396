// shape.h: Shape (the sizes of a tensor's dims), strides, and the rules that relate them:
// numel, row-major strides, negative-dim normalisation and NumPy broadcasting.
// A Shape prints as "(2, 3)", which is how every error message names a tensor.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace ag {

class Shape : public std::vector<int64_t> {
 public:
  using std::vector<int64_t>::vector;
  Shape() = default;
  Shape(std::vector<int64_t> sizes) : std::vector<int64_t>(std::move(sizes)) {}  // NOLINT

  int64_t numel() const;
  std::string str() const;  // "(2, 3)"; a scalar's shape is "()"
};

// Strides count elements, not bytes: element (i, j) of a (R, C) row-major tensor is at i*C + j.
using Strides = Shape;

std::ostream& operator<<(std::ostream& os, const Shape& shape);

// Row-major strides for a shape: (2, 3, 4) -> (12, 4, 1).
Strides contiguous_strides(const Shape& shape);

// Maps dim in [-ndim, ndim) to [0, ndim); anything else is an Error naming op.
// (A 0-d tensor accepts dim 0 and -1, as PyTorch does.)
int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op);

// The NumPy broadcast of two shapes: dims align from the right, and each pair must be equal
// or contain a 1.   (3, 1, 5) and (4, 1) -> (3, 4, 5)
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// Strides that read a tensor of `shape` and `strides` as if it had the broadcast shape `to`:
// a dim of size 1 that grows gets stride 0, so the same element is read again.
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& to);

}  // namespace ag
