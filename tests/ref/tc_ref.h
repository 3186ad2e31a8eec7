/* Plain-C references of every kernel: straightforward loops, double
 * accumulation where it matters, no tricks. The tests compare the Vulkan
 * kernels against these; tests/fixtures checks these against PyTorch. */
#ifndef TC_REF_H
#define TC_REF_H

#include <stddef.h>
#include <stdint.h>

#include "tc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

void tc_ref_add(const float *a, const float *b, float *y, size_t n);

/* x[i] = x[i] rounded to the nearest fp16 (ties to even), for i < n: what a
 * kernel does where it stores fp16 (fp16 activations). The references of the
 * ops compute in double from their fp32 inputs; a test of an fp16 variant
 * rounds the inputs the kernel reads as fp16 and the outputs it writes as
 * fp16 with this. */
void tc_ref_round_f16(float *x, size_t n);

/* y[M,N] = act(x[M,K] · w[N,K]ᵀ + bias) + residual; bias, residual may be NULL. */
void tc_ref_matmul(const float *x, const float *w, const float *bias, const float *residual, float *y, size_t M,
                   size_t N, size_t K, tc_act act);

void tc_ref_layernorm(const float *x, const float *gamma, const float *beta, float *y, size_t rows, size_t cols,
                      float eps);

void tc_ref_softmax(const float *x, float *y, size_t rows, size_t cols, float scale);

void tc_ref_activation(const float *x, float *y, size_t n, tc_act act);

/* See tc_op_attention; strides in floats, q/k/v point at column 0 of the slice. */
void tc_ref_attention(const float *q, size_t q_stride, const float *k, size_t k_stride, const float *v,
                      size_t v_stride, float *out, size_t tokens, size_t heads, size_t head_dim, float scale,
                      int causal);

#ifdef __cplusplus
}
#endif

#endif
