/* Plain-C reference of the TokenCLIP head, step by step and whole, in
 * double precision. The Vulkan head (tc_head.h) is tested against it and it
 * is checked against PyTorch (tests/torch/test_ref_head.py).
 *
 * Layouts are row-major: tokens [rows, D], subspaces [Q, 2, D], cosines
 * [rows, Q, 2], everything per token [N, Q]. */
#ifndef TC_HEAD_REF_H
#define TC_HEAD_REF_H

#include <stddef.h>
#include <stdint.h>

#include "tc_head.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Non-zero when row r of x [rows, D] has a NaN/Inf or its squared norm
 * overflows fp32 (what the device can detect): one byte per row into bad.
 * Returns the number of such rows. */
size_t tc_head_ref_bad_rows(const float *x, size_t rows, size_t D, uint8_t *bad);

/* cos[r, q, c] = <x[r] / |x[r]|, t[q,c] / |t[q,c]|>, norms floored at 1e-12
 * as torch.nn.functional.normalize does. */
void tc_head_ref_cosines(const float *x, size_t rows, const float *t, size_t Q, size_t D, float *cos);

/* p[r, q] = softmax_c(cos[r,q,:] / tau)[1]. */
void tc_head_ref_probs(const float *cos, size_t rows, size_t Q, float tau, float *p);

/* logk[n, q] = -(1 - a[n,q]) / eps with a from cos by the affinity mode. */
void tc_head_ref_log_kernel(const float *cos, size_t N, size_t Q, tc_head_affinity mode, float eps, float *logk);

/* Log-domain Sinkhorn on the kernel exp(logk) with rows 1/N and columns 1/Q,
 * the head's rule: u = 0, v = 0, u = log(1/N) - LSE_q(logk + v); then
 * repeat { v = log(1/Q) - LSE_n(logk + u); measure the row error; stop if
 * below tol or at max_iters; u = log(1/N) - LSE_q(logk + v) }. The plan is
 * P = exp(logk + u[n] + v[q]). Fills u [N], v [Q] and the result's
 * iterations, converged, row_error, col_error. */
void tc_head_ref_sinkhorn(const float *logk, size_t N, size_t Q, uint32_t max_iters, float tol, float *u,
                          float *v, tc_head_result *res);

/* Keeps the k largest entries of each row of logk[n,q] + v[q] (v may be NULL:
 * zeros), lower q first among equal values, and writes their softmax (the
 * row of the plan renormalised) into w [N, Q], zeros elsewhere. k = 0 or Q
 * keeps every entry. */
void tc_head_ref_topk(const float *logk, const float *v, size_t N, size_t Q, size_t k, float *w);

/* s[n] = sum_q w[n,q] p[n,q]. */
void tc_head_ref_token_scores(const float *w, const float *p, size_t N, size_t Q, float *s);

/* sum_q (mean_n w[n,q]) p_global[q]. */
float tc_head_ref_global_score(const float *w, const float *p_global, size_t N, size_t Q);

/* The whole head on tokens [1 + N, D] (row 0 global): scores [N] and the
 * result. TC_ERR_NUMERIC (message names the row) on a non-finite token;
 * TC_ERR_INVALID_ARGUMENT on bad params. */
tc_status tc_head_ref_run(const float *tokens, size_t N, const float *subspaces, size_t Q, size_t D,
                          const tc_head_params *params, float *scores, tc_head_result *res, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
