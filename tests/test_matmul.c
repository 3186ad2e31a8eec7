/* tc_op_matmul against tc_ref_matmul, both kernel families.
 *
 * Tolerances: the reference accumulates in double, the kernels in fp32; with
 * x in [-1, 1) and w in +-1/sqrt(K) the fp32 rounding error grows about like
 * sqrt(K), so we allow
 *   atol = 5e-7 * sqrt(K) (1.4e-5 at K = 768),  rtol = 2e-6,
 * 5x the largest error seen on lavapipe (3e-6 at K = 768) and far below the
 * 0.2-0.4 relative error of the miscompilation this test exists to catch
 * (DESIGN.md). fp16 weights are compared with a reference made from the same
 * fp16-rounded weights, so the same tolerance applies. The activations are
 * checked on their own (K = 4, one non-zero weight: the product is exact) to
 * 3e-7 absolute + 2.5e-7 relative: the GLSL erf is a fit accurate to 1e-7
 * (largest error seen 2.4e-7 at |y| ~ 8, a quarter of an ulp there).
 *
 * The cooperative-matrix variant (where the device has it) rounds x and w to
 * fp16 (relative error up to 2^-11 each) and sums in fp32, so its error is
 * that of K products with ~2^-11 relative error and random sign: about
 * 2^-11 * |x|max * |w|max * sqrt(K) / 2 in rms. It is held to
 *   atol = 4 * 2^-11 * sqrt(K) * max|x| * max|w|,  rtol = 2^-10
 * (2e-3 for the random cases, whose w is +-1/sqrt(K); 0.03 for the
 * activation sweep, where x up to 8 rounds to 2^-7 steps), about 8 rms, and
 * still 100x below the errors of a wrong tile or a missed bound. The worst
 * error seen is printed with each case. Emulated cooperative matrices
 * (tc_context_options.cooperative_matrix = 2: the same kernel source with
 * the matrix operations in plain GLSL) do the same arithmetic up to the
 * order of the sums and are held to the same tolerance; they run here, on
 * lavapipe, so the kernel's tiling, bounds and epilogue are tested before a
 * GPU sees them.
 *
 * fp16 activations (gpu kernels): fp16 x is made on the host from the
 * random fp32 x, and the reference gets the same rounded values, so x adds
 * no error. fp16 y is the kernel's fp32 result rounded to fp16; the
 * reference is rounded the same way (tc_ref_round_f16), and two values
 * within the fp32 tolerance may still round to neighbouring halves: one
 * fp16 ulp, 2^-10 relative at most, is added to rtol (and 2^-24, the
 * spacing of subnormal halves, to atol). */
#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

enum { RES_NONE, RES_BUFFER, RES_IN_PLACE }; /* no residual, its own buffer, y itself */

typedef struct mm_case {
  uint32_t M, N, K;
  tc_dtype w_dtype;
  int bias, residual;
  tc_act act;
  int panels; /* w uploaded as tc_matmul_pack_panels lays it out */
  int x16, y16; /* fp16 x, fp16 y (gpu kernels) */
  uint32_t split; /* tc_matmul.split_k */
} mm_case;

static const char *const res_names[] = { "", " residual", " residual-in-place" };

static const char *act_name(tc_act a)
{
  return a == TC_ACT_GELU ? "gelu" : a == TC_ACT_QUICK_GELU ? "quick_gelu" : "none";
}

/* Runs one case on ctx with the given inputs (w is rounded to fp16 in place
 * for fp16 cases); returns false after recording a failure. */
static bool check_case(tc_context *ctx, const mm_case *c, const float *x_in, float *w, const float *bias,
                       const float *y0, double atol, double rtol)
{
  size_t M = c->M, N = c->N, K = c->K;
  float *want = malloc(M * N * 4), *got = malloc(M * N * 4), *x = malloc(M * K * 4);
  uint16_t *w16 = malloc(N * K * 2), *x16 = malloc(M * K * 2), *y16 = malloc(M * N * 2);
  memcpy(x, x_in, M * K * 4);
  if (c->w_dtype == TC_F16)
    for (size_t i = 0; i < N * K; i++) {
      w16[i] = tc_f32_to_f16(w[i]);
      w[i] = tc_f16_to_f32(w16[i]); /* the reference sees what the kernel sees */
    }
  if (c->x16)
    for (size_t i = 0; i < M * K; i++) {
      x16[i] = tc_f32_to_f16(x[i]);
      x[i] = tc_f16_to_f32(x16[i]);
    }
  tc_ref_matmul(x, w, c->bias ? bias : NULL, c->residual ? y0 : NULL, want, M, N, K, c->act);
  if (c->y16)
    tc_ref_round_f16(want, M * N);
  const int coop = tc_context_has_coopmat(ctx);
  if (coop) { /* fp16 inputs: see the top of the file */
    double xmax = 0, wmax = 0;
    for (size_t i = 0; i < M * K; i++)
      xmax = fmax(xmax, fabs(x[i]));
    for (size_t i = 0; i < N * K; i++)
      wmax = fmax(wmax, fabs(w[i]));
    atol = 4.0 / 2048 * sqrt((double)K) * xmax * wmax;
    rtol = 1.0 / 1024;
  }
  if (c->y16) { /* one fp16 ulp: see the top of the file */
    atol += 1.0 / (1 << 24);
    rtol += 1.0 / 1024;
  }
  for (size_t i = 0; i < M * N; i++) {
    got[i] = NAN; /* y's stale content when it is not the residual: every element must be written */
    y16[i] = 0x7e00; /* NaN */
  }

  char what[192];
  char split[48] = "";
  if (c->split > 1)
    snprintf(split, sizeof split, " split K %u%s", c->split,
             !coop || !tc_context_has_float_atomic_add(ctx)             ? " (not taken: no float atomics)"
             : c->residual != RES_IN_PLACE || c->act != TC_ACT_NONE || c->y16 ? " (not taken: not an add into y)"
                                                                            : "");
  snprintf(what, sizeof what, "%s M=%u N=%u K=%u w %s%s%s%s act %s%s%s%s",
           coop == 2 ? "coopmat-emulated" : coop ? "coopmat" : tc_context_family(ctx) ? "gpu" : "cpu", c->M,
           c->N, c->K, c->w_dtype == TC_F16 ? "f16" : "f32", c->panels ? " panels" : "", c->bias ? " bias" : "",
           res_names[c->residual], act_name(c->act), c->x16 ? " x f16" : "", c->y16 ? " y f16" : "", split);
  /* the device's copy of w: fp32 or fp16, row-major or in panels */
  size_t w_bytes = c->panels ? tc_matmul_panels_bytes(c->N, c->K, c->w_dtype) : N * K * tc_dtype_size(c->w_dtype);
  void *w_dev = malloc(w_bytes);
  if (c->panels)
    tc_matmul_pack_panels(c->w_dtype == TC_F16 ? (void *)w16 : (void *)w, w_dev, c->N, c->K, c->w_dtype);
  else
    memcpy(w_dev, c->w_dtype == TC_F16 ? (void *)w16 : (void *)w, w_bytes);
  tc_error err = { 0 };
  tc_buffer *bx = NULL, *bw = NULL, *bb = NULL, *br = NULL, *by = NULL;
  tc_cmd *cmd = NULL;
  bool ok = TC_CHECK_OK(c->x16 ? tc_buffer_create_from(ctx, x16, M * K * 2, &bx, &err)
                                : tc_buffer_create_from(ctx, x, M * K * 4, &bx, &err),
                        &err) &&
            TC_CHECK_OK(tc_buffer_create_from(ctx, w_dev, w_bytes, &bw, &err), &err) &&
            TC_CHECK_OK(tc_buffer_create_from(ctx, bias, N * 4, &bb, &err), &err) &&
            TC_CHECK_OK(tc_buffer_create_from(ctx, y0, M * N * 4, &br, &err), &err) &&
            TC_CHECK_OK(c->residual == RES_IN_PLACE ? tc_buffer_create_from(ctx, y0, M * N * 4, &by, &err)
                        : c->y16                    ? tc_buffer_create_from(ctx, y16, M * N * 2, &by, &err)
                                                    : tc_buffer_create_from(ctx, got, M * N * 4, &by, &err),
                        &err) &&
            TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err);
  if (ok) {
    tc_matmul mm = {
      .x = bx, .w = bw, .w_dtype = c->w_dtype, .bias = c->bias ? bb : NULL,
      .residual = c->residual == RES_IN_PLACE ? by : c->residual == RES_BUFFER ? br : NULL,
      .y = by, .M = c->M, .N = c->N, .K = c->K, .act = c->act, .w_panels = c->panels,
      .x_dtype = c->x16 ? TC_F16 : TC_F32, .y_dtype = c->y16 ? TC_F16 : TC_F32, .split_k = c->split,
    };
    ok = TC_CHECK_OK(tc_op_matmul(cmd, &mm, "matmul", &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
         TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
         TC_CHECK_OK(c->y16 ? tc_buffer_download(by, 0, y16, M * N * 2, &err)
                            : tc_buffer_download(by, 0, got, M * N * 4, &err),
                     &err);
    if (ok && c->y16)
      for (size_t i = 0; i < M * N; i++)
        got[i] = tc_f16_to_f32(y16[i]);
    if (ok)
      ok = tc_test_close(what, got, want, M * N, atol, rtol);
    if (ok && coop) {
      double worst = 0;
      for (size_t i = 0; i < M * N; i++)
        worst = fmax(worst, fabs((double)got[i] - want[i]));
      printf("   coopmat worst |error| %.3g (atol %.3g)\n", worst, atol);
    }
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(bx), tc_buffer_destroy(bw), tc_buffer_destroy(bb), tc_buffer_destroy(br), tc_buffer_destroy(by);
  free(w16), free(w_dev), free(want), free(got), free(x), free(x16), free(y16);
  return ok;
}

/* Random x in [-1, 1), w scaled like a trained layer, bias, residual. */
static bool run_random(tc_context *ctx, const mm_case *c, double atol, double rtol)
{
  size_t M = c->M, N = c->N, K = c->K;
  float *x = malloc(M * K * 4), *w = malloc(N * K * 4), *bias = malloc(N * 4), *y0 = malloc(M * N * 4);
  tc_test_fill(x, M * K, -1, 1);
  float ws = 1.0f / sqrtf((float)K);
  tc_test_fill(w, N * K, -ws, ws);
  tc_test_fill(bias, N, -0.5f, 0.5f);
  tc_test_fill(y0, M * N, -1, 1);
  bool ok = check_case(ctx, c, x, w, bias, y0, atol, rtol);
  free(x), free(w), free(bias), free(y0);
  return ok;
}

static double atol_for(uint32_t K) { return 5e-7 * sqrt((double)K); }

static void test_shapes(tc_context *ctx, bool big)
{
  static const uint32_t Ms[] = { 1, 7, 197, 1370 };
  static const uint32_t Ns[] = { 1, 13, 50, 773 };
  static const uint32_t Ks[] = { 4, 12, 588, 768, 3, 15, 590 }; /* the last three: K % 4 != 0 */
  /* Every M, N and K appears with the others in turn rather than as a full
   * product (which would take minutes on lavapipe); options rotate too. */
  for (size_t i = 0; i < 16; i++) {
    mm_case c = {
      .M = Ms[i % 4], .N = Ns[(i / 4 + i) % 4], .K = Ks[i % 7],
      .w_dtype = (i / 2) % 2 ? TC_F16 : TC_F32,
      .bias = i % 4 < 2,
      .residual = (int)(i % 3), /* none, a buffer of its own, y itself */
      .act = (tc_act)((i / 3) % 3),
    };
    if (!big && (uint64_t)c.M * c.N * c.K > 50000000ull)
      c.M = 97; /* the shared-memory kernel crawls on lavapipe */
    run_random(ctx, &c, atol_for(c.K), 2e-6);
  }
}

/* Each activation on its own: K = 4 and every row of w is (1, 0, 0, 0), so
 * the product is exactly x[m][0], which sweeps [-8, 8] where they bend. */
static void test_activations(tc_context *ctx)
{
  enum { M = 4001, N = 3, K = 4 };
  static float x[M * K], w[N * K], bias[N], y0[M * N];
  for (int a = 0; a <= TC_ACT_GELU; a++) {
    tc_test_fill(x, M * K, -1, 1);
    for (int m = 0; m < M; m++)
      x[m * K] = -8.0f + 16.0f * m / (M - 1);
    memset(w, 0, sizeof w);
    for (int n = 0; n < N; n++)
      w[n * K] = 1.0f;
    mm_case c = { .M = M, .N = N, .K = K, .act = (tc_act)a };
    check_case(ctx, &c, x, w, bias, y0, 3e-7, 2.5e-7);
  }
}

/* Wrong arguments come back as a status and a message naming the problem,
 * and nothing is recorded. */
static void test_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *small = NULL, *w = NULL, *y = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 64, &small, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &w, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &y, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_matmul mm = { .x = small, .w = w, .y = y, .M = 8, .N = 8, .K = 8 };
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_small_x", &err) == TC_ERR_MISMATCH, "x of 64 bytes for 8x8 accepted");
    TC_CHECK(strstr(err.message, "mm_small_x: x holds 64 bytes") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.x = w;
    mm.y = w;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_alias", &err) == TC_ERR_INVALID_ARGUMENT, "y aliasing x and w accepted");
    TC_CHECK(strstr(err.message, "alias") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.y = y;
    mm.K = 0;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_empty", &err) == TC_ERR_INVALID_ARGUMENT, "K = 0 accepted");
    TC_CHECK(strstr(err.message, "empty shape") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.K = 8;
    mm.act = (tc_act)7;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_act", &err) == TC_ERR_INVALID_ARGUMENT, "activation 7 accepted");
    TC_CHECK(strstr(err.message, "activation 7") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.act = TC_ACT_NONE;
    mm.w_panels = 1; /* 8 rows in panels take 16 rows of room: 512 bytes, w has 4096 */
    mm.K = 6;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_panels_k", &err) == TC_ERR_UNSUPPORTED, "panels with K %% 4 != 0 accepted");
    TC_CHECK(strstr(err.message, "panels") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.K = 8;
    mm.N = 200; /* 208 rows x 8 x 4 bytes > 4096 */
    mm.M = 1;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_panels_size", &err) == TC_ERR_MISMATCH, "w too small for panels accepted");
    TC_CHECK(strstr(err.message, "w (panels) holds 4096 bytes") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(small), tc_buffer_destroy(w), tc_buffer_destroy(y);
}

/* The GPU kernels read row-major w: they neither want nor accept panels. */
static void test_panels_refused(tc_context *ctx)
{
  TC_CHECK(!tc_matmul_panels_wanted(ctx, 768), "the gpu kernels want row-major w");
  tc_error err = { 0 };
  tc_buffer *b = NULL, *y = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 4096, &b, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &y, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_matmul mm = { .x = b, .w = b, .y = y, .M = 4, .N = 16, .K = 8, .w_panels = 1 };
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_panels_gpu", &err) == TC_ERR_UNSUPPORTED, "panels on the gpu kernels accepted");
    TC_CHECK(strstr(err.message, "gpu kernels") != NULL, "message: %s", err.message);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(y);
}

/* fp16 x, fp16 y or both on the gpu kernels, with the epilogue's options
 * (fp16 y: N even, no residual). */
static void test_f16(tc_context *ctx)
{
  static const mm_case cases[] = {
    { .M = 197, .N = 50, .K = 590, .bias = 1, .act = TC_ACT_GELU, .x16 = 1 }, /* K % 4 != 0: scalar loads */
    { .M = 7, .N = 52, .K = 12, .residual = RES_IN_PLACE, .x16 = 1 },         /* into the fp32 stream */
    { .M = 130, .N = 67, .K = 36, .w_dtype = TC_F16, .bias = 1, .residual = RES_BUFFER, .x16 = 1 },
    { .M = 77, .N = 130, .K = 64, .w_dtype = TC_F16, .bias = 1, .act = TC_ACT_QUICK_GELU, .y16 = 1 },
    { .M = 1, .N = 2, .K = 3, .x16 = 1, .y16 = 1 },
    { .M = 65, .N = 66, .K = 30, .bias = 1, .act = TC_ACT_GELU, .x16 = 1, .y16 = 1 },
    { .M = 197, .N = 2304, .K = 768, .w_dtype = TC_F16, .bias = 1, .x16 = 1, .y16 = 1 }, /* ViT-B/16 qkv */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_random(ctx, &cases[i], atol_for(cases[i].K), 2e-6);
}

/* K split over workgroups (cooperative matrices, in-place residual, no
 * activation): parts of equal and unequal length, vector and scalar loads;
 * a request the kernel cannot take (an activation) changes nothing. */
static void test_split_k(tc_context *ctx)
{
  static const mm_case cases[] = {
    { .M = 97, .N = 773, .K = 768, .w_dtype = TC_F16, .bias = 1, .residual = RES_IN_PLACE, .split = 3 },
    { .M = 197, .N = 50, .K = 590, .residual = RES_IN_PLACE, .x16 = 1, .split = 4 },
    { .M = 7, .N = 52, .K = 12, .bias = 1, .act = TC_ACT_GELU, .residual = RES_IN_PLACE, .split = 2 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_random(ctx, &cases[i], atol_for(cases[i].K), 2e-6);
}

/* What fp16 activations refuse, with a message naming it. */
static void test_f16_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *x = NULL, *w = NULL, *y = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 64, &x, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &w, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &y, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    /* 8x4 fp16 x is 64 bytes: fits; as fp32 it would not */
    tc_matmul mm = { .x = x, .w = w, .y = y, .M = 8, .N = 8, .K = 4, .x_dtype = TC_F16, .y_dtype = TC_F16 };
    TC_CHECK_OK(tc_op_matmul(cmd, &mm, "mm_f16", &err), &err);
    mm.K = 5; /* 80 bytes */
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_f16_x", &err) == TC_ERR_MISMATCH, "fp16 x of 64 bytes for 8x5 accepted");
    TC_CHECK(strstr(err.message, "mm_f16_x: x holds 64 bytes") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.K = 4;
    mm.residual = y;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_f16_res", &err) == TC_ERR_UNSUPPORTED, "fp16 y with a residual accepted");
    TC_CHECK(strstr(err.message, "residual") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.residual = NULL;
    mm.N = 7;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_f16_odd", &err) == TC_ERR_UNSUPPORTED, "fp16 y with N odd accepted");
    TC_CHECK(strstr(err.message, "N even") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
    mm.N = 8;
    mm.x_dtype = (tc_dtype)5;
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_dtype", &err) == TC_ERR_UNSUPPORTED, "x dtype 5 accepted");
    TC_CHECK(strstr(err.message, "x dtype 5") != NULL, "message: %s", err.message);
    tc_error_clear(&err);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(x), tc_buffer_destroy(w), tc_buffer_destroy(y);
}

/* The cpu kernels read and write fp32 only. */
static void test_f16_refused(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *b = NULL, *y = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 4096, &b, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 4096, &y, &err), &err) && TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) &&
      TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_matmul mm = { .x = b, .w = b, .y = y, .M = 4, .N = 16, .K = 8, .x_dtype = TC_F16 };
    TC_CHECK(tc_op_matmul(cmd, &mm, "mm_f16_cpu", &err) == TC_ERR_UNSUPPORTED, "fp16 x on the cpu kernels accepted");
    TC_CHECK(strstr(err.message, "gpu kernels only") != NULL, "message: %s", err.message);
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(y);
}

int main(void)
{
  tc_test_seed(42);
  tc_context *cpu = tc_test_context(TC_FAMILY_CPU);
  test_shapes(cpu, true);
  /* More for matmul_cpu (K % 4 == 0): N % 4 == 0 with an in-place residual,
   * ViT-B/16's MLP, panels, the edges of its 32-row x 256-column blocks. */
  static const mm_case more[] = {
    { .M = 7, .N = 52, .K = 12, .bias = 1, .residual = RES_IN_PLACE },
    { .M = 197, .N = 3072, .K = 768, .bias = 1, .act = TC_ACT_QUICK_GELU },  /* mlp.c_fc */
    { .M = 197, .N = 768, .K = 3072, .bias = 1, .residual = RES_IN_PLACE }, /* mlp.c_proj */
    /* w in panels: N not a multiple of 16 (zero rows fill the last panel),
     * both dtypes, an in-place residual with N % 4 != 0 */
    { .M = 7, .N = 13, .K = 12, .bias = 1, .residual = RES_BUFFER, .panels = 1 },
    { .M = 197, .N = 50, .K = 588, .w_dtype = TC_F16, .act = TC_ACT_GELU, .panels = 1 },
    { .M = 30, .N = 773, .K = 768, .residual = RES_IN_PLACE, .panels = 1 },
    { .M = 197, .N = 768, .K = 3072, .w_dtype = TC_F16, .bias = 1, .residual = RES_IN_PLACE, .panels = 1 },
    { .M = 1, .N = 512, .K = 768, .panels = 1 },
    /* an activation before an in-place residual; one row; a row block of 32
     * and one of 33 (two blocks of 17) */
    { .M = 197, .N = 50, .K = 588, .bias = 1, .residual = RES_IN_PLACE, .act = TC_ACT_GELU, .panels = 1 },
    { .M = 1, .N = 300, .K = 20, .w_dtype = TC_F16, .bias = 1, .act = TC_ACT_QUICK_GELU },
    { .M = 32, .N = 257, .K = 8, .residual = RES_BUFFER },
    { .M = 33, .N = 255, .K = 36, .w_dtype = TC_F16, .residual = RES_IN_PLACE, .panels = 1 },
  };
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
    run_random(cpu, &more[i], atol_for(more[i].K), 2e-6);
  test_activations(cpu);
  test_errors(cpu);
  test_f16_refused(cpu);
  int st = tc_test_finish(cpu);
  tc_context *gpu = tc_test_context_coopmat(TC_FAMILY_GPU, 0);
  test_shapes(gpu, false);
  test_activations(gpu);
  test_panels_refused(gpu);
  test_f16(gpu);
  test_f16_errors(gpu);
  st |= tc_test_finish(gpu);
  /* the cooperative-matrix kernel with its matrix operations emulated */
  tc_context *emu = tc_test_context_coopmat(TC_FAMILY_GPU, 2);
  TC_CHECK(tc_context_has_coopmat(emu) == 2, "%s: no emulated cooperative matrices (needs fp16 arithmetic)",
           tc_context_device_name(emu));
  if (tc_context_has_coopmat(emu) == 2) {
    /* each variant compiles for ~10 s on lavapipe: one case per path of the
     * kernel (scalar or vector loads; fp32 or fp16 x, w, y; the epilogue's
     * options; N odd; partial tiles everywhere; several K steps) */
    static const mm_case emulated[] = {
      { .M = 197, .N = 50, .K = 590, .bias = 1, .act = TC_ACT_GELU, .x16 = 1 },
      { .M = 97, .N = 773, .K = 768, .w_dtype = TC_F16, .residual = RES_IN_PLACE },
      { .M = 130, .N = 67, .K = 36, .w_dtype = TC_F16, .bias = 1, .residual = RES_BUFFER, .x16 = 1 },
      { .M = 77, .N = 130, .K = 64, .w_dtype = TC_F16, .bias = 1, .act = TC_ACT_QUICK_GELU, .y16 = 1 },
      { .M = 65, .N = 66, .K = 30, .bias = 1, .act = TC_ACT_GELU, .x16 = 1, .y16 = 1 },
    };
    for (size_t i = 0; i < sizeof emulated / sizeof emulated[0]; i++)
      run_random(emu, &emulated[i], atol_for(emulated[i].K), 2e-6);
    TC_CHECK(tc_context_has_float_atomic_add(emu), "%s: no float atomic adds: split K not tested",
             tc_context_device_name(emu));
    test_split_k(emu);
  }
  st |= tc_test_finish(emu);
  /* the same cases on cooperative matrices, where the device has them */
  tc_context *coop = tc_test_context_coopmat(TC_FAMILY_GPU, 1);
  if (!tc_context_has_coopmat(coop)) {
    printf("coopmat: %s has no VK_NV_cooperative_matrix fp16 16x16x16 subgroup matrices: variant not run\n",
           tc_context_device_name(coop));
    return tc_test_finish(coop) | st;
  }
  test_shapes(coop, true);
  for (size_t i = 1; i < 3; i++) /* ViT-B/16's MLP */
    run_random(coop, &more[i], atol_for(more[i].K), 2e-6);
  test_f16(coop);
  test_split_k(coop);
  /* larger awkward shapes, K % 4 != 0 (scalar loads) and == 0 (vector loads) */
  static const mm_case wide[] = {
    { .M = 1370, .N = 2317, .K = 590, .w_dtype = TC_F16, .bias = 1, .residual = RES_IN_PLACE, .act = TC_ACT_GELU },
    { .M = 1024, .N = 2048, .K = 768, .bias = 1, .act = TC_ACT_QUICK_GELU },
  };
  for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
    run_random(coop, &wide[i], atol_for(wide[i].K), 2e-6);
  test_activations(coop);
  test_panels_refused(coop);
  return tc_test_finish(coop) | st;
}
