/* References of the row-wise normalisations: layer norm and softmax.
 * Statistics in double, so the reference is far more accurate than fp32. */
#include "tc_ref.h"

void tc_ref_layernorm(const float *x, const float *gamma, const float *beta, float *y, size_t rows, size_t cols,
                      float eps)
{
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    double mean = 0, var = 0;
    for (size_t c = 0; c < cols; c++)
      mean += xr[c];
    mean /= (double)cols;
    for (size_t c = 0; c < cols; c++)
      var += ((double)xr[c] - mean) * ((double)xr[c] - mean);
    var /= (double)cols; /* biased, as torch.nn.functional.layer_norm */
    double rstd = 1.0 / sqrt(var + (double)eps);
    float *yr = y + r * cols; /* may be xr: the statistics are complete */
    for (size_t c = 0; c < cols; c++)
      yr[c] = (float)(((double)xr[c] - mean) * rstd * gamma[c] + beta[c]);
  }
}

void tc_ref_softmax(const float *x, float *y, size_t rows, size_t cols, float scale)
{
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    double mx = -INFINITY, sum = 0;
    for (size_t c = 0; c < cols; c++)
      mx = fmax(mx, (double)scale * xr[c]);
    for (size_t c = 0; c < cols; c++)
      sum += exp((double)scale * xr[c] - mx);
    float *yr = y + r * cols;
    for (size_t c = 0; c < cols; c++)
      yr[c] = (float)(exp((double)scale * xr[c] - mx) / sum);
  }
}
