/* The Vulkan core itself: buffers, kernels, command sequences, errors. */
#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

static void test_buffer_roundtrip(tc_context *ctx)
{
  tc_error err = { 0 };
  float src[37], dst[37];
  tc_test_fill(src, 37, -1, 1);
  tc_buffer *b = NULL;
  if (!TC_CHECK_OK(tc_buffer_create_from(ctx, src, sizeof src, &b, &err), &err))
    return;
  TC_CHECK(tc_buffer_size(b) >= sizeof src && tc_buffer_size(b) % 16 == 0, "size %zu", tc_buffer_size(b));
  TC_CHECK_OK(tc_buffer_download(b, 0, dst, sizeof dst, &err), &err);
  TC_CHECK(memcmp(src, dst, sizeof src) == 0, "download differs from upload");
  /* out-of-range copies are refused with a message, not performed */
  TC_CHECK(tc_buffer_upload(b, 100, src, sizeof src, &err) == TC_ERR_INVALID_ARGUMENT, "range check");
  TC_CHECK(strstr(err.message, "exceeds") != NULL, "message: %s", err.message);
  tc_buffer_destroy(b);
  tc_error_clear(&err);
  TC_CHECK(tc_buffer_create(ctx, 0, &b, &err) == TC_ERR_INVALID_ARGUMENT && b == NULL, "zero-size buffer");
}

/* Residual add on an awkward size, recorded once and submitted twice. */
static void test_add(tc_context *ctx)
{
  const uint32_t n = 1000003; /* not a multiple of the workgroup */
  float *a = malloc(n * 4), *b = malloc(n * 4), *y = malloc(n * 4), *want = malloc(n * 4);
  tc_test_fill(a, n, -2, 2);
  tc_test_fill(b, n, -2, 2);
  tc_ref_add(a, b, want, n);
  tc_error err = { 0 };
  tc_buffer *ba = NULL, *bb = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, a, n * 4, &ba, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, b, n * 4, &bb, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_add(cmd, ba, bb, ba, n, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_run(cmd, &err), &err)) {
    tc_buffer_download(ba, 0, y, n * 4, &err);
    /* exact: one fp32 add either way */
    tc_test_close("add in place", y, want, n, 0, 0);
    /* second submission of the same recording adds b again */
    TC_CHECK_OK(tc_cmd_run(cmd, &err), &err);
    tc_ref_add(want, b, want, n);
    tc_buffer_download(ba, 0, y, n * 4, &err);
    tc_test_close("add resubmitted", y, want, n, 0, 0);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(ba);
  tc_buffer_destroy(bb);
  free(a), free(b), free(y), free(want);
}

static void test_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_kernel *k = NULL;
  tc_kernel_desc d = { .shader = "no_such_shader", .n_bindings = 1 };
  TC_CHECK(tc_kernel_get(ctx, &d, &k, &err) == TC_ERR_INVALID_ARGUMENT && !k, "unknown shader accepted");
  TC_CHECK(strstr(err.message, "no_such_shader") != NULL, "message names the shader: %s", err.message);

  tc_error_clear(&err);
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err)) {
    TC_CHECK(tc_cmd_submit(cmd, &err) == TC_ERR_INVALID_ARGUMENT, "submit of an empty sequence");
    tc_cmd_destroy(cmd);
  }

  tc_error_clear(&err);
  tc_context_options opts;
  tc_context_options_init(&opts);
  opts.device = "no such device name";
  opts.cache_dir = "";
  tc_context *other = NULL;
  TC_CHECK(tc_context_create(&opts, &other, &err) == TC_ERR_NO_DEVICE && !other, "unknown device accepted");
  TC_CHECK(strstr(err.message, "no such device name") != NULL, "message: %s", err.message);
}

int main(void)
{
  tc_context *ctx = tc_test_context(TC_FAMILY_AUTO);
  test_buffer_roundtrip(ctx);
  test_add(ctx);
  test_errors(ctx);
  return tc_test_finish(ctx);
}
