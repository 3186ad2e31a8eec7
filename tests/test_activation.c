/* tc_op_activation against tc_ref_activation (libm erff, expf), both kernel
 * families (the same shader), on an awkward length, in place too.
 *
 * GELU tests the GLSL erf (shaders/activation.glsl): GELU(x) = x/2 (1 +
 * erf(x/sqrt2)), so an erf error e shows as x/2 * e. We require
 *   |got - want| <= |x|/2 * 1.5e-7 + 3 ulp(want)
 * i.e. erf good to 1.5e-7 absolute (the fit is 8e-8 in fp32 arithmetic) and
 * print the largest erf error the results imply. QuickGELU: x / (1 +
 * exp(-1.702 x)) rounds 1.702 x (up to 17 * 2^-24 relative in exp for |x| <=
 * 10) and exp adds a few ulp: rtol 2e-6, atol 1e-30 for underflow to +-0. */
#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

/* Inputs: uniform in [-10, 10] plus the points where something changes. */
static void fill_inputs(float *x, size_t n)
{
  static const float special[] = {
    0.0f, -0.0f, 1e-6f, -1e-6f, 1e-30f, 0.875f * 1.41421356f, -0.875f * 1.41421356f, 4.0f * 1.41421356f,
    -4.0f * 1.41421356f, 6.0f, -6.0f, 30.0f, -30.0f, -50.0f, -52.0f, -60.0f, -100.0f, 100.0f, -1e4f, 1e4f,
  };
  tc_test_fill(x, n, -10, 10);
  for (size_t i = 0; i < sizeof special / sizeof special[0] && i < n; i++)
    x[i] = special[i];
}

static bool run_activation(tc_context *ctx, const float *x, float *got, size_t n, tc_act act, int in_place)
{
  tc_error err = { 0 };
  tc_buffer *bx = NULL, *by = NULL;
  tc_cmd *cmd = NULL;
  bool ok = TC_CHECK_OK(tc_buffer_create_from(ctx, x, n * 4, &bx, &err), &err) &&
            (in_place || TC_CHECK_OK(tc_buffer_create(ctx, n * 4, &by, &err), &err)) &&
            TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
            TC_CHECK_OK(tc_op_activation(cmd, bx, in_place ? bx : by, (uint32_t)n, act, NULL, &err), &err) &&
            TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
            TC_CHECK_OK(tc_buffer_download(in_place ? bx : by, 0, got, n * 4, &err), &err);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(bx), tc_buffer_destroy(by);
  return ok;
}

static void check_gelu(const char *fam, const float *x, const float *got, const float *want, size_t n)
{
  size_t bad = 0, worst = 0;
  double implied = 0; /* largest erf error the results imply, where that is measurable */
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]), half = 0.5 * fabs((double)x[i]);
    double lim = half * 1.5e-7 + 3 * 0x1p-24 * fabs((double)want[i]);
    if (!(d <= lim) && bad++ == 0)
      worst = i;
    if (x[i] < -1 && d / half > implied) /* GELU < 0.16 there: its own rounding adds < 3e-8 */
      implied = d / half;
  }
  TC_CHECK(bad == 0, "%s gelu: %zu of %zu outside |x|/2*1.5e-7 + 3ulp; first x=%.9g got %.9g want %.9g", fam, bad, n,
           x[worst], got[worst], want[worst]);
  if (!bad)
    printf("ok %s gelu (%zu elements; erf error implied by x < -1: %.3g)\n", fam, n, implied);
}

static void run_family(tc_context *ctx)
{
  const char *fam = tc_context_family(ctx) == TC_FAMILY_CPU ? "cpu" : "gpu";
  const size_t n = 1000003; /* not a multiple of the workgroup or the grid stride */
  float *x = malloc(n * 4), *got = malloc(n * 4), *want = malloc(n * 4);
  fill_inputs(x, n);
  char what[64];

  tc_ref_activation(x, want, n, TC_ACT_GELU);
  if (run_activation(ctx, x, got, n, TC_ACT_GELU, 0))
    check_gelu(fam, x, got, want, n);

  tc_ref_activation(x, want, n, TC_ACT_QUICK_GELU);
  if (run_activation(ctx, x, got, n, TC_ACT_QUICK_GELU, 1)) {
    snprintf(what, sizeof what, "%s quick_gelu in place", fam);
    tc_test_close(what, got, want, n, 1e-30, 2e-6);
  }

  tc_ref_activation(x, want, n, TC_ACT_NONE);
  if (run_activation(ctx, x, got, 4099, TC_ACT_NONE, 0)) {
    snprintf(what, sizeof what, "%s identity", fam);
    tc_test_close(what, got, want, 4099, 0, 0);
  }

  /* more elements than 65535 workgroups of 64 cover: the grid-stride loop */
  const size_t big = 5u << 20;
  float *bx = malloc(big * 4), *bgot = malloc(big * 4), *bwant = malloc(big * 4);
  tc_test_fill(bx, big, -8, 8);
  tc_ref_activation(bx, bwant, big, TC_ACT_QUICK_GELU);
  if (run_activation(ctx, bx, bgot, big, TC_ACT_QUICK_GELU, 0)) {
    snprintf(what, sizeof what, "%s quick_gelu %zu elements", fam, big);
    tc_test_close(what, bgot, bwant, big, 1e-30, 2e-6);
  }

  tc_error err = { 0 };
  tc_cmd *cmd = NULL;
  tc_buffer *b = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 16, &b, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    TC_CHECK(tc_op_activation(cmd, b, b, 4, (tc_act)7, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(err.message, "tc_act 7") != NULL,
             "unknown activation: %s", err.message);
    tc_error_clear(&err);
    TC_CHECK(tc_op_activation(cmd, b, b, 5, TC_ACT_GELU, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
                 strstr(err.message, "shorter than 5") != NULL,
             "short buffer: %s", err.message);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b);
  free(x), free(got), free(want), free(bx), free(bgot), free(bwant);
}

int main(void)
{
  tc_test_seed(11);
  tc_context *cpu = tc_test_context(TC_FAMILY_CPU);
  run_family(cpu);
  int st = tc_test_finish(cpu);
  tc_context *gpu = tc_test_context(TC_FAMILY_GPU);
  run_family(gpu);
  return tc_test_finish(gpu) | st;
}
