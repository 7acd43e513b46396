// creation.cpp: new tensors from nothing (zeros, arange, randn, ...) or from a std::vector.
// Random tensors reserve one block of the global generator per pair of values, so a tensor's
// numbers depend only on the seed and on what was drawn before, never on the thread count.
#include <cmath>
#include <numbers>

#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/thread_pool.h"

namespace ag {

namespace {
constexpr size_t kMaxDims = 16;  // strided_loop.h keeps multi-indices in a fixed array
}

Tensor empty(const Shape& shape, DType dtype) {
  for (int64_t s : shape)
    if (s < 0) throw Error("empty", "negative size in shape ", shape);
  if (shape.size() > kMaxDims)
    throw Error("empty", "at most ", kMaxDims, " dims are supported, got shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * element_size(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_all(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* data = t.data_ptr<T>();
    const T v = static_cast<T>(value);
    const int64_t n = t.numel();  // once: numel() walks the shape, so never in the loop test
    for (int64_t i = 0; i < n; ++i) data[i] = v;
  });
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor scalar_tensor(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange(double end, DType dtype) { return arange(0.0, end, 1.0, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw Error("arange", "start, end and step must be finite and step non-zero, got start=",
                start, ", end=", end, ", step=", step);
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor t = empty({n}, dtype);
  dispatch_all(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* data = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor eye(int64_t n, DType dtype) {
  if (n < 0) throw Error("eye", "n must be non-negative, got ", n);
  Tensor t = zeros({n, n}, dtype);
  dispatch_all(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* data = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) data[i * n + i] = static_cast<T>(1);
  });
  return t;
}

namespace {
// Keeps the elements with (col - row) compared to diagonal; the rest become 0.
Tensor band(const Tensor& x, int64_t diagonal, bool lower, std::string_view op) {
  if (x.dim() < 2) throw Error(op, "needs a tensor with at least 2 dims, got shape ", x.shape());
  Tensor out = kernels::copy(x);
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const int64_t matrices = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  dispatch_all(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* data = out.data_ptr<T>();
    for (int64_t m = 0; m < matrices; ++m)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const bool keep = lower ? (c - r <= diagonal) : (c - r >= diagonal);
          if (!keep) data[(m * rows + r) * cols + c] = static_cast<T>(0);
        }
  });
  return out;
}
}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return band(x, diagonal, true, "tril"); }
Tensor triu(const Tensor& x, int64_t diagonal) { return band(x, diagonal, false, "triu"); }

// ---- random ---------------------------------------------------------------------------------

namespace {
// Fills n values, two per Philox block: block b gives values 2b and 2b+1.
template <typename Draw>
Tensor random_tensor(const Shape& shape, DType dtype, std::string_view op, Draw draw) {
  Tensor t = empty(shape, dtype);
  const int64_t n = t.numel();
  Generator& gen = default_generator();
  const uint64_t first = gen.reserve_blocks(static_cast<uint64_t>((n + 1) / 2));
  dispatch_floating(dtype, op, [&](auto zero) {
    using T = decltype(zero);
    T* data = t.data_ptr<T>();
    // Chunks of whole blocks; each value depends only on its own block.
    parallel_for(0, (n + 1) / 2, 4096, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const auto r = gen.block(first + static_cast<uint64_t>(b));
        const auto pair = draw(r);
        data[2 * b] = static_cast<T>(pair[0]);
        if (2 * b + 1 < n) data[2 * b + 1] = static_cast<T>(pair[1]);
      }
    });
  });
  return t;
}
}  // namespace

Tensor randn(const Shape& shape, DType dtype) {
  return random_tensor(shape, dtype, "randn", [](const std::array<uint32_t, 4>& r) {
    // Box-Muller gives two independent normals from two uniforms.
    const double u1 = 1.0 - uniform_from_bits(r[0], r[1]);  // (0, 1]: log stays finite
    const double u2 = uniform_from_bits(r[2], r[3]);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    return std::array<double, 2>{radius * std::cos(angle), radius * std::sin(angle)};
  });
}

Tensor rand(const Shape& shape, DType dtype) {
  return random_tensor(shape, dtype, "rand", [](const std::array<uint32_t, 4>& r) {
    double a = uniform_from_bits(r[0], r[1]), b = uniform_from_bits(r[2], r[3]);
    // float32 rounding could turn 0.99999999 into 1.0; keep the interval half-open.
    if (static_cast<float>(a) >= 1.0f) a = 0.99999994;
    if (static_cast<float>(b) >= 1.0f) b = 0.99999994;
    return std::array<double, 2>{a, b};
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape) {
  if (high <= low) throw Error("randint", "empty range: low=", low, " must be below high=", high);
  Tensor t = empty(shape, kInt64);
  const int64_t n = t.numel();
  Generator& gen = default_generator();
  const uint64_t first = gen.reserve_blocks(static_cast<uint64_t>(n));
  const uint64_t range = static_cast<uint64_t>(high - low);
  int64_t* data = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto r = gen.block(first + static_cast<uint64_t>(i));
    const uint64_t bits = (static_cast<uint64_t>(r[0]) << 32) | r[1];
    data[i] = low + static_cast<int64_t>(bits % range);  // bias below 2^-32 for our ranges
  }
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape.numel())
    throw Error("from_vector", values.size(), " values do not fill shape ", shape, " (",
                shape.numel(), " elements)");
  using Stored = std::conditional_t<std::is_same_v<T, int>, int64_t, T>;
  Tensor t = empty(shape, dtype_of<Stored>());
  Stored* data = t.data_ptr<Stored>();
  for (size_t i = 0; i < values.size(); ++i) data[i] = static_cast<Stored>(values[i]);
  return t;
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template Tensor from_vector<int>(const std::vector<int>&, const Shape&);
template Tensor from_vector<bool>(const std::vector<bool>&, const Shape&);

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return kernels::cast(from_vector<double>(values, shape), dtype);
}

Tensor empty_like(const Tensor& x) { return empty(x.shape(), x.dtype()); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype()); }
Tensor full_like(const Tensor& x, double value) { return full(x.shape(), value, x.dtype()); }
Tensor randn_like(const Tensor& x) { return randn(x.shape(), x.dtype()); }
Tensor rand_like(const Tensor& x) { return rand(x.shape(), x.dtype()); }

}  // namespace ag
