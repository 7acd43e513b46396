// kernels.h: the raw compute of tensor/, with no gradients anywhere. Every differentiable op in
// autograd/ops/ calls these for its forward and (through other differentiable ops) its backward.
// Inputs may be any strided view; outputs are new contiguous tensors unless a name ends in _
// (in place) or _into (writes into a given tensor). Binary kernels broadcast as NumPy does and
// require equal dtypes (attograd does not promote silently: mixing float32 and float64 is an
// Error that names the op).
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ag::kernels {

// ---- layout -------------------------------------------------------------------------------
// An alias of x's storage with another layout; the caller guarantees it stays in bounds.
Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous
Tensor copy(const Tensor& x);        // always a fresh contiguous copy
// dst[...] = src[...], src broadcast to dst's shape; dst may be any non-overlapping view.
void copy_into(const Tensor& dst, const Tensor& src);
Tensor cast(const Tensor& x, DType dtype);

// ---- elementwise --------------------------------------------------------------------------
enum class Unary {
  Neg, Exp, Log, Sqrt, Rsqrt, Abs, Sign, Tanh, Sigmoid, Relu,
  Step,          // 1 where x > 0, else 0 (relu's derivative)
  Square, Reciprocal, Erf,
  GeluErf,       // x * Phi(x), Phi the standard normal CDF
  GeluTanh,      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  GeluErfGrad,   // d/dx of GeluErf
  GeluTanhGrad,  // d/dx of GeluTanh
  GeluErfGrad2,  // d2/dx2 of GeluErf
  GeluTanhGrad2, // d2/dx2 of GeluTanh
};
Tensor unary(Unary op, const Tensor& x);  // floating dtypes (Neg, Abs, Sign also int64)
// dy * gelu'(x) in one pass (GELU's backward when no graph of it is wanted); dy, x: same dtype,
// broadcast together. Bitwise equal to dy * unary(GeluErfGrad or GeluTanhGrad, x).
Tensor gelu_backward(const Tensor& dy, const Tensor& x, bool tanh_form);
// y = gelu(h + b), b (C) added to every row of h (..., C), in one pass; both contiguous. The
// same bits as gelu(h + b) unfused. With cdf given, float32 and the erf form also keep
// Phi(h + b) in *cdf for the backward (any other case sets it undefined).
Tensor bias_gelu(const Tensor& h, const Tensor& b, bool tanh_form, Tensor* cdf = nullptr);
// Its backward: (dh = dy * gelu'(h + b), db = the column sums of dh). dy contiguous, shaped as
// h; db is summed per fixed chunk of rows in double, the chunks in order (thread-count proof).
// cdf: what the forward kept, or undefined; the same bits either way.
std::pair<Tensor, Tensor> bias_gelu_backward(const Tensor& dy, const Tensor& h, const Tensor& b,
                                             bool tanh_form, const Tensor& cdf = Tensor());

enum class Binary { Add, Sub, Mul, Div, Maximum, Minimum };
Tensor binary(Binary op, const Tensor& a, const Tensor& b, std::string_view op_name);
Tensor pow_scalar(const Tensor& x, double exponent);
// y = x * scale + shift, one pass (scalar arithmetic without materialising scalar tensors).
Tensor affine(const Tensor& x, double scale, double shift);

enum class Compare { Eq, Ne, Lt, Le, Gt, Ge };
Tensor compare(Compare op, const Tensor& a, const Tensor& b, std::string_view op_name);  // bool
Tensor compare_scalar(Compare op, const Tensor& a, double value);                          // bool
Tensor logical_not(const Tensor& mask);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
// where(cond, a, b): a where cond is true, else b; all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, std::string_view op_name);
// x with value wherever mask (bool, broadcastable to x) is true; the result has x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value, std::string_view op_name);

// ---- reductions ---------------------------------------------------------------------------
// dims may be negative; empty dims reduces over all. Sums accumulate in double for float32.
enum class Reduce { Sum, Max, Min, ArgMax, ArgMin };
Tensor reduce(Reduce op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim,
              std::string_view op_name);
// Sums the broadcast dims of x away so the result has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Shape after reducing dims (keepdim keeps them as 1); also validates and sorts the dims.
Shape reduced_shape(const Shape& shape, std::vector<int64_t>& dims, bool keepdim,
                    std::string_view op_name);

// ---- matmul -------------------------------------------------------------------------------
// PyTorch's matmul: (..., M, K) @ (..., K, N) -> (..., M, N) with broadcast batch dims;
// a 1-d operand is a vector (its dim is dropped from the result).
Tensor matmul(const Tensor& a, const Tensor& b, std::string_view op_name = "matmul");

// ---- softmax family (the row max is subtracted first; see softmax.cpp) ---------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim);

// ---- joining and indexing -----------------------------------------------------------------
Tensor cat(const TensorList& tensors, int64_t dim, std::string_view op_name = "cat");
// Rows of x along dim picked by index (int64, 1-d): out.size(dim) == index.numel().
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out += src rows accumulated at index along dim (index_select's backward); out is contiguous.
void index_add_(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
// out[i][j] = x[i][index[i][j]] (for dim = 1), index has x's rank.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// out[i][index[i][j]] += src[i][j] (gather's backward); out is contiguous.
void scatter_add_(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace ag::kernels
