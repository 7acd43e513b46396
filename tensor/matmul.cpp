// matmul.cpp: PyTorch's matmul semantics on top of gemm.
// (..., M, K) @ (..., K, N) -> (..., M, N); batch dims broadcast; a 1-d operand is a vector.
// Each operand matrix is handed to gemm in place when its last two dims are row-major or
// transposed (stride 1 on one of them); only other layouts are copied. A batch of inputs times
// one shared 2-d weight (a Linear layer) folds into a single tall GEMM.
#include <algorithm>

#include "tensor/gemm.h"
#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

namespace {

// How gemm reads one (rows, cols) matrix stored at strides (rs, cs).
struct MatrixLayout {
  bool trans = false;
  int64_t ld = 1;
};

// False when neither dim has stride 1 (or the strides overlap): the caller copies then.
bool gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, MatrixLayout& out) {
  if (cs == 1 || cols == 1) {
    const int64_t ld = rows == 1 ? cols : rs;
    if (ld >= cols) { out = {false, std::max<int64_t>(ld, 1)}; return true; }
  }
  if (rs == 1 || rows == 1) {
    const int64_t ld = cols == 1 ? rows : cs;
    if (ld >= rows) { out = {true, std::max<int64_t>(ld, 1)}; return true; }
  }
  return false;
}

// The matrix part of a tensor (last two dims) in a form gemm reads, copying only if needed.
Tensor gemm_ready(const Tensor& x, MatrixLayout& layout) {
  if (gemm_layout(x.size(-2), x.size(-1), x.stride(-2), x.stride(-1), layout)) return x;
  Tensor c = copy(x);
  gemm_layout(c.size(-2), c.size(-1), c.stride(-2), c.stride(-1), layout);
  return c;
}

// The row stride when a's (batch..., M) rows are evenly spaced (so they fold into one tall
// matrix), else -1.
int64_t folded_row_stride(const Tensor& a) {
  int64_t row_stride = -1, span = 1;  // span: rows covered by the dims inside the current one
  for (int64_t d = a.dim() - 2; d >= 0; --d) {
    if (a.size(d) == 1) continue;
    if (row_stride < 0) row_stride = a.stride(d);
    else if (a.stride(d) != row_stride * span) return -1;
    span *= a.size(d);
  }
  return row_stride < 0 ? a.size(-1) : row_stride;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in, std::string_view op_name) {
  if (!a_in.defined() || !b_in.defined()) throw Error(op_name, "an operand is undefined");
  if (a_in.dim() == 0 || b_in.dim() == 0)
    throw Error(op_name, "both operands need at least 1 dim, got shapes ", a_in.shape(), " and ",
                b_in.shape());
  if (a_in.dtype() != b_in.dtype())
    throw Error(op_name, "dtype mismatch: a is ", a_in.dtype(), " ", a_in.shape(), ", b is ",
                b_in.dtype(), " ", b_in.shape());
  if (!is_floating(a_in.dtype()))
    throw Error(op_name, "needs float32 or float64 operands, got ", a_in.dtype());

  // Vectors become matrices: a (K) -> (1, K), b (K) -> (K, 1); those dims are dropped at the end.
  Tensor a = a_in, b = b_in;
  if (a.dim() == 1) a = as_strided(a, {1, a.size(0)}, {a.size(0), a.stride(0)}, a.storage_offset());
  if (b.dim() == 1) b = as_strided(b, {b.size(0), 1}, {b.stride(0), 1}, b.storage_offset());
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K)
    throw Error(op_name, "inner dimensions differ: a is ", a_in.shape(), ", b is ", b_in.shape());

  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(batch_a, batch_b, op_name);
  } catch (const Error&) {
    // Name the operands, not just their batch parts: "(2) and (3)" alone would puzzle.
    throw Error(op_name, "batch dims do not broadcast: a is ", a_in.shape(), ", b is ",
                b_in.shape(), " (batch ", batch_a, " vs ", batch_b, ")");
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Shape final_shape = out_shape;
  if (a_in.dim() == 1) final_shape.erase(final_shape.end() - 2);
  if (b_in.dim() == 1) final_shape.erase(final_shape.end() - 1);

  MatrixLayout la, lb;
  a = gemm_ready(a, la);
  b = gemm_ready(b, lb);
  Tensor out = empty(out_shape, a.dtype());
  if (out.numel() == 0) return as_strided(out, final_shape, contiguous_strides(final_shape), 0);
  const int64_t num_batches = batch.numel();

  dispatch_floating(a.dtype(), op_name, [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* pc = out.data_ptr<T>();

    // One shared right-hand matrix and evenly spaced left rows: one tall GEMM.
    const int64_t fold_stride = la.trans ? -1 : folded_row_stride(a);
    if (batch_b.numel() == 1 && fold_stride >= 0 && (num_batches * M == 1 || fold_stride >= K)) {
      gemm<T>(false, lb.trans, num_batches * M, N, K, pa, std::max<int64_t>(fold_stride, 1), pb,
              lb.ld, pc, N, false);
      return;
    }
    if (num_batches == 1) {  // one matrix product: gemm splits it over the threads itself
      gemm<T>(la.trans, lb.trans, M, N, K, pa, la.ld, pb, lb.ld, pc, N, false);
      return;
    }
    const Strides a_bs = broadcast_strides(batch_a, Strides(a.strides().begin(), a.strides().end() - 2), batch);
    const Strides b_bs = broadcast_strides(batch_b, Strides(b.strides().begin(), b.strides().end() - 2), batch);
    // Batches run in parallel; a gemm called inside a chunk stays on that thread.
    parallel_for(0, num_batches, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        int64_t rest = i, off_a = 0, off_b = 0;
        for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
          const int64_t idx = rest % batch[d];
          rest /= batch[d];
          off_a += idx * a_bs[d];
          off_b += idx * b_bs[d];
        }
        gemm<T>(la.trans, lb.trans, M, N, K, pa + off_a, la.ld, pb + off_b, lb.ld, pc + i * M * N,
                N, false);
      }
    });
  });
  return as_strided(out, final_shape, contiguous_strides(final_shape), 0);
}

}  // namespace ag::kernels
