/* The CLIP ViT image encoder's graph recorded from the ops directly (not
 * through tc_encoder), so that precisions and batches the encoder does not
 * offer yet can be timed: patch embedding, ln_pre, L layers of
 *   ln_1 -> qkv -> attention -> out_proj (+x)
 *   [-> value-value attention -> out_proj (+y), from layer vv_start on]
 *   -> ln_2 -> c_fc + QuickGELU -> c_proj (+x)
 * then ln_post and the projection, for a batch of frames in one submission
 * (their rows stacked: one matmul per layer for all frames, one attention
 * dispatch with frames along z).
 *   layers_f32  fp32 activations (the encoder as it is, but for the patchify
 *               and token-embedding kernels: it should time like encoder_f16)
 *   layers_a16  fp16 activations (gpu kernels only): the layer norms' outputs,
 *               qkv, the attention output and the MLP's hidden layer are fp16;
 *               the residual streams x and y stay fp32
 *   layers_*k   the same with K split for the residual matmuls where y has
 *               few blocks (ViT-B/16: out_proj and c_proj; see split_for)
 * Weights are fp16 and random, one set per layer, so that each frame reads
 * them from memory as the encoder does (about 170 MB for ViT-B/16, 600 MB
 * for ViT-L/14). flop counts the matrix products of all frames, the V-V
 * stream's included; tools/bench/torch_bench_encoder.py times PyTorch on the
 * same shapes. The numbers are timings only: the encoder's own tests check
 * what the graph computes. */
#include <stdlib.h>

#include "bench.h"
#include "tc_ops.h"

typedef struct layers_bench {
  uint32_t width, layers, patch, image, embed, vv_start, batch;
  int a16;
  int split; /* ask for split K where y has few blocks (split_for) */
} layers_bench;

typedef struct layer_weights {
  tc_buffer *ln1_g, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b, *ln2_g, *ln2_b, *fc_w, *fc_b, *proj_w, *proj_b;
} layer_weights;

typedef struct layers_state {
  uint32_t n_layers;
  layer_weights *lw;
  tc_buffer *patch_w, *ln_pre_g, *ln_pre_b, *ln_post_g, *ln_post_b, *proj;
  tc_buffer *patches, *x, *y, *h, *qkv, *attn, *mlp, *out;
} layers_state;

static void layers_teardown(void *state)
{
  layers_state *s = state;
  if (!s)
    return;
  for (uint32_t l = 0; l < s->n_layers && s->lw; l++) {
    tc_buffer **b = &s->lw[l].ln1_g;
    for (size_t i = 0; i < sizeof(layer_weights) / sizeof(tc_buffer *); i++)
      tc_buffer_destroy(b[i]);
  }
  free(s->lw);
  tc_buffer *const more[] = { s->patch_w, s->ln_pre_g, s->ln_pre_b, s->ln_post_g, s->ln_post_b, s->proj, s->patches,
                              s->x, s->y, s->h, s->qkv, s->attn, s->mlp, s->out };
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
    tc_buffer_destroy(more[i]);
  free(s);
}

/* Layer-norm weights near (1, 0); matrices scaled like a trained layer. */
static tc_status make_weights(tc_context *ctx, uint32_t W, layer_weights *w, tc_error *err)
{
  const uint32_t M = 4 * W;
  const float aw = 1.732f / sqrtf((float)W), am = 1.732f / sqrtf((float)M);
  tc_status st = tc_bench_random_f32(ctx, W, 0.9f, 1.1f, &w->ln1_g, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &w->ln1_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)3 * W * W, -aw, aw, &w->qkv_w, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, 3 * W, -0.1f, 0.1f, &w->qkv_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)W * W, -aw, aw, &w->out_w, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &w->out_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, 0.9f, 1.1f, &w->ln2_g, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &w->ln2_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)M * W, -aw, aw, &w->fc_w, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, M, -0.1f, 0.1f, &w->fc_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)W * M, -am, am, &w->proj_w, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &w->proj_b, err);
  return st;
}

/* K parts for a residual matmul of rows x N x K when asked for: enough
 * workgroups of 64 x 64 for ~128 in all (an H200 has 132 SMs), parts of 256
 * or more of K. */
static uint32_t split_for(const layers_bench *b, uint32_t rows, uint32_t N, uint32_t K)
{
  uint32_t blocks = tc_div_up(rows, 64) * tc_div_up(N, 64), parts = tc_div_up(128, blocks);
  if (!b->split || blocks >= 100)
    return 0;
  return parts < K / 256 ? parts : K / 256;
}

static tc_status record_layer(tc_cmd *cmd, const layers_bench *b, layers_state *s, const layer_weights *w,
                              uint32_t layer, uint32_t rows, uint32_t tokens, tc_error *err)
{
  const uint32_t W = b->width, M = 4 * W;
  const tc_dtype a = b->a16 ? TC_F16 : TC_F32;
  const int vv = b->vv_start && layer + 1 >= b->vv_start;
  tc_status st = TC_OK;
  if (vv && layer + 1 == b->vv_start) /* the V-V stream starts as x */
    st = tc_cmd_copy(cmd, s->x, 0, s->y, 0, (size_t)rows * W * sizeof(float), err);
  if (st == TC_OK)
    st = tc_op_layernorm_to(cmd, s->x, w->ln1_g, w->ln1_b, s->h, a, rows, W, 1e-5f, "ln_1", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->h, .x_dtype = a, .w = w->qkv_w, .w_dtype = TC_F16, .bias = w->qkv_b,
                                         .y = s->qkv, .y_dtype = a, .M = rows, .N = 3 * W, .K = W },
                      "qkv", err);
  tc_attention at = {
    .q = { s->qkv, 0, 3 * W }, .k = { s->qkv, W, 3 * W }, .v = { s->qkv, 2 * W, 3 * W }, .out = s->attn,
    .tokens = tokens, .heads = W / 64, .head_dim = 64, .scale = 0.125f, .qkv_dtype = a, .out_dtype = a,
    .batch = b->batch,
  };
  if (st == TC_OK)
    st = tc_op_attention(cmd, &at, "attention", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->attn, .x_dtype = a, .w = w->out_w, .w_dtype = TC_F16,
                                         .bias = w->out_b, .residual = s->x, .y = s->x, .M = rows, .N = W, .K = W,
                                         .split_k = split_for(b, rows, W, W) },
                      "attention out", err);
  if (vv && st == TC_OK) {
    at.q = at.k = at.v;
    st = tc_op_attention(cmd, &at, "attention v-v", err);
  }
  if (vv && st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->attn, .x_dtype = a, .w = w->out_w, .w_dtype = TC_F16,
                                         .bias = w->out_b, .residual = s->y, .y = s->y, .M = rows, .N = W, .K = W,
                                         .split_k = split_for(b, rows, W, W) },
                      "attention out v-v", err);
  if (st == TC_OK)
    st = tc_op_layernorm_to(cmd, s->x, w->ln2_g, w->ln2_b, s->h, a, rows, W, 1e-5f, "ln_2", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->h, .x_dtype = a, .w = w->fc_w, .w_dtype = TC_F16, .bias = w->fc_b,
                                         .y = s->mlp, .y_dtype = a, .M = rows, .N = M, .K = W,
                                         .act = TC_ACT_QUICK_GELU },
                      "mlp fc", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->mlp, .x_dtype = a, .w = w->proj_w, .w_dtype = TC_F16,
                                         .bias = w->proj_b, .residual = s->x, .y = s->x, .M = rows, .N = W, .K = M,
                                         .split_k = split_for(b, rows, W, M) },
                      "mlp proj", err);
  return st;
}

static tc_status layers_setup(tc_context *ctx, const void *params, tc_cmd *cmd, void **out, tc_error *err)
{
  const layers_bench *b = params;
  layers_state *s = calloc(1, sizeof *s);
  *out = s;
  if (!s || !(s->lw = calloc(b->layers, sizeof *s->lw)))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  s->n_layers = b->layers;
  const uint32_t W = b->width, g = b->image / b->patch, tokens = 1 + g * g, frames = b->batch ? b->batch : 1;
  const uint32_t rows = tokens * frames, pk = 3 * b->patch * b->patch;
  const size_t as = b->a16 ? 2 : 4; /* bytes of an activation */
  tc_status st = TC_OK;
  for (uint32_t l = 0; l < b->layers && st == TC_OK; l++)
    st = make_weights(ctx, W, &s->lw[l], err);
  const float ap = 1.732f / sqrtf((float)pk), aw = 1.732f / sqrtf((float)W);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)W * pk, -ap, ap, &s->patch_w, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, 0.9f, 1.1f, &s->ln_pre_g, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &s->ln_pre_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, 0.9f, 1.1f, &s->ln_post_g, err);
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, W, -0.1f, 0.1f, &s->ln_post_b, err);
  if (st == TC_OK)
    st = tc_bench_random_f16(ctx, (size_t)b->embed * W, -aw, aw, &s->proj, err);
  /* the class token's row is embedded as a patch: one row more of the
   * same matmul, instead of the encoder's two small kernels */
  if (st == TC_OK)
    st = tc_bench_random_f32(ctx, (size_t)rows * pk, -2, 2, &s->patches, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * W * 4, &s->x, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * W * 4, &s->y, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * W * 4, &s->h, err); /* fp32 for ln_post */
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * 3 * W * as, &s->qkv, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * W * as, &s->attn, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * 4 * W * as, &s->mlp, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, (size_t)rows * b->embed * 4, &s->out, err);
  if (st != TC_OK)
    return st;

  st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->patches, .w = s->patch_w, .w_dtype = TC_F16, .y = s->x, .M = rows,
                                       .N = W, .K = pk },
                    "patch embedding", err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, s->x, s->ln_pre_g, s->ln_pre_b, s->x, rows, W, 1e-5f, "ln_pre", err);
  for (uint32_t l = 0; l < b->layers && st == TC_OK; l++)
    st = record_layer(cmd, b, s, &s->lw[l], l, rows, tokens, err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, b->vv_start ? s->y : s->x, s->ln_post_g, s->ln_post_b, s->h, rows, W, 1e-5f,
                         "ln_post", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = s->h, .w = s->proj, .w_dtype = TC_F16, .y = s->out, .M = rows,
                                         .N = b->embed, .K = W },
                      "proj", err);
  return st;
}

/* Matrix-product flop of all frames: bench_encoder.c's count, plus the V-V
 * stream's attention and out_proj in layers vv_start..L. */
#define T(image, patch) (1.0 + ((image) / (patch)) * ((image) / (patch)))
#define LAYERS_FLOP(W, L, patch, image, E, vv, B)                                                            \
  ((B) * (2.0 * (T(image, patch) - 1) * (W) * 3 * (patch) * (patch) +                                        \
          (L) * (2.0 * T(image, patch) * (W) * (12.0 * (W)) + 4.0 * T(image, patch) * T(image, patch) * (W)) + \
          ((vv) ? (L) + 1 - (vv) : 0) *                                                                       \
            (4.0 * T(image, patch) * T(image, patch) * (W) + 2.0 * T(image, patch) * (W) * (W)) +             \
          2.0 * T(image, patch) * (W) * (E)))
#define LAYERS_S(name, shape, what, W, L, patch, image, E, vv, B, a16, split)                                \
  { name, shape, what, LAYERS_FLOP(W, L, patch, image, E, vv, B), layers_setup, layers_teardown,            \
    &(const layers_bench){ W, L, patch, image, E, vv, B, a16, split } }
#define LAYERS(name, shape, what, W, L, patch, image, E, vv, B, a16)                                          \
  LAYERS_S(name, shape, what, W, L, patch, image, E, vv, B, a16, 0)
#define LAYERS_BOTH(shape, what, W, L, patch, image, E, vv, B)                                              \
  LAYERS("layers_f32", shape, what, W, L, patch, image, E, vv, B, 0),                                       \
    LAYERS("layers_a16", shape, what, W, L, patch, image, E, vv, B, 1)

/* shape: input size / patch size, then x frames */
const tc_bench_case tc_bench_layers_cases[] = {
  LAYERS_BOTH("224/16", "ViT-B/16@224", 768, 12, 16, 224, 512, 0, 1),
  LAYERS_BOTH("336/14", "ViT-L/14@336", 1024, 24, 14, 336, 768, 0, 1),
  LAYERS_BOTH("518/14", "ViT-L/14@518 V-V from 6", 1024, 24, 14, 518, 768, 6, 1),
  LAYERS_BOTH("224/16x8", "ViT-B/16@224, 8 frames", 768, 12, 16, 224, 512, 0, 8),
  /* out_proj and c_proj with K split (cooperative matrices; split_for) */
  LAYERS_S("layers_f32k", "224/16", "ViT-B/16@224", 768, 12, 16, 224, 512, 0, 1, 0, 1),
  LAYERS_S("layers_a16k", "224/16", "ViT-B/16@224", 768, 12, 16, 224, 512, 0, 1, 1, 1),
  /* two small layers (V-V in the second), 2 frames: every path in seconds
   * on lavapipe (tools/bench/gpu_run.sh --lavapipe) */
  LAYERS_BOTH("64/16x2", "tiny ViT, 2 frames", 256, 2, 16, 64, 128, 2, 2),
  { 0 },
};
