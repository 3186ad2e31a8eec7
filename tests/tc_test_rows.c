#include "tc_test_rows.h"

#include <math.h>
#include <stdio.h>

#include "tc_test.h"

double tc_test_rel_l2(const float *got, const float *want, size_t n)
{
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - want[i];
    num += d * d;
    den += (double)want[i] * want[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

void tc_test_check_rows(const char *what, const float *got, const float *want, size_t rows, size_t cols)
{
  size_t bad = 0, worst_r = 0, worst_c = 0;
  double worst = 0;
  for (size_t r = 0; r < rows; r++) {
    double scale = 0;
    for (size_t c = 0; c < cols; c++)
      scale = fmax(scale, fabs(want[r * cols + c]));
    for (size_t c = 0; c < cols; c++) {
      double d = fabs((double)got[r * cols + c] - want[r * cols + c]);
      double lim = 1e-4 * scale + 1e-4 * fabs(want[r * cols + c]);
      if (!(d <= lim))
        bad++;
      if (!(d / (lim > 0 ? lim : 1) <= worst)) {
        worst = d / (lim > 0 ? lim : 1);
        worst_r = r, worst_c = c;
      }
    }
  }
  double l2 = tc_test_rel_l2(got, want, rows * cols);
  TC_CHECK(bad == 0, "%s: %zu of %zu values outside 1e-4 of their row's scale; worst [%zu,%zu] got %.7g want %.7g",
           what, bad, rows * cols, worst_r, worst_c, got[worst_r * cols + worst_c], want[worst_r * cols + worst_c]);
  TC_CHECK(l2 <= 2e-5, "%s: relative L2 error %.3g > 2e-5", what, l2);
  printf("%s %s: relative L2 error %.3g, worst element at %.2f of its tolerance\n", bad || l2 > 2e-5 ? "FAIL" : "ok",
         what, l2, worst);
}
