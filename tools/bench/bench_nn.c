/* Layer norm, softmax and attention bench cases at the shapes of CLIP
 * ViT-B/16 at 224 (197 tokens, width 768, 12 heads), ViT-L/14 at 336 (577
 * tokens, width 1024, 16 heads), ViT-L/14@336 run at 518 as AnomalyCLIP does
 * (1370 tokens) and the text encoder (77 tokens, 8 heads, causal).
 * Shapes: layernorm and softmax rows x cols, attention tokens x heads x
 * head_dim. flop: attention 4 * tokens^2 * head_dim * heads (two matrix
 * products; half of it when causal); layer norm 8 and softmax 5 per element
 * (exp counted as one), a convention for comparing runs, not a measure of
 * work. tools/bench/torch_bench_nn.py times PyTorch on the same list.
 * layernorm_h and attention_h write fp16 (and attention_h reads fp16 q/k/v),
 * as an encoder with fp16 activations would (gpu kernels only);
 * attention_b8 is a batch of 8 frames in one dispatch (flop of all 8). */
#include <math.h>
#include <stdlib.h>

#include "bench.h"
#include "tc_ops.h"

typedef struct nn_params {
  int kind; /* 0 layernorm, 1 softmax, 2 attention */
  uint32_t rows, cols;          /* layernorm, softmax */
  uint32_t tokens, heads, causal; /* attention, head_dim 64 */
  int f16;                      /* fp16 out (and q/k/v) */
  uint32_t batch;               /* attention: frames */
} nn_params;

typedef struct nn_state {
  tc_buffer *x, *gamma, *beta, *y;
} nn_state;

static tc_status nn_setup(tc_context *ctx, const void *params, tc_cmd *cmd, void **out, tc_error *err)
{
  const nn_params *p = params;
  nn_state *s = calloc(1, sizeof *s);
  *out = s;
  if (!s)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  size_t n = (size_t)p->rows * p->cols;
  tc_status st;
  switch (p->kind) {
  case 0: /* the residual stream into ln_1: y separate, as the encoder has it */
    st = tc_bench_random_f32(ctx, n, -2, 2, &s->x, err);
    if (st == TC_OK)
      st = tc_bench_random_f32(ctx, p->cols, 0.5f, 1.5f, &s->gamma, err);
    if (st == TC_OK)
      st = tc_bench_random_f32(ctx, p->cols, -0.1f, 0.1f, &s->beta, err);
    if (st == TC_OK)
      st = tc_buffer_create(ctx, n * sizeof(float), &s->y, err);
    return st == TC_OK ? tc_op_layernorm_to(cmd, s->x, s->gamma, s->beta, s->y, p->f16 ? TC_F16 : TC_F32, p->rows,
                                            p->cols, 1e-5f, "layernorm", err)
                       : st;
  case 1: /* attention scores of every head, in place */
    st = tc_bench_random_f32(ctx, n, -8, 8, &s->x, err);
    return st == TC_OK ? tc_op_softmax(cmd, s->x, s->x, p->rows, p->cols, 0.125f, "softmax", err) : st;
  default: { /* q, k, v: column blocks of the fused in_proj output */
    uint32_t w = p->heads * 64, frames = p->batch ? p->batch : 1;
    size_t rows = (size_t)p->tokens * frames;
    st = p->f16 ? tc_bench_random_f16(ctx, rows * 3 * w, -1, 1, &s->x, err)
                : tc_bench_random_f32(ctx, rows * 3 * w, -1, 1, &s->x, err);
    if (st == TC_OK)
      st = tc_buffer_create(ctx, rows * w * sizeof(float), &s->y, err);
    if (st != TC_OK)
      return st;
    tc_attention at = {
      .q = { s->x, 0, 3 * w }, .k = { s->x, w, 3 * w }, .v = { s->x, 2 * w, 3 * w }, .out = s->y,
      .tokens = p->tokens, .heads = p->heads, .head_dim = 64, .scale = 0.125f, .causal = (int)p->causal,
      .qkv_dtype = p->f16 ? TC_F16 : TC_F32, .out_dtype = p->f16 ? TC_F16 : TC_F32, .batch = p->batch,
    };
    return tc_op_attention(cmd, &at, "attention", err);
  }
  }
}

static void nn_teardown(void *state)
{
  nn_state *s = state;
  if (!s)
    return;
  tc_buffer_destroy(s->x);
  tc_buffer_destroy(s->gamma);
  tc_buffer_destroy(s->beta);
  tc_buffer_destroy(s->y);
  free(s);
}

#define LN_T(name, what, R, C, f16) \
  { name, #R "x" #C, what, 8.0 * R * C, nn_setup, nn_teardown, &(const nn_params){ 0, R, C, 0, 0, 0, f16, 0 } }
#define LN(what, R, C) LN_T("layernorm", what, R, C, 0)
#define SM(what, H, N) \
  { "softmax", #H "*" #N "x" #N, what, 5.0 * H * N * N, nn_setup, nn_teardown, \
    &(const nn_params){ 1, H * N, N, 0, 0, 0, 0, 0 } }
#define ATT_T(name, what, N, H, causal, f16, batch) \
  { name, #N "x" #H "x64", what, (causal ? 2.0 : 4.0) * N * N * 64 * H * batch, nn_setup, nn_teardown, \
    &(const nn_params){ 2, 0, 0, N, H, causal, f16, batch } }
#define ATT(what, N, H, causal) ATT_T("attention", what, N, H, causal, 0, 1)

const tc_bench_case tc_bench_nn_cases[] = {
  LN("ViT-B/16 ln_1", 197, 768),
  LN("ViT-L/14@336 ln_1", 577, 1024),
  LN("ViT-L/14@518 ln_1", 1370, 1024),
  SM("ViT-B/16 scores", 12, 197),
  SM("ViT-L/14@336 scores", 16, 577),
  SM("ViT-L/14@518 scores", 16, 1370),
  ATT("ViT-B/16", 197, 12, 0),
  ATT("ViT-L/14@336", 577, 16, 0),
  ATT("ViT-L/14@518", 1370, 16, 0),
  ATT("text encoder, causal", 77, 8, 1),
  LN_T("layernorm_h", "ViT-B/16 ln_1", 197, 768, 1),
  LN_T("layernorm_h", "ViT-L/14@336 ln_1", 577, 1024, 1),
  LN_T("layernorm_h", "ViT-L/14@518 ln_1", 1370, 1024, 1),
  ATT_T("attention_h", "ViT-B/16", 197, 12, 0, 1, 1),
  ATT_T("attention_h", "ViT-L/14@336", 577, 16, 0, 1, 1),
  ATT_T("attention_h", "ViT-L/14@518", 1370, 16, 0, 1, 1),
  ATT_T("attention_b8", "ViT-B/16, 8 frames", 197, 12, 0, 0, 8),
  ATT_T("attention_hb8", "ViT-B/16, 8 frames", 197, 12, 0, 1, 8),
  { 0 },
};
