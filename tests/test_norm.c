/* tc_op_layernorm and tc_op_softmax against their double-precision
 * references, both kernel families, awkward and ViT shapes, in place too.
 * On CPU devices layer norm rows of a width not a multiple of 4, rows longer
 * than 65536 and more than 65535 rows go to the workgroup-per-row kernel:
 * covered as well.
 *
 * Tolerances. Layer norm: inputs are offset (mean about 4, spread 1) so the
 * mean cancels, and one row is constant (variance 0: the output is beta
 * only if the mean is exact, which the corrected two-pass gives). |y| is up
 * to ~5; the largest error seen is 2e-6 at |y| ~ 2.4 (a few ulp), so atol
 * 5e-6 rtol 2e-6 (about 5x). Softmax: an output is exp(a) / sum with a =
 * scale * x - max rounded to fp32 (|a| <= 40 here: relative error up to
 * 40 * 2^-24 = 2.4e-6) and exp's own few ulp; seen: 1e-6 relative. So rtol
 * 5e-6, plus atol 1e-9 for the tiniest probabilities.
 * Layer norm into fp16 (gpu kernels, the input of an fp16 matmul): the
 * reference is rounded to fp16 as the kernel's output (tc_ref_round_f16);
 * two values within the fp32 tolerance may round to neighbouring halves,
 * so one fp16 ulp (2^-10 relative at most, 2^-24 near zero) is added. */
#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

static const char *family_name(tc_context *ctx) { return tc_context_family(ctx) == TC_FAMILY_CPU ? "cpu" : "gpu"; }

/* Layer norm of fp32 x into fp16 y. */
static void check_layernorm_f16(tc_context *ctx, uint32_t rows, uint32_t cols)
{
  size_t n = (size_t)rows * cols;
  float *x = malloc(n * 4), *g = malloc(cols * 4), *b = malloc(cols * 4), *got = malloc(n * 4),
        *want = malloc(n * 4);
  uint16_t *h = malloc(n * 2);
  tc_test_fill(x, n, 3, 5);
  tc_test_fill(g, cols, -2, 2);
  tc_test_fill(b, cols, -1, 1);
  for (size_t i = 0; i < n; i++)
    h[i] = 0x7e00; /* NaN: every element must be written */
  const float eps = 1e-5f;
  tc_ref_layernorm(x, g, b, want, rows, cols, eps);
  tc_ref_round_f16(want, n);

  tc_error err = { 0 };
  tc_buffer *bx = NULL, *bg = NULL, *bb = NULL, *by = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, x, n * 4, &bx, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, g, cols * 4, &bg, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, b, cols * 4, &bb, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, h, n * 2, &by, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_layernorm_to(cmd, bx, bg, bb, by, TC_F16, rows, cols, eps, NULL, &err), &err) &&
      TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(by, 0, h, n * 2, &err), &err)) {
    for (size_t i = 0; i < n; i++)
      got[i] = tc_f16_to_f32(h[i]);
    char what[96];
    snprintf(what, sizeof what, "%s layernorm %ux%u to fp16", family_name(ctx), rows, cols);
    tc_test_close(what, got, want, n, 5e-6 + 1.0 / (1 << 24), 2e-6 + 1.0 / 1024);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(bx), tc_buffer_destroy(bg), tc_buffer_destroy(bb), tc_buffer_destroy(by);
  free(x), free(g), free(b), free(got), free(want), free(h);
}

/* fp16 y: the gpu kernels only, an even width, a buffer of its own. */
static void check_f16_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *b = NULL, *y = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 64 * 4, &b, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 64 * 2, &y, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_status st = tc_op_layernorm_to(cmd, b, b, b, y, TC_F16, 8, 8, 1e-5f, NULL, &err);
    if (tc_context_family(ctx) == TC_FAMILY_GPU) {
      TC_CHECK(st == TC_OK, "8x8 into a 128-byte fp16 y refused: %s", err.message);
      tc_error_clear(&err);
      TC_CHECK(tc_op_layernorm_to(cmd, b, b, b, y, TC_F16, 8, 7, 1e-5f, NULL, &err) == TC_ERR_UNSUPPORTED &&
                   strstr(err.message, "even width") != NULL,
               "odd width into fp16: %s", err.message);
      tc_error_clear(&err);
      TC_CHECK(tc_op_layernorm_to(cmd, b, b, b, b, TC_F16, 8, 8, 1e-5f, NULL, &err) == TC_ERR_UNSUPPORTED &&
                   strstr(err.message, "buffer of its own") != NULL,
               "fp16 y in place: %s", err.message);
      tc_error_clear(&err);
      TC_CHECK(tc_op_layernorm_to(cmd, b, b, b, y, TC_F16, 9, 8, 1e-5f, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
                   strstr(err.message, "smaller than 9x8") != NULL,
               "fp16 y too small: %s", err.message);
    } else {
      TC_CHECK(st == TC_ERR_UNSUPPORTED && strstr(err.message, "gpu kernels only") != NULL,
               "fp16 y on the cpu kernels: %s", err.message);
    }
    tc_error_clear(&err);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(y);
}

static void check_layernorm(tc_context *ctx, uint32_t rows, uint32_t cols, int in_place)
{
  size_t n = (size_t)rows * cols;
  float *x = malloc(n * 4), *g = malloc(cols * 4), *b = malloc(cols * 4), *got = malloc(n * 4),
        *want = malloc(n * 4);
  tc_test_fill(x, n, 3, 5);
  tc_test_fill(g, cols, -2, 2);
  tc_test_fill(b, cols, -1, 1);
  if (rows > 2) /* a constant row: variance 0, eps alone keeps it finite */
    for (uint32_t c = 0; c < cols; c++)
      x[cols + c] = 0.1f;
  const float eps = 1e-5f;
  tc_ref_layernorm(x, g, b, want, rows, cols, eps);

  tc_error err = { 0 };
  tc_buffer *bx = NULL, *bg = NULL, *bb = NULL, *by = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, x, n * 4, &bx, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, g, cols * 4, &bg, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create_from(ctx, b, cols * 4, &bb, &err), &err) &&
      (in_place || TC_CHECK_OK(tc_buffer_create(ctx, n * 4, &by, &err), &err)) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_layernorm(cmd, bx, bg, bb, in_place ? bx : by, rows, cols, eps, NULL, &err), &err) &&
      TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(in_place ? bx : by, 0, got, n * 4, &err), &err)) {
    char what[96];
    snprintf(what, sizeof what, "%s layernorm %ux%u%s", family_name(ctx), rows, cols, in_place ? " in place" : "");
    tc_test_close(what, got, want, n, 5e-6, 2e-6);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(bx), tc_buffer_destroy(bg), tc_buffer_destroy(bb), tc_buffer_destroy(by);
  free(x), free(g), free(b), free(got), free(want);
}

static void check_softmax(tc_context *ctx, uint32_t rows, uint32_t cols, float scale, int in_place)
{
  size_t n = (size_t)rows * cols;
  float *x = malloc(n * 4), *got = malloc(n * 4), *want = malloc(n * 4);
  /* |scale * x| <= 20: probabilities spread over e^40 */
  tc_test_fill(x, n, -20 / fabsf(scale), 20 / fabsf(scale));
  tc_ref_softmax(x, want, rows, cols, scale);

  tc_error err = { 0 };
  tc_buffer *bx = NULL, *by = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, x, n * 4, &bx, &err), &err) &&
      (in_place || TC_CHECK_OK(tc_buffer_create(ctx, n * 4, &by, &err), &err)) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err) &&
      TC_CHECK_OK(tc_op_softmax(cmd, bx, in_place ? bx : by, rows, cols, scale, NULL, &err), &err) &&
      TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) && TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
      TC_CHECK_OK(tc_buffer_download(in_place ? bx : by, 0, got, n * 4, &err), &err)) {
    char what[96];
    snprintf(what, sizeof what, "%s softmax %ux%u scale %g%s", family_name(ctx), rows, cols, scale,
             in_place ? " in place" : "");
    tc_test_close(what, got, want, n, 1e-9, 5e-6);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(bx), tc_buffer_destroy(by);
  free(x), free(got), free(want);
}

/* Bad arguments come back as a status and a message naming the problem. */
static void check_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *b = NULL;
  tc_cmd *cmd = NULL;
  if (!TC_CHECK_OK(tc_buffer_create(ctx, 64 * 4, &b, &err), &err) || !TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) ||
      !TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_cmd_destroy(cmd), tc_buffer_destroy(b);
    return;
  }
  TC_CHECK(tc_op_layernorm(cmd, b, b, b, b, 8, 9, 1e-5f, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
               strstr(err.message, "smaller than 8x9") != NULL,
           "too small a buffer: %s", err.message);
  tc_error_clear(&err);
  TC_CHECK(tc_op_layernorm(cmd, b, b, b, b, 4, 4, -1.0f, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
               strstr(err.message, "eps") != NULL,
           "negative eps: %s", err.message);
  tc_error_clear(&err);
  TC_CHECK(tc_op_softmax(cmd, b, b, 0, 4, 1.0f, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
               strstr(err.message, "empty") != NULL,
           "no rows: %s", err.message);
  tc_error_clear(&err);
  TC_CHECK(tc_op_softmax(cmd, b, b, 4, 4, NAN, NULL, &err) == TC_ERR_INVALID_ARGUMENT &&
               strstr(err.message, "scale") != NULL,
           "NaN scale: %s", err.message);
  tc_error_clear(&err);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b);
}

static void run_family(tc_context *ctx)
{
  static const uint32_t shapes[][2] = {
    { 1, 1 }, { 3, 2 }, { 7, 5 }, { 13, 1023 }, { 5, 1031 }, { 197, 768 }, { 257, 1024 }, { 1370, 1024 },
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    check_layernorm(ctx, shapes[i][0], shapes[i][1], 0);
  check_layernorm(ctx, 197, 771, 1);
  check_layernorm(ctx, 197, 768, 1);

  check_softmax(ctx, 1, 1, 1.0f, 0);
  check_softmax(ctx, 7, 3, 1.0f, 0);
  check_softmax(ctx, 12 * 5, 197, 0.125f, 0);
  check_softmax(ctx, 9, 1031, -0.5f, 0);
  check_softmax(ctx, 1370, 1370, 1.0f, 0);
  check_softmax(ctx, 77, 77, 1.0f, 1);
  /* rows longer than the CPU kernels take (llvmpipe's loop limit): the
   * workgroup-per-row kernels serve them on every device */
  check_softmax(ctx, 2, 70001, 1.0f, 0);
  check_softmax(ctx, 70000, 3, 1.0f, 0); /* more rows than workgroups in a dispatch */
  check_layernorm(ctx, 2, 70000, 0);
  check_errors(ctx);
  check_f16_errors(ctx);
  if (tc_context_family(ctx) == TC_FAMILY_GPU) {
    check_layernorm_f16(ctx, 3, 2);
    check_layernorm_f16(ctx, 197, 768);
    check_layernorm_f16(ctx, 5, 1030);
  }
}

int main(void)
{
  tc_test_seed(7);
  tc_context *cpu = tc_test_context(TC_FAMILY_CPU);
  run_family(cpu);
  int st = tc_test_finish(cpu);
  tc_context *gpu = tc_test_context(TC_FAMILY_GPU);
  run_family(gpu);
  return tc_test_finish(gpu) | st;
}
