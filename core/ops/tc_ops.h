/* Operations: each records one kernel dispatch (the variant for the
 * context's kernel family) into a command sequence. Shapes are explicit;
 * buffers hold row-major fp32 unless a dtype says otherwise. Every op has a
 * plain-C twin in tests/ref/tc_ref.h that the tests compare it with.
 *
 * Nothing here allocates per call beyond the descriptor set of the dispatch:
 * graphs record their ops once and resubmit. */
#ifndef TC_OPS_H
#define TC_OPS_H

#include "tc_common.h"
#include "tc_vk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = a[i] + b[i] for i < n. y may be a (in-place residual add). */
tc_status tc_op_add(tc_cmd *cmd, tc_buffer *a, tc_buffer *b, tc_buffer *y, uint32_t n, tc_error *err);

/* Matrix multiply with PyTorch's Linear layout:
 *   y[M,N] = act(x[M,K] · w[N,K]ᵀ + bias[N]) + residual[M,N]
 * w is fp32 or fp16 ([out, in] as stored by PyTorch, no repack; or, with
 * w_panels, rearranged once by tc_matmul_pack_panels); bias and residual are
 * fp32 or NULL; residual may be y (fused residual add).
 * fp16 activations (gpu family only): x may be fp16 and y fp16 (x_dtype,
 * y_dtype; the zero default is fp32). Sums, bias and activation stay fp32;
 * y is rounded to fp16 at the end. fp16 y takes no residual (the residual
 * stream stays fp32) and needs N even. */
typedef struct tc_matmul {
  tc_buffer *x;
  tc_buffer *w;
  tc_dtype w_dtype;
  tc_buffer *bias;
  tc_buffer *residual;
  tc_buffer *y;
  uint32_t M, N, K;
  tc_act act;
  int w_panels; /* w laid out by tc_matmul_pack_panels: only where tc_matmul_panels_wanted */
  tc_dtype x_dtype, y_dtype;
  /* Split K in this many parts, each its own workgroups, their sums added
   * to y atomically: more workgroups for shapes with few blocks of y. A
   * request, taken by the cooperative-matrix kernel for an in-place
   * residual add without activation into fp32 y where the device adds
   * floats atomically (tc_context_has_float_atomic_add), ignored otherwise
   * (the result is the same up to the order of the sums). 0 or 1: none. */
  uint32_t split_k;
} tc_matmul;
tc_status tc_op_matmul(tc_cmd *cmd, const tc_matmul *mm, const char *label, tc_error *err);

/* Weights that stay on the device (a model's) can be rearranged once into
 * panels: for each block of 16 rows of w and each group of 4 columns, the 16
 * rows' 4 values side by side (rows past N zero). The CPU kernels then read
 * each panel front to back, 15-35% faster on lavapipe; GPU kernels read
 * row-major w. Wanted: 1 when ctx's kernels for inner size K take panels. */
int tc_matmul_panels_wanted(const tc_context *ctx, uint32_t K);
/* Bytes of w [N, K] in panels: N rounded up to 16 rows. */
size_t tc_matmul_panels_bytes(uint32_t N, uint32_t K, tc_dtype dtype);
/* Row-major w [N, K] (fp32, or fp16 as uint16_t) -> panels in dst, which
 * holds tc_matmul_panels_bytes. K % 4 == 0. */
void tc_matmul_pack_panels(const void *w, void *dst, uint32_t N, uint32_t K, tc_dtype dtype);

/* y[r,:] = (x[r,:] - mean) / sqrt(var + eps) * gamma + beta, for r < rows.
 * y may be x. */
tc_status tc_op_layernorm(tc_cmd *cmd, tc_buffer *x, tc_buffer *gamma, tc_buffer *beta, tc_buffer *y,
                          uint32_t rows, uint32_t cols, float eps, const char *label, tc_error *err);
/* The same with y of y_dtype: fp32 (as tc_op_layernorm), or fp16 (gpu family
 * only; cols even; y may not be x): statistics and scaling in fp32, y rounded
 * to fp16, the input of an fp16 matmul. */
tc_status tc_op_layernorm_to(tc_cmd *cmd, tc_buffer *x, tc_buffer *gamma, tc_buffer *beta, tc_buffer *y,
                             tc_dtype y_dtype, uint32_t rows, uint32_t cols, float eps, const char *label,
                             tc_error *err);

/* y[r,:] = softmax(scale * x[r,:]), for r < rows. y may be x. */
tc_status tc_op_softmax(tc_cmd *cmd, tc_buffer *x, tc_buffer *y, uint32_t rows, uint32_t cols, float scale,
                        const char *label, tc_error *err);

/* y[i] = act(x[i]) for i < n. y may be x. */
tc_status tc_op_activation(tc_cmd *cmd, tc_buffer *x, tc_buffer *y, uint32_t n, tc_act act, const char *label,
                           tc_error *err);

/* A column slice of a row-major matrix (of the dtype its user says):
 * element (row r, column c) is buf[r * stride + offset + c]. */
typedef struct tc_slice {
  tc_buffer *buf;
  uint32_t offset, stride;
} tc_slice;

/* Multi-head scaled-dot-product attention, heads side by side in columns:
 *   out[n, h*hd + j] = sum_m softmax_m(scale * q_h[n]·k_h[m]) v_h[m, j]
 * with q_h[n] = q[n, h*hd : (h+1)*hd] (same for k, v); out is [tokens,
 * heads*hd]. causal masks m > n (text encoder). q, k, v may be the same
 * slice (value-value attention).
 * fp16 activations (gpu family only): q, k, v fp16 (qkv_dtype) and out fp16
 * (out_dtype; the zero default is fp32); scores, softmax and sums stay fp32.
 * With cooperative matrices on (tc_context_has_coopmat), head_dim 64 and not
 * causal, both products run on them: q, k, v and the softmax weights are
 * rounded to fp16 (when fp32), sums stay fp32.
 * batch frames (0 counts as 1) are stacked in rows: rows b * tokens ..
 * (b + 1) * tokens - 1 of q, k, v and out are frame b's, and each frame
 * attends within itself; one dispatch on the gpu kernels. */
typedef struct tc_attention {
  tc_slice q, k, v;
  tc_buffer *out;
  uint32_t tokens, heads, head_dim;
  float scale;
  int causal;
  tc_dtype qkv_dtype, out_dtype;
  uint32_t batch;
} tc_attention;
tc_status tc_op_attention(tc_cmd *cmd, const tc_attention *at, const char *label, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
