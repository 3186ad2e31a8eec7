#include "tc_test.h"

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

tc_context *tc_test_context(tc_kernel_family family) { return tc_test_context_coopmat(family, -1); }

tc_context *tc_test_context_coopmat(tc_kernel_family family, int cooperative_matrix)
{
  tc_context_options opts;
  tc_context_options_init(&opts);
  /* validation always, unless TOKENCLIP_VALIDATE=0 asks otherwise (a GPU
   * machine without the layer installed) */
  const char *v = getenv("TOKENCLIP_VALIDATE");
  opts.validation = !(v && strcmp(v, "0") == 0);
  opts.family = family;
  opts.cooperative_matrix = cooperative_matrix;
  tc_context *ctx = NULL;
  tc_error err = { 0 };
  if (tc_context_create(&opts, &ctx, &err) != TC_OK) {
    const char *ci = getenv("CI");
    bool in_ci = ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
    fprintf(stderr, "%s: no Vulkan device: %s\n", in_ci ? "FAIL (CI=true)" : "SKIP", err.message);
    exit(in_ci ? 1 : TC_SKIP);
  }
  printf("device: %s, kernels: %s%s\n", tc_context_device_name(ctx),
         tc_context_family(ctx) == TC_FAMILY_CPU ? "cpu" : "gpu",
         tc_context_has_coopmat(ctx) ? " + cooperative matrices" : "");
  return ctx;
}

int tc_test_finish(tc_context *ctx)
{
  if (ctx) {
    uint32_t n = tc_context_validation_messages(ctx);
    TC_CHECK(n == 0, "the Vulkan validation layer reported %u message(s)", n);
    tc_context_destroy(ctx);
  }
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
