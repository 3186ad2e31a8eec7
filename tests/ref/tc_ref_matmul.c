#include "tc_ref.h"

void tc_ref_matmul(const float *x, const float *w, const float *bias, const float *residual, float *y, size_t M,
                   size_t N, size_t K, tc_act act)
{
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      const float *xr = x + m * K, *wr = w + n * K;
      double acc = bias ? bias[n] : 0.0;
      for (size_t k = 0; k < K; k++)
        acc += (double)xr[k] * wr[k];
      /* y may be residual: read before the write of the same element */
      float v = tc_act_f32((float)acc, act);
      y[m * N + n] = residual ? v + residual[m * N + n] : v;
    }
}
