/* Random input buffers for the bench cases (values do not matter for
 * timing, but NaN-free, denormal-free data keeps timings honest). */
#include <stdlib.h>

#include "bench.h"
#include "tc_common.h"

static uint64_t state = 0x2545F4914F6CDD1Dull;

static float uniform(float lo, float hi)
{
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return lo + (hi - lo) * (float)(((state * 0x2545F4914F6CDD1Dull) >> 40) * (1.0 / 16777216.0));
}

tc_status tc_bench_random_f32(tc_context *ctx, size_t n, float lo, float hi, tc_buffer **out, tc_error *err)
{
  float *v = malloc(n * sizeof *v);
  if (!v)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for %zu floats", n);
  for (size_t i = 0; i < n; i++)
    v[i] = uniform(lo, hi);
  tc_status st = tc_buffer_create_from(ctx, v, n * sizeof *v, out, err);
  free(v);
  return st;
}

tc_status tc_bench_random_f16(tc_context *ctx, size_t n, float lo, float hi, tc_buffer **out, tc_error *err)
{
  uint16_t *v = malloc(n * sizeof *v);
  if (!v)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for %zu halves", n);
  for (size_t i = 0; i < n; i++)
    v[i] = tc_f32_to_f16(uniform(lo, hi));
  tc_status st = tc_buffer_create_from(ctx, v, n * sizeof *v, out, err);
  free(v);
  return st;
}
