/* Plain-C reference of the TokenCLIP head: straightforward loops in double
 * precision, stages stored as fp32 like the device stores them. */
#include "tc_head_ref.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

size_t tc_head_ref_bad_rows(const float *x, size_t rows, size_t D, uint8_t *bad)
{
  size_t count = 0;
  for (size_t r = 0; r < rows; r++) {
    double ss = 0;
    int finite = 1;
    for (size_t d = 0; d < D; d++) {
      float e = x[r * D + d];
      finite &= isfinite(e) != 0;
      ss += (double)e * e;
    }
    bad[r] = !finite || ss > FLT_MAX;
    count += bad[r];
  }
  return count;
}

static double norm_floor(const float *x, size_t D)
{
  double ss = 0;
  for (size_t d = 0; d < D; d++)
    ss += (double)x[d] * x[d];
  return fmax(sqrt(ss), 1e-12);
}

void tc_head_ref_cosines(const float *x, size_t rows, const float *t, size_t Q, size_t D, float *cos)
{
  double *tnorm = malloc(2 * Q * sizeof *tnorm);
  if (!tnorm)
    return;
  for (size_t j = 0; j < 2 * Q; j++)
    tnorm[j] = norm_floor(t + j * D, D);
  for (size_t r = 0; r < rows; r++) {
    double xn = norm_floor(x + r * D, D);
    for (size_t j = 0; j < 2 * Q; j++) {
      double dot = 0;
      for (size_t d = 0; d < D; d++)
        dot += (double)x[r * D + d] * t[j * D + d];
      cos[r * 2 * Q + j] = (float)(dot / (xn * tnorm[j]));
    }
  }
  free(tnorm);
}

void tc_head_ref_probs(const float *cos, size_t rows, size_t Q, float tau, float *p)
{
  for (size_t i = 0; i < rows * Q; i++) {
    double l0 = cos[2 * i] / (double)tau, l1 = cos[2 * i + 1] / (double)tau, m = fmax(l0, l1);
    double e0 = exp(l0 - m), e1 = exp(l1 - m);
    p[i] = (float)(e1 / (e0 + e1));
  }
}

void tc_head_ref_log_kernel(const float *cos, size_t N, size_t Q, tc_head_affinity mode, float eps, float *logk)
{
  for (size_t i = 0; i < N * Q; i++) {
    double c0 = cos[2 * i], c1 = cos[2 * i + 1];
    double a = mode == TC_HEAD_AFFINITY_MEAN ? 0.5 * (c0 + c1) : mode == TC_HEAD_AFFINITY_ABNORMAL ? c1 : fmax(c0, c1);
    logk[i] = (float)(-(1.0 - a) / eps);
  }
}

/* log(sum_i exp(x[i * stride] + shift[i])) for i < n; shift may be NULL. */
static double lse(const float *x, size_t n, size_t stride, const double *shift)
{
  double m = -INFINITY, s = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, x[i * stride] + (shift ? shift[i] : 0));
  for (size_t i = 0; i < n; i++)
    s += exp(x[i * stride] + (shift ? shift[i] : 0) - m);
  return m + log(s);
}

void tc_head_ref_sinkhorn(const float *logk, size_t N, size_t Q, uint32_t max_iters, float tol, float *u_out,
                          float *v_out, tc_head_result *res)
{
  double *u = calloc(N, sizeof *u), *v = calloc(Q, sizeof *v), *lse_row = malloc(N * sizeof *lse_row);
  if (!u || !v || !lse_row) {
    free(u), free(v), free(lse_row);
    return;
  }
  const double log_r = -log((double)N), log_c = -log((double)Q), r = 1.0 / N, c = 1.0 / Q;
  for (size_t n = 0; n < N; n++)
    u[n] = log_r - lse(logk + n * Q, Q, 1, v);
  uint32_t it = 0;
  double row_err = 0;
  int converged = 0;
  while (it < max_iters) {
    for (size_t q = 0; q < Q; q++)
      v[q] = log_c - lse(logk + q, N, Q, u);
    it++;
    row_err = 0;
    for (size_t n = 0; n < N; n++) {
      lse_row[n] = lse(logk + n * Q, Q, 1, v);
      row_err += fabs(exp(u[n] + lse_row[n]) - r);
    }
    if (row_err < tol) {
      converged = 1;
      break;
    }
    if (it == max_iters)
      break;
    for (size_t n = 0; n < N; n++)
      u[n] = log_r - lse_row[n];
  }
  double col_err = 0;
  for (size_t q = 0; q < Q; q++) {
    double sum = 0;
    for (size_t n = 0; n < N; n++)
      sum += exp(logk[n * Q + q] + u[n] + v[q]);
    col_err += fabs(sum - c);
  }
  for (size_t n = 0; n < N; n++)
    u_out[n] = (float)u[n];
  for (size_t q = 0; q < Q; q++)
    v_out[q] = (float)v[q];
  res->iterations = it;
  res->converged = converged;
  res->row_error = (float)row_err;
  res->col_error = (float)col_err;
  free(u), free(v), free(lse_row);
}

/* Does (x, i) rank above (y, j)? Larger value first, lower index on ties. */
static int ranks_above(float x, size_t i, float y, size_t j) { return x > y || (x == y && i < j); }

void tc_head_ref_topk(const float *logk, const float *v, size_t N, size_t Q, size_t k, float *w)
{
  if (k == 0 || k > Q)
    k = Q;
  for (size_t n = 0; n < N; n++) {
    const float *row = logk + n * Q;
    float *wr = w + n * Q;
    /* value in fp32 as the device forms it: logk + v */
    double m = -INFINITY, sum = 0;
    for (size_t q = 0; q < Q; q++) {
      float x = row[q] + (v ? v[q] : 0.0f);
      size_t rank = 0;
      for (size_t j = 0; j < Q; j++)
        rank += ranks_above(row[j] + (v ? v[j] : 0.0f), j, x, q);
      wr[q] = rank < k ? x : -INFINITY;
      m = fmax(m, wr[q]);
    }
    for (size_t q = 0; q < Q; q++)
      sum += isinf(wr[q]) ? 0 : exp(wr[q] - m);
    for (size_t q = 0; q < Q; q++)
      wr[q] = isinf(wr[q]) ? 0.0f : (float)(exp(wr[q] - m) / sum);
  }
}

void tc_head_ref_token_scores(const float *w, const float *p, size_t N, size_t Q, float *s)
{
  for (size_t n = 0; n < N; n++) {
    double acc = 0;
    for (size_t q = 0; q < Q; q++)
      acc += (double)w[n * Q + q] * p[n * Q + q];
    s[n] = (float)acc;
  }
}

float tc_head_ref_global_score(const float *w, const float *p_global, size_t N, size_t Q)
{
  double acc = 0;
  for (size_t q = 0; q < Q; q++) {
    double mean = 0;
    for (size_t n = 0; n < N; n++)
      mean += w[n * Q + q];
    acc += mean / N * p_global[q];
  }
  return (float)acc;
}

tc_status tc_head_ref_run(const float *tokens, size_t N, const float *subspaces, size_t Q, size_t D,
                          const tc_head_params *params, float *scores, tc_head_result *res, tc_error *err)
{
  tc_status st = tc_head_params_check(params, (uint32_t)Q, err);
  if (st != TC_OK)
    return st;
  if (N == 0 || D == 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "head reference: %zu tokens of dimension %zu", N, D);
  uint8_t *bad = malloc(N + 1);
  float *cos = malloc((N + 1) * Q * 2 * sizeof *cos), *p = malloc((N + 1) * Q * sizeof *p);
  float *logk = malloc(N * Q * sizeof *logk), *w = malloc(N * Q * sizeof *w);
  float *u = malloc(N * sizeof *u), *v = malloc(Q * sizeof *v);
  if (!bad || !cos || !p || !logk || !w || !u || !v) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    goto done;
  }
  if (tc_head_ref_bad_rows(tokens, N + 1, D, bad)) {
    size_t r = 0;
    while (!bad[r])
      r++;
    st = tc_error_set(err, TC_ERR_NUMERIC, "head: token row %zu is not finite", r);
    goto done;
  }
  *res = (tc_head_result){ 0 };
  tc_head_ref_cosines(tokens, N + 1, subspaces, Q, D, cos);
  tc_head_ref_probs(cos, N + 1, Q, params->temperature, p);
  tc_head_ref_log_kernel(cos + 2 * Q, N, Q, params->affinity, params->sinkhorn_eps, logk);
  if (params->greedy) {
    tc_head_ref_topk(logk, NULL, N, Q, 1, w);
    res->converged = 1;
    double col_err = 0;
    for (size_t q = 0; q < Q; q++) {
      double mean = 0;
      for (size_t n = 0; n < N; n++)
        mean += w[n * Q + q];
      col_err += fabs(mean / N - 1.0 / Q);
    }
    res->col_error = (float)col_err;
  } else {
    tc_head_ref_sinkhorn(logk, N, Q, params->sinkhorn_iters, params->sinkhorn_tol, u, v, res);
    tc_head_ref_topk(logk, v, N, Q, params->topk, w);
  }
  tc_head_ref_token_scores(w, p + Q, N, Q, scores);
  res->global_score = tc_head_ref_global_score(w, p, N, Q);
  res->token_score_max = -INFINITY;
  for (size_t n = 0; n < N; n++)
    res->token_score_max = fmaxf(res->token_score_max, scores[n]);
done:
  free(bad), free(cos), free(p), free(logk), free(w), free(u), free(v);
  return st;
}
