#include "tc_test.h"

#include "image/tc_preprocess.h"

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

/* Model input of a frame on the device (NULL on failure, reported). */
float *tc_test_preprocess(tc_context *ctx, const tc_frame *f, const uint8_t *px, uint32_t size,
                                tc_resample_filter filter)
{
  size_t n_out = 3 * (size_t)size * size;
  float *got = malloc(n_out * 4);
  tc_error err = { 0 };
  tc_preprocess *pp = NULL;
  tc_buffer *frame = NULL, *o = NULL;
  tc_cmd *cmd = NULL;
  int ok = TC_CHECK_OK(tc_preprocess_create(ctx, f, size, filter, &pp, &err), &err) &&
           TC_CHECK_OK(tc_frame_buffer_create(ctx, f, &frame, &err), &err) &&
           TC_CHECK_OK(tc_frame_upload(frame, f, px, f->stride, &err), &err) &&
           TC_CHECK_OK(tc_buffer_create(ctx, n_out * 4, &o, &err), &err) &&
           TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
           TC_CHECK_OK(tc_preprocess_record(pp, cmd, frame, o, &err), &err) &&
           TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
           TC_CHECK_OK(tc_buffer_download(o, 0, got, n_out * 4, &err), &err);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(o);
  tc_buffer_destroy(frame);
  tc_preprocess_destroy(pp);
  if (!ok)
    free(got), got = NULL;
  return got;
}
