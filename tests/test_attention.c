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
 * (amp 3), 3e-7 with amp 1. We allow atol 5e-6, rtol 2e-6. */
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

static void check_case(tc_context *ctx, const att_case *c)
{
  size_t rows = c->tokens, width = (size_t)c->heads * c->head_dim;
  float *qkv = malloc(rows * c->stride * 4), *got = malloc(rows * width * 4), *want = malloc(rows * width * 4);
  tc_test_fill(qkv, rows * c->stride, -c->amp, c->amp);
  float scale = 1.0f / sqrtf((float)c->head_dim);
  tc_ref_attention(qkv + c->q_off, c->stride, qkv + c->k_off, c->stride, qkv + c->v_off, c->stride, want, rows,
                   c->heads, c->head_dim, scale, c->causal);

  tc_error err = { 0 };
  tc_buffer *b = NULL, *out = NULL;
  tc_cmd *cmd = NULL;
  if (TC_CHECK_OK(tc_buffer_create_from(ctx, qkv, rows * c->stride * 4, &b, &err), &err) &&
      TC_CHECK_OK(tc_buffer_create(ctx, rows * width * 4, &out, &err), &err) &&
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
    };
    if (TC_CHECK_OK(tc_op_attention(cmd, &at, c->name, &err), &err) && TC_CHECK_OK(tc_cmd_end(cmd, &err), &err) &&
        TC_CHECK_OK(tc_cmd_run(cmd, &err), &err) &&
        TC_CHECK_OK(tc_buffer_download(out, 0, got, rows * width * 4, &err), &err)) {
      char what[160];
      snprintf(what, sizeof what, "%s %s: tokens %u heads %u head_dim %u%s", tc_context_family(ctx) ? "gpu" : "cpu",
               c->name, c->tokens, c->heads, c->head_dim, c->causal ? " causal" : "");
      tc_test_close(what, got, want, rows * width, 5e-6, 2e-6);
    }
  }
  tc_cmd_destroy(cmd);
  tc_buffer_destroy(b), tc_buffer_destroy(out);
  free(qkv), free(got), free(want);
}

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

int main(void)
{
  tc_test_seed(3);
  tc_context *cpu = tc_test_context(TC_FAMILY_CPU);
  run_family(cpu);
  int st = tc_test_finish(cpu);
  tc_context *gpu = tc_test_context(TC_FAMILY_GPU);
  run_family(gpu);
  return tc_test_finish(gpu) | st;
}
