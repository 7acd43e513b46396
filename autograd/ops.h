// ops.h: every differentiable op, in namespace ag, with libtorch's names and semantics.
// Each is defined in autograd/ops/<family>.cpp with its backward written right under its
// forward. Binary ops broadcast as NumPy does, and the gradient of a broadcast input is summed
// back to that input's shape. Operands must share a dtype (no silent promotion); a double
// scalar takes the tensor's dtype.
//
// Where attograd differs from PyTorch:
//   - max/min over all elements, and max/min along a dim, split the gradient evenly between tied
//     maxima (PyTorch's amax does that; its max(dim) sends it all to one index). Either is a
//     valid subgradient; the even split is symmetric and does not depend on memory order.
//   - max(dim) returns values only; argmax(dim) gives the indices.
//   - In-place ops are never recorded (see tensor.h): use them under NoGradGuard.
#pragma once

#include <optional>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/tensor.h"

namespace ag {

// ---- arithmetic (ops/elementwise.cpp) --------------------------------------------------------
// a, b: broadcastable shapes   returns: the broadcast shape
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient split evenly where a == b
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);  // x^p; for non-integer p, x must be > 0
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// ---- elementwise functions (ops/elementwise.cpp) ---------------------------------------------
// x: any shape   returns: same shape
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);   // 1 / sqrt(x)
Tensor abs(const Tensor& x);     // gradient sign(x), 0 at x == 0
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);    // gradient 0 at x == 0, as in PyTorch
// approximate: "none" (exact, x * Phi(x) with the normal CDF) or "tanh" (GPT-2's form).
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
// gelu'(x) (tanh_form: of the tanh approximation), itself differentiable: for backwards that
// fuse GELU with something else (nn::functional::bias_gelu) and still support create_graph.
Tensor gelu_grad(const Tensor& x, bool tanh_form);

// ---- comparisons and selection (ops/elementwise.cpp) -----------------------------------------
// Comparisons give bool tensors and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& mask);
// cond: bool, broadcastable   a, b: broadcastable, same dtype   returns: broadcast shape
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with value wherever mask (bool, broadcastable to x) is true   returns: x's shape
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- reductions (ops/reduce.cpp) -------------------------------------------------------------
// dims: any dims, negative allowed; empty = all dims.   returns: x's shape without dims (or 1s)
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Variance with Bessel's correction when unbiased (divides by n - 1), as torch.var.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, bool unbiased = true,
           bool keepdim = false);
// Sums the broadcast dims of x away: the backward of broadcasting x to its shape.
// x: a shape that `shape` broadcasts to   returns: shape
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, first maximum
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// log(sum(exp(x))) along dim, shifted by the max so it never overflows.
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);

// ---- softmax (ops/softmax.cpp) ----------------------------------------------------------------
// x: any shape   returns: same shape; rows along dim sum to 1 (a row of all -inf gives zeros)
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- matmul (ops/matmul.cpp) -----------------------------------------------------------------
// a: (..., M, K)   b: (..., K, N)   returns: (..., M, N), batch dims broadcast; 1-d = vector
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- joining and indexing (ops/index.cpp) ----------------------------------------------------
// All tensors equal in shape except along dim   returns: sizes along dim added up
Tensor cat(const TensorList& tensors, int64_t dim = 0);
// All tensors of one shape   returns: that shape with a new dim of size tensors.size() at dim
Tensor stack(const TensorList& tensors, int64_t dim = 0);
// index: int64 (n)   returns: x with size n along dim, row i = x's row index[i]
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// index: int64, x's rank   returns: index's shape, out[i][j] = x[i][index[i][j]] (dim 1)
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// weight: (V, C)   ids: int64, any shape   returns: (*ids.shape, C); ids outside [0, V) throw
Tensor embedding(const Tensor& weight, const Tensor& ids);

// ---- views (ops/view.cpp): share storage with x ----------------------------------------------
Tensor view(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);

}  // namespace ag
