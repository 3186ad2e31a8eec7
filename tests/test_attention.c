/* tc_op_attention against tc_ref_attention (double precision), both kernel
 * families: ViT shapes on a fused qkv matrix, value-value attention (q = k =
 * v), the causal text encoder, and awkward token counts, head sizes and
 * padded strides.
 *
 * Tolerance: an output is a convex combination of values in [-1, 1]. The
 * fp32 scores (head_dim products of inputs up to `amp`, times scale) are off
 * by about head_dim * amp^2 * scale * 2^-24; exp turns that into the same
 * relative error of the weights, and the online rescaling adds a few ulp.
 * With amp up to 3 (scores up to ~70: a near one-hot softmax that moves the
 * running maximum often) that is < 3e-6; the largest error seen is 1.5e-6
 * (amp 3), 3e-7 with amp 1. We allow atol 5e-6, rtol 2e-6.
 *
 * fp16 activations (gpu kernels): fp16 q, k, v are made on the host from the
 * random fp32 ones and the reference gets the same rounded values, so they
 * add no error; fp16 out is the fp32 result rounded, compared with the
 * reference rounded the same way (tc_ref_round_f16): two values within the
 * fp32 tolerance may round to neighbouring halves, so one fp16 ulp (2^-10
 * relative at most, 2^-24 near zero) is added.
 *
 * Cooperative matrices (head_dim 64, not causal; real where the device has
 * them, emulated in plain GLSL on any device: the same kernel source): q, k
 * and v are rounded to fp16 on the host here as well (the kernel rounds
 * fp32 ones on load), so the kernel's own error is the fp16 rounding of the
 * softmax weights p (relative 2^-11 each). The output is the convex
 * combination sum p~_m v_m / sum p~_m of the rounded weights p~, whose
 * normalised weights are off by at most 2 * 2^-11 relative, so |error| <=
 * 2^-10 * max|v| = 2^-10 * amp; the scores' fp32 sums of exact fp16
 * products add ~1e-7. atol 2^-10 * amp, a bound rather than an estimate
 * (the random errors seen are several times smaller; the worst is printed),
 * far below what a wrong tile or a missed mask gives (0.1 and more). */
#include "tc_ops.h"
#include "tc_ref.h"
#include "tc_test.h"

typedef struct att_case {
  const char *name;
  uint32_t tokens, heads, head_dim;
  /* layout: columns of each of q, k, v in one [tokens, stride] host matrix */
  uint32_t stride, q_off, k_off, v_off;
  int causal;
  float amp; /* inputs uniform in [-amp, amp] */
} att_case;

/* Whether tc_op_attention runs c on cooperative matrices in ctx. */
static bool on_coopmat(tc_context *ctx, const att_case *c)
{
  int coop = tc_context_has_coopmat(ctx);
  uint32_t sg = tc_context_subgroup_size(ctx);
  return c->head_dim == 64 && !c->causal && ((coop == 1 && sg == 32) || (coop == 2 && sg >= 8));
}

/* One case with fp32 or fp16 q/k/v (qkv16) and out (out16), on a batch of
 * frames stacked in rows (gpu kernels; 0 or 1: one frame). */
static void check_case_batch(tc_context *ctx, const att_case *c, int qkv16, int out16, uint32_t batch)
{
  size_t frames = batch ? batch : 1, rows = c->tokens * frames, width = (size_t)c->heads * c->head_dim,
         n_in = rows * c->stride;
  float *qkv = malloc(n_in * 4), *got = malloc(rows * width * 4), *want = malloc(rows * width * 4);
  uint16_t *h = malloc((n_in > rows * width ? n_in : rows * width) * 2);
  tc_test_fill(qkv, n_in, -c->amp, c->amp);
  const bool coop = on_coopmat(ctx, c);
  if (qkv16 || coop)
    tc_ref_round_f16(qkv, n_in); /* what the kernel reads */
  for (size_t i = 0; i < n_in; i++)
    h[i] = tc_f32_to_f16(qkv[i]);
  float scale = 1.0f / sqrtf((float)c->head_dim);
  for (size_t b = 0; b < frames; b++) { /* each frame on its own */
    const float *f = qkv + b * c->tokens * c->stride;
    tc_ref_attention(f + c->q_off, c->stride, f + c->k_off, c->stride, f + c->v_off, c->stride,
                     want + b * c->tokens * width, c->tokens, c->heads, c->head_dim, scale, c->causal);
  }
  if (out16)
    tc_ref_round_f16(want, rows * width);
  double atol = coop ? c->amp / 1024.0 : 5e-6, rtol = coop ? 0 : 2e-6;
  if (out16) /* one fp16 ulp: see the top of the file */
    atol += 1.0 / (1 << 24), rtol += 1.0 / 1024;

  tc_error err = { 0 };
  tc_buffer *b = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(qkv16 ? tc_buffer_create_from(ctx, h, n_in * 2, &b, &err)
                        : tc_buffer_create_from(ctx, qkv, n_in * 4, &b, &err),
                  &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, rows * width * (out16 ? 2 : 4), &out, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_attention at = {
      .q = { b, c->q_off, c->stride },
      .k = { b, c->k_off, c->stride },
      .v = { b, c->v_off, c->stride },
      .out = out,
      .tokens = c->tokens,
      .heads = c->heads,
      .head_dim = c->head_dim,
      .scale = scale,
      .causal = c->causal,
      .qkv_dtype = qkv16 ? TC_F16 : TC_F32,
      .out_dtype = out16 ? TC_F16 : TC_F32,
      .batch = batch,
    };
    if (TC_CHECK_OK(tc_op_attention(cmd, &at, c->name, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
        TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
        TC_CHECK_OK(out16 ? tc_buffer_download(out, 0, h, rows * width * 2, &err)
                          : tc_buffer_download(out, 0, got, rows * width * 4, &err),
                    &err)) {
      if (out16)
        for (size_t i = 0; i < rows * width; i++)
          got[i] = tc_f16_to_f32(h[i]);
      char what[192];
      const char *kernels = coop ? (tc_context_has_coopmat(ctx) == 2 ? "coopmat-emulated" : "coopmat")
                                 : tc_context_family(ctx) ? "gpu" : "cpu";
      snprintf(what, sizeof what, "%s %s: %zu x tokens %u heads %u head_dim %u%s%s%s", kernels, c->name, frames,
               c->tokens, c->heads, c->head_dim, c->causal ? " causal" : "", qkv16 ? " qkv f16" : "",
               out16 ? " out f16" : "");
      if (tc_test_close(what, got, want, rows * width, atol, rtol) && coop) {
        double worst = 0;
        for (size_t i = 0; i < rows * width; i++)
          worst = fmax(worst, fabs((double)got[i] - want[i]));
        printf("   coopmat worst |error| %.3g (atol %.3g)\n", worst, atol);
      }
    }
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(out);
  free(qkv), free(got), free(want), free(h);
}

static void check_case_dt(tc_context *ctx, const att_case *c, int qkv16, int out16)
{
  check_case_batch(ctx, c, qkv16, out16, 1);
}

static void check_case(tc_context *ctx, const att_case *c) { check_case_dt(ctx, c, 0, 0); }

/* q, k, v as the three column blocks of a fused [tokens, 3 * width] matrix. */
static att_case fused(const char *name, uint32_t tokens, uint32_t heads, int causal, float amp)
{
  uint32_t w = heads * 64;
  return (att_case){ name, tokens, heads, 64, 3 * w, 0, w, 2 * w, causal, amp };
}

/* value-value attention: q = k = v = the value block of a fused matrix */
static att_case value_value(uint32_t tokens, uint32_t heads)
{
  uint32_t w = heads * 64;
  return (att_case){ "value-value", tokens, heads, 64, 3 * w, 2 * w, 2 * w, 2 * w, 0, 1.0f };
}

static void check_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *b = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (!TC_CHECK_OK(tc_buffer_create(ctx, 10 * 48 * 4, &b, &err), &err) ||
      !TC_CHECK_OK(tc_buffer_create(ctx, 10 * 16 * 4, &out, &err), &err) ||
      !TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) || !TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    tc_cmd_destroy(cmd), tc_buffer_destroy(b), tc_buffer_destroy(out);
    return;
  }
  const tc_attention good = {
    .q = { b, 0, 48 }, .k = { b, 16, 48 }, .v = { b, 32, 48 }, .out = out,
    .tokens = 10, .heads = 2, .head_dim = 8, .scale = 0.35f,
  };
  tc_attention at = good;
  at.head_dim = 6, at.heads = 2;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_UNSUPPORTED && strstr(err.message, "head_dim 6"),
           "head_dim 6: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.k.offset = 18;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_UNSUPPORTED && strstr(err.message, "k offset 18"),
           "unaligned offset: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.v.offset = 36;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "v columns"),
           "slice past the row: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.tokens = 11;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "out"),
           "too many tokens: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.out = b;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "share"),
           "out aliasing q: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.scale = INFINITY;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "scale"),
           "infinite scale: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.tokens = 5, at.batch = 2; /* 10 rows: fits */
  tc_status st = tc_op_attention(cmd, &at, NULL, &err);
  if (tc_context_family(ctx) == TC_FAMILY_GPU)
    TC_CHECK(st == TC_OK, "2 frames of 5 tokens refused: %s", err.message);
  else
    TC_CHECK(st == TC_ERR_UNSUPPORTED && strstr(err.message, "batch of 2"), "a batch on the cpu kernels: %s",
             err.message);
  tc_error_clear(&err);
  at.batch = 3; /* 15 rows: do not fit */
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "15x16"),
           "3 frames of 5 tokens in 10 rows: %s", err.message);
  tc_error_clear(&err);
  at = good;
  at.tokens = 0;
  TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "empty"),
           "no tokens: %s", err.message);
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(out);
}

static void run_family(tc_context *ctx)
{
  const att_case awkward[] = {
    /* name, tokens, heads, head_dim, stride, q_off, k_off, v_off, causal, amp */
    { "one token", 1, 1, 4, 12, 0, 4, 8, 0, 1.0f },
    { "two tokens causal", 2, 3, 8, 76, 4, 28, 52, 1, 1.0f },
    { "padded rows", 5, 2, 12, 80, 4, 28, 52, 0, 1.0f },
    { "odd blocks", 33, 3, 20, 192, 0, 64, 128, 0, 3.0f },
    { "odd blocks causal", 37, 2, 36, 224, 8, 80, 152, 1, 3.0f },
    { "head_dim 128", 70, 2, 128, 768, 0, 256, 512, 0, 1.0f },
    { "separate order", 19, 4, 16, 200, 136, 4, 68, 0, 2.0f }, /* v before q in the row */
  };
  for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++)
    check_case(ctx, &awkward[i]);
  att_case c = fused("ViT-B/16@224", 197, 12, 0, 1.0f);
  check_case(ctx, &c);
  c = fused("ViT-B/16@224 peaked", 197, 2, 0, 3.0f);
  check_case(ctx, &c);
  c = fused("text encoder", 77, 8, 1, 1.0f);
  check_case(ctx, &c);
  c = value_value(257, 4);
  check_case(ctx, &c);
  /* the L/14 token counts, on a few heads to keep the double reference quick */
  c = fused("ViT-L/14@336", 577, 3, 0, 1.0f);
  check_case(ctx, &c);
  c = value_value(1370, 2);
  check_case(ctx, &c);
  /* more keys than any model here: llvmpipe silently ends loops after 65535
   * iterations per invocation (all loops together), which a kernel whose
   * inner loops were not unrolled would reach */
  c = fused("long sequence", 3000, 1, 0, 1.0f);
  check_case(ctx, &c);
  check_errors(ctx);
}

/* fp16 q/k/v, out or both (gpu kernels). */
static void run_f16(tc_context *ctx)
{
  att_case c = fused("ViT-B/16@224", 197, 12, 0, 1.0f);
  check_case_dt(ctx, &c, 1, 1);
  c = value_value(257, 4);
  check_case_dt(ctx, &c, 1, 0);
  const att_case odd = { "odd blocks causal", 37, 2, 36, 224, 8, 80, 152, 1, 3.0f };
  check_case_dt(ctx, &odd, 1, 1);
  c = fused("ViT-L/14@336", 577, 3, 0, 1.0f);
  check_case_dt(ctx, &c, 0, 1);
  /* frames stacked in rows, each attending within itself */
  c = fused("batch", 70, 3, 0, 2.0f);
  check_case_batch(ctx, &c, 1, 1, 3);
  const att_case causal = { "batch causal", 20, 2, 16, 112, 8, 40, 72, 1, 1.0f };
  check_case_batch(ctx, &causal, 0, 0, 2);
}

/* What fp16 refuses or needs, with a message naming it. */
static void check_f16_errors(tc_context *ctx)
{
  tc_error err = { 0 };
  tc_buffer *b = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create(ctx, 10 * 48 * 2, &b, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, 10 * 16 * 2, &out, &err), &err) &&
      TC_CHECK_OK(tc_cmd_create(ctx, &cmd, &err), &err) && TC_CHECK_OK(tc_cmd_begin(cmd, &err), &err)) {
    /* fp16 in 10 x 48 halves: fits as fp16, not as fp32 */
    tc_attention at = {
      .q = { b, 0, 48 }, .k = { b, 16, 48 }, .v = { b, 32, 48 }, .out = out, .tokens = 10, .heads = 2,
      .head_dim = 8, .scale = 0.35f, .qkv_dtype = TC_F16, .out_dtype = TC_F16,
    };
    int gpu = tc_context_family(ctx) == TC_FAMILY_GPU;
    tc_status st = tc_op_attention(cmd, &at, NULL, &err);
    if (gpu)
      TC_CHECK(st == TC_OK, "fp16 attention on the gpu kernels refused: %s", err.message);
    else
      TC_CHECK(st == TC_ERR_UNSUPPORTED && strstr(err.message, "gpu kernels only"), "fp16 on the cpu kernels: %s",
               err.message);
    tc_error_clear(&err);
    at.qkv_dtype = TC_F32; /* now q/k/v need twice the bytes */
    TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_INVALID_ARGUMENT && strstr(err.message, "q needs"),
             "fp32 q in a buffer sized for fp16: %s", err.message);
    tc_error_clear(&err);
    at.qkv_dtype = TC_F16, at.out_dtype = (tc_dtype)3;
    TC_CHECK(tc_op_attention(cmd, &at, NULL, &err) == TC_ERR_UNSUPPORTED && strstr(err.message, "out dtype 3"),
             "out dtype 3: %s", err.message);
    tc_error_clear(&err);

  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(out);
}

/* The cooperative-matrix kernel on what it takes (head_dim 64, not
 * causal), emulated: llvmpipe's loop limit keeps the emulation below ~800
 * tokens, and each variant compiles for seconds. */
static void run_emulated(tc_context *ctx)
{
  att_case c = fused("ViT-B/16@224", 197, 12, 0, 1.0f);
  check_case(ctx, &c);
  c = fused("ViT-B/16@224 peaked", 197, 2, 0, 3.0f);
  check_case(ctx, &c);
  /* one partial block of rows and of keys; q after v in the row, padding */
  const att_case layout = { "separate order", 33, 2, 64, 448, 300, 4, 160, 0, 2.0f };
  check_case_dt(ctx, &layout, 1, 1);
  c = value_value(257, 4);
  check_case_dt(ctx, &c, 1, 0);
  c = fused("ViT-L/14@336", 577, 3, 0, 1.0f);
  check_case_dt(ctx, &c, 0, 1);
  c = fused("text encoder", 77, 8, 1, 1.0f); /* causal: attention_gpu */
  check_case(ctx, &c);
  c = fused("batch", 70, 3, 0, 2.0f);
  check_case_batch(ctx, &c, 0, 0, 3);
}

int main(void)
{
  tc_test_seed(3);
  tc_context *cpu = tc_test_context(TC_FAMILY_CPU);
  run_family(cpu);
  check_f16_errors(cpu);
  int st = tc_test_finish(cpu);
  tc_context *gpu = tc_test_context_coopmat(TC_FAMILY_GPU, 0);
  run_family(gpu);
  run_f16(gpu);
  check_f16_errors(gpu);
  st |= tc_test_finish(gpu);
  tc_context *emu = tc_test_context_coopmat(TC_FAMILY_GPU, 2);
  TC_CHECK(tc_context_has_coopmat(emu) == 2, "%s: no emulated cooperative matrices (needs fp16 arithmetic)",
           tc_context_device_name(emu));
  if (tc_context_has_coopmat(emu) == 2)
    run_emulated(emu);
  st |= tc_test_finish(emu);
  /* everything again on cooperative matrices, where the device has them */
  tc_context *coop = tc_test_context_coopmat(TC_FAMILY_GPU, 1);
  att_case c;
  if (!tc_context_has_coopmat(coop)) {
    printf("coopmat: %s has no VK_NV_cooperative_matrix fp16 16x16x16 subgroup matrices: variant not run\n",
           tc_context_device_name(coop));
    return tc_test_finish(coop) | st;
  }
  run_family(coop);
  run_f16(coop);
  c = fused("batch", 70, 3, 0, 2.0f);
  check_case_batch(coop, &c, 0, 0, 3);
  const att_case layout = { "separate order", 33, 2, 64, 448, 300, 4, 160, 0, 2.0f };
  check_case_dt(coop, &layout, 1, 1);
  return tc_test_finish(coop) | st;
}
