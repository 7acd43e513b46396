// slice_backward_test.cpp: slice's backward (slice_scatter): every element outside the slice must
// be exactly 0 even when the allocator hands back a buffer that held NaNs, at the edges (start 0,
// end at the size), for a slice of everything or of nothing, on any dim, with steps.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

TEST(SliceBackward, OutsideTheSliceIsExactlyZeroAndInsideIsDy) {
  manual_seed(21);
  const Shape shape{3, 7, 5};
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t dim = 0; dim < 3; ++dim) {
      const int64_t size = shape[dim];
      for (int64_t start = 0; start <= size; ++start) {
        for (int64_t end = start; end <= size; ++end) {
          for (int64_t step : {1, 2, 3}) {
            // Poison the caching allocator: free a NaN buffer of the gradient's size first.
            { Tensor poison = full(shape, std::numeric_limits<double>::quiet_NaN(), dt); }
            const Tensor x = randn(shape, dt).requires_grad_();
            const Tensor y = x.slice(dim, start, end, step);
            const Tensor g = randn(y.shape(), dt);
            (y * g).sum().backward();
            const auto grad = x.grad().to_vector<double>();
            const auto gv = g.to_vector<double>();
            // Expected: g at the sliced positions, 0 elsewhere.
            std::vector<double> expected(grad.size(), 0.0);
            const int64_t n = y.size(dim);
            size_t k = 0;
            for (int64_t i = 0; i < shape[0]; ++i)
              for (int64_t j = 0; j < shape[1]; ++j)
                for (int64_t l = 0; l < shape[2]; ++l) {
                  const int64_t idx[3] = {i, j, l};
                  const int64_t p = idx[dim] - start;
                  if (p >= 0 && p % step == 0 && p / step < n) {
                    const int64_t yi = dim == 0 ? (p / step) * shape[1] * shape[2] + j * shape[2] + l
                                     : dim == 1 ? i * n * shape[2] + (p / step) * shape[2] + l
                                                : (i * shape[1] + j) * n + p / step;
                    expected[k] = gv[static_cast<size_t>(yi)];
                  }
                  ++k;
                }
            ASSERT_EQ(grad, expected) << "dim " << dim << " [" << start << ":" << end << ":"
                                      << step << "]";
          }
        }
      }
    }
  }
}

}  // namespace
