/* Reference multi-head attention: for every head and query row, the scores
 * against all (or, causal, the earlier) keys, a softmax and the weighted sum
 * of values, all in double. O(tokens^2 * heads * head_dim), no blocking. */
#include <stdlib.h>

#include "tc_ref.h"

void tc_ref_attention(const float *q, size_t q_stride, const float *k, size_t k_stride, const float *v,
                      size_t v_stride, float *out, size_t tokens, size_t heads, size_t head_dim, float scale,
                      int causal)
{
  double *p = malloc(tokens * sizeof *p), *o = malloc(head_dim * sizeof *o);
  if (!p || !o) { /* a reference has no error path; leave out untouched */
    free(p), free(o);
    return;
  }
  const size_t out_stride = heads * head_dim;
  for (size_t h = 0; h < heads; h++)
    for (size_t n = 0; n < tokens; n++) {
      const float *qn = q + n * q_stride + h * head_dim;
      size_t keys = causal ? n + 1 : tokens;
      double mx = -INFINITY, sum = 0;
      for (size_t m = 0; m < keys; m++) {
        const float *km = k + m * k_stride + h * head_dim;
        double s = 0;
        for (size_t j = 0; j < head_dim; j++)
          s += (double)qn[j] * km[j];
        p[m] = s * scale;
        mx = fmax(mx, p[m]);
      }
      for (size_t m = 0; m < keys; m++)
        sum += p[m] = exp(p[m] - mx);
      for (size_t j = 0; j < head_dim; j++)
        o[j] = 0;
      for (size_t m = 0; m < keys; m++) {
        const float *vm = v + m * v_stride + h * head_dim;
        for (size_t j = 0; j < head_dim; j++)
          o[j] += p[m] * vm[j];
      }
      for (size_t j = 0; j < head_dim; j++)
        out[n * out_stride + h * head_dim + j] = (float)(o[j] / sum);
    }
  free(p), free(o);
}
