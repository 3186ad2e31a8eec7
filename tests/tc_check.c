/* The checks every test shares; no device, no library internals (see tc_check.h). */
#include "tc_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int tc_test_failures = 0;

bool tc_test_check_ok(tc_status st, tc_error *err, const char *what, const char *file, int line)
{
  if (st == TC_OK)
    return true;
  fprintf(stderr, "FAIL %s:%d: %s returned %s: %s\n", file, line, what, tc_status_name(st),
          err && err->status != TC_OK ? err->message : "(no message)");
  tc_test_failures++;
  tc_error_clear(err);
  return false;
}

int tc_check_finish(void)
{
  if (tc_test_failures)
    fprintf(stderr, "%d check(s) failed\n", tc_test_failures);
  else
    printf("all checks passed\n");
  return tc_test_failures ? 1 : 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void tc_test_seed(uint64_t seed) { rng_state = seed ? seed : 1; }

float tc_test_uniform(float lo, float hi)
{
  /* xorshift64*: deterministic across platforms, good enough for test data */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
  return lo + (hi - lo) * (float)((r >> 40) * (1.0 / 16777216.0));
}

void tc_test_fill(float *x, size_t n, float lo, float hi)
{
  for (size_t i = 0; i < n; i++)
    x[i] = tc_test_uniform(lo, hi);
}

bool tc_test_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol)
{
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)want[i]);
    double lim = atol + rtol * fabs((double)want[i]);
    double excess = isnan(d) ? INFINITY : d - lim;
    if (!(d <= lim))
      bad++;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (bad) {
    fprintf(stderr, "FAIL %s: %zu of %zu elements outside atol %g rtol %g; worst [%zu] got %.7g want %.7g\n", what,
            bad, n, atol, rtol, worst, got[worst], want[worst]);
    tc_test_failures++;
    return false;
  }
  printf("ok %s (%zu elements, atol %g rtol %g)\n", what, n, atol, rtol);
  return true;
}
