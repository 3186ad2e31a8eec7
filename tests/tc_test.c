#include "tc_test.h"

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
  return tc_check_finish();
}

