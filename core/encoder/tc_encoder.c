/* CLIP ViT encoder graph: weights uploaded once, the graph recorded on demand. */
#include "tc_encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tc_ops.h"

/* One residual block's weights on the device. */
typedef struct block {
  tc_buffer *ln1_w, *ln1_b, *qkv_w, *qkv_b, *out_w, *out_b;
  tc_buffer *ln2_w, *ln2_b, *fc_w, *fc_b, *proj_w, *proj_b;
  tc_dtype qkv_dt, out_dt, fc_dt, proj_dt;
} block;

struct tc_encoder {
  tc_context *ctx;
  tc_clip_vision_config cfg;
  tc_encoder_options opts;
  uint32_t size, grid, tokens; /* S, patches per side, 1 + N */

  /* weights */
  tc_buffer *patch_w, *cls, *pos, *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b, *proj;
  tc_dtype patch_dt, proj_dt;
  block *blocks;

  /* activations */
  tc_buffer *input;   /* [3, S, S] */
  tc_buffer *patches; /* [N, 3 p p] */
  tc_buffer *embed;   /* [N, W] */
  tc_buffer *x;       /* [T, W] the ordinary stream */
  tc_buffer *y;       /* [T, W] the value-value stream (vv_start > 0) */
  tc_buffer *h;       /* [T, W] layer-norm output */
  tc_buffer *qkv;     /* [T, 3W] */
  tc_buffer *attn;    /* [T, W] */
  tc_buffer *mlp;     /* [T, mlp] */
  tc_buffer *global;  /* [1, E] the global token when it comes from another stream */
  tc_buffer *out;     /* [T, E] */
};

void tc_encoder_options_init(tc_encoder_options *opts)
{
  *opts = (tc_encoder_options){ .pos_interp = TC_INTERP_BICUBIC, .weights = TC_WEIGHTS_AS_STORED };
}

tc_status tc_encoder_options_check(const tc_encoder_options *o, const tc_clip_vision_config *cfg, tc_error *err)
{
  uint32_t p = (uint32_t)cfg->patch_size;
  if (o->input_size && (o->input_size % p != 0 || o->input_size < p || o->input_size > 64 * 1024))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "input size %u is not a positive multiple of the model's "
                        "patch size %u (e.g. %u)", o->input_size, p, (uint32_t)cfg->image_size);
  if (o->vv_start > (uint32_t)cfg->layers)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "vv-start %u is beyond the model's %d layers (0 turns the "
                        "value-value stream off)", o->vv_start, cfg->layers);
  if (o->pos_interp != TC_INTERP_BICUBIC && o->pos_interp != TC_INTERP_BICUBIC_AA &&
      o->pos_interp != TC_INTERP_BILINEAR)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown positional-embedding interpolation %d",
                        (int)o->pos_interp);
  if (o->weights != TC_WEIGHTS_AS_STORED && o->weights != TC_WEIGHTS_F32 && o->weights != TC_WEIGHTS_F16)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown weight precision %d", (int)o->weights);
  return TC_OK;
}

/* ---- weights ---- */

typedef struct role_fill {
  const tc_clip_vision *model;
  tc_clip_role role;
  int layer;
  tc_dtype dtype;
  int panels;       /* a matmul's w rearranged by tc_matmul_pack_panels */
  uint32_t rows, cols;
} role_fill;

static tc_status fill_role(void *user, void *dst, size_t bytes, tc_error *err)
{
  const role_fill *f = user;
  size_t count = f->panels ? (size_t)f->rows * f->cols : bytes / tc_dtype_size(f->dtype);
  void *to = f->panels ? malloc(count * tc_dtype_size(f->dtype)) : dst;
  if (!to)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u weight", f->rows, f->cols);
  tc_status st = f->dtype == TC_F16 ? tc_clip_vision_get_f16(f->model, f->role, f->layer, to, count, err)
                                    : tc_clip_vision_get_f32(f->model, f->role, f->layer, to, count, err);
  if (f->panels) {
    if (st == TC_OK)
      tc_matmul_pack_panels(to, dst, f->rows, f->cols, f->dtype);
    free(to);
  }
  return st;
}

/* Whether a matmul of inner size K reads its weights as panels (the CPU
 * kernels); the same answer at upload and at recording. */
static int panels(const tc_encoder *enc, uint32_t K)
{
  return tc_matmul_panels_wanted(enc->ctx, K);
}

/* Uploads a role; matrices may stay fp16 and are laid out for the matmul
 * kernels, vectors are always fp32. */
static tc_status upload(tc_encoder *enc, const tc_clip_vision *model, tc_clip_role role, int layer, int matrix,
                        tc_buffer **out, tc_dtype *dtype, tc_error *err)
{
  tc_dtype dt = TC_F32;
  if (matrix && enc->opts.weights == TC_WEIGHTS_F16)
    dt = TC_F16;
  else if (matrix && enc->opts.weights == TC_WEIGHTS_AS_STORED)
    dt = tc_clip_vision_role_dtype(model, role, layer) == TC_ST_F16 ? TC_F16 : TC_F32;
  if (dtype)
    *dtype = dt;
  role_fill f = { model, role, layer, dt, 0, 0, 0 };
  size_t bytes = tc_clip_vision_role_numel(model, role) * tc_dtype_size(dt);
  if (matrix) {
    int ndim;
    int64_t shape[2];
    tc_clip_vision_role_shape(model, role, &ndim, shape);
    f.rows = (uint32_t)shape[0], f.cols = (uint32_t)shape[1];
    if ((f.panels = panels(enc, f.cols)))
      bytes = tc_matmul_panels_bytes(f.rows, f.cols, dt);
  }
  return tc_buffer_create_filled(enc->ctx, bytes, fill_role, &f, out, err);
}

typedef struct pos_fill {
  const tc_clip_vision *model;
  int grid;
  tc_interp interp;
} pos_fill;

static tc_status fill_pos(void *user, void *dst, size_t bytes, tc_error *err)
{
  const pos_fill *f = user;
  return tc_clip_vision_pos_embed(f->model, f->grid, f->grid, f->interp, dst, bytes / sizeof(float), err);
}

static tc_status upload_weights(tc_encoder *enc, const tc_clip_vision *m, tc_error *err)
{
  tc_status st;
  pos_fill pf = { m, (int)enc->grid, enc->opts.pos_interp };
  if ((st = upload(enc, m, TC_CLIP_PATCH_EMBED, 0, 1, &enc->patch_w, &enc->patch_dt, err)) ||
      (st = upload(enc, m, TC_CLIP_CLASS_EMBED, 0, 0, &enc->cls, NULL, err)) ||
      (st = tc_buffer_create_filled(enc->ctx, (size_t)enc->tokens * enc->cfg.width * sizeof(float), fill_pos, &pf,
                                    &enc->pos, err)) ||
      (st = upload(enc, m, TC_CLIP_LN_PRE_WEIGHT, 0, 0, &enc->ln_pre_w, NULL, err)) ||
      (st = upload(enc, m, TC_CLIP_LN_PRE_BIAS, 0, 0, &enc->ln_pre_b, NULL, err)) ||
      (st = upload(enc, m, TC_CLIP_LN_POST_WEIGHT, 0, 0, &enc->ln_post_w, NULL, err)) ||
      (st = upload(enc, m, TC_CLIP_LN_POST_BIAS, 0, 0, &enc->ln_post_b, NULL, err)) ||
      (st = upload(enc, m, TC_CLIP_PROJ, 0, 1, &enc->proj, &enc->proj_dt, err)))
    return st;
  for (int l = 0; l < enc->cfg.layers; l++) {
    block *b = &enc->blocks[l];
    if ((st = upload(enc, m, TC_CLIP_LN_1_WEIGHT, l, 0, &b->ln1_w, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_LN_1_BIAS, l, 0, &b->ln1_b, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_QKV_WEIGHT, l, 1, &b->qkv_w, &b->qkv_dt, err)) ||
        (st = upload(enc, m, TC_CLIP_QKV_BIAS, l, 0, &b->qkv_b, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_ATTN_OUT_WEIGHT, l, 1, &b->out_w, &b->out_dt, err)) ||
        (st = upload(enc, m, TC_CLIP_ATTN_OUT_BIAS, l, 0, &b->out_b, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_LN_2_WEIGHT, l, 0, &b->ln2_w, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_LN_2_BIAS, l, 0, &b->ln2_b, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_MLP_FC_WEIGHT, l, 1, &b->fc_w, &b->fc_dt, err)) ||
        (st = upload(enc, m, TC_CLIP_MLP_FC_BIAS, l, 0, &b->fc_b, NULL, err)) ||
        (st = upload(enc, m, TC_CLIP_MLP_PROJ_WEIGHT, l, 1, &b->proj_w, &b->proj_dt, err)) ||
        (st = upload(enc, m, TC_CLIP_MLP_PROJ_BIAS, l, 0, &b->proj_b, NULL, err)))
      return st;
  }
  return TC_OK;
}

static tc_status alloc_activations(tc_encoder *enc, tc_error *err)
{
  const size_t T = enc->tokens, N = T - 1, W = (size_t)enc->cfg.width, f = sizeof(float);
  const size_t p = (size_t)enc->cfg.patch_size;
  tc_status st;
  if ((st = tc_buffer_create(enc->ctx, 3 * (size_t)enc->size * enc->size * f, &enc->input, err)) ||
      (st = tc_buffer_create(enc->ctx, N * 3 * p * p * f, &enc->patches, err)) ||
      (st = tc_buffer_create(enc->ctx, N * W * f, &enc->embed, err)) ||
      (st = tc_buffer_create(enc->ctx, T * W * f, &enc->x, err)) ||
      (st = tc_buffer_create(enc->ctx, T * W * f, &enc->h, err)) ||
      (st = tc_buffer_create(enc->ctx, T * 3 * W * f, &enc->qkv, err)) ||
      (st = tc_buffer_create(enc->ctx, T * W * f, &enc->attn, err)) ||
      (st = tc_buffer_create(enc->ctx, T * (size_t)enc->cfg.mlp_dim * f, &enc->mlp, err)) ||
      (st = tc_buffer_create(enc->ctx, T * (size_t)enc->cfg.embed_dim * f, &enc->out, err)))
    return st;
  if (enc->opts.vv_start &&
      ((st = tc_buffer_create(enc->ctx, T * W * f, &enc->y, err)) ||
       (st = tc_buffer_create(enc->ctx, (size_t)enc->cfg.embed_dim * f, &enc->global, err))))
    return st;
  return TC_OK;
}

tc_status tc_encoder_create(tc_context *ctx, const tc_clip_vision *model, const tc_encoder_options *opts,
                            tc_encoder **out, tc_error *err)
{
  *out = NULL;
  tc_encoder_options defaults;
  tc_encoder_options_init(&defaults);
  if (!opts)
    opts = &defaults;
  const tc_clip_vision_config *cfg = tc_clip_vision_get_config(model);
  tc_status st = tc_encoder_options_check(opts, cfg, err);
  if (st != TC_OK)
    return st;
  if (cfg->head_dim % 4 != 0 || cfg->width % 4 != 0)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: width %d and head size %d must be multiples of 4",
                        tc_clip_vision_path(model), cfg->width, cfg->head_dim);

  tc_encoder *enc = calloc(1, sizeof *enc);
  if (!enc || !(enc->blocks = calloc((size_t)cfg->layers, sizeof *enc->blocks))) {
    free(enc);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  }
  enc->ctx = ctx;
  enc->cfg = *cfg;
  enc->opts = *opts;
  enc->size = opts->input_size ? opts->input_size : (uint32_t)cfg->image_size;
  enc->grid = enc->size / (uint32_t)cfg->patch_size;
  enc->tokens = 1 + enc->grid * enc->grid;

  st = upload_weights(enc, model, err);
  if (st == TC_OK)
    st = alloc_activations(enc, err);
  if (st != TC_OK) {
    tc_error_prefix(err, "encoder for %s", tc_clip_vision_path(model));
    tc_encoder_destroy(enc);
    return st;
  }
  *out = enc;
  return TC_OK;
}

void tc_encoder_destroy(tc_encoder *enc)
{
  if (!enc)
    return;
  tc_buffer *globals[] = { enc->patch_w, enc->cls,   enc->pos,     enc->ln_pre_w, enc->ln_pre_b, enc->ln_post_w,
                           enc->ln_post_b, enc->proj, enc->input, enc->patches, enc->embed,    enc->x,
                           enc->y,         enc->h,    enc->qkv,   enc->attn,    enc->mlp,      enc->global,
                           enc->out };
  for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
    tc_buffer_destroy(globals[i]);
  for (int l = 0; enc->blocks && l < enc->cfg.layers; l++) {
    block *b = &enc->blocks[l];
    tc_buffer *bufs[] = { b->ln1_w, b->ln1_b, b->qkv_w, b->qkv_b, b->out_w, b->out_b,
                          b->ln2_w, b->ln2_b, b->fc_w,  b->fc_b,  b->proj_w, b->proj_b };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
      tc_buffer_destroy(bufs[i]);
  }
  free(enc->blocks);
  free(enc);
}

uint32_t tc_encoder_input_size(const tc_encoder *enc) { return enc->size; }
uint32_t tc_encoder_grid(const tc_encoder *enc) { return enc->grid; }
uint32_t tc_encoder_embed_dim(const tc_encoder *enc) { return (uint32_t)enc->cfg.embed_dim; }
tc_buffer *tc_encoder_input(tc_encoder *enc) { return enc->input; }
tc_buffer *tc_encoder_output(tc_encoder *enc) { return enc->out; }

/* ---- the graph ---- */

static tc_status record_embedding(tc_encoder *enc, tc_cmd *cmd, tc_error *err)
{
  const uint32_t N = enc->tokens - 1, W = (uint32_t)enc->cfg.width, p = (uint32_t)enc->cfg.patch_size;
  const uint32_t wg = 64;
  tc_kernel *k;
  tc_kernel_desc patchify = {
    .shader = "patchify", .n_bindings = 2, .bindings = { TC_BIND_STORAGE, TC_BIND_STORAGE },
    .push_size = 3 * sizeof(uint32_t), .n_spec = 1, .spec = { wg },
  };
  uint32_t pp[3] = { enc->size, p, enc->grid };
  tc_buffer *pb[] = { enc->input, enc->patches };
  tc_status st = tc_kernel_get(enc->ctx, &patchify, &k, err);
  if (st == TC_OK)
    st = tc_cmd_dispatch(cmd, k, pb, pp, tc_div_up(N * 3 * p * p, wg), 1, 1, "patchify", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->patches, .w = enc->patch_w, .w_dtype = enc->patch_dt,
                                         .y = enc->embed, .M = N, .N = W, .K = 3 * p * p,
                                         .w_panels = panels(enc, 3 * p * p) },
                      "patch embedding", err);
  tc_kernel_desc embed = {
    .shader = "embed_tokens", .n_bindings = 4,
    .bindings = { TC_BIND_STORAGE, TC_BIND_STORAGE, TC_BIND_STORAGE, TC_BIND_STORAGE },
    .push_size = 2 * sizeof(uint32_t), .n_spec = 1, .spec = { wg },
  };
  uint32_t ep[2] = { enc->tokens, W };
  tc_buffer *eb[] = { enc->embed, enc->cls, enc->pos, enc->x };
  if (st == TC_OK)
    st = tc_kernel_get(enc->ctx, &embed, &k, err);
  if (st == TC_OK)
    st = tc_cmd_dispatch(cmd, k, eb, ep, tc_div_up(enc->tokens * W, wg), 1, 1, "embed tokens", err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, enc->x, enc->ln_pre_w, enc->ln_pre_b, enc->x, enc->tokens, W, enc->cfg.ln_eps,
                         "ln_pre", err);
  return st;
}

/* Multi-head attention of the fused qkv rows into enc->attn; value_value
 * attends V to itself (q = k = v = the value columns). */
static tc_status record_attention(tc_encoder *enc, tc_cmd *cmd, int value_value, tc_error *err)
{
  const uint32_t W = (uint32_t)enc->cfg.width;
  tc_slice q = { enc->qkv, 0, 3 * W }, k = { enc->qkv, W, 3 * W }, v = { enc->qkv, 2 * W, 3 * W };
  if (value_value)
    q = k = v;
  tc_attention at = {
    .q = q, .k = k, .v = v, .out = enc->attn, .tokens = enc->tokens,
    .heads = (uint32_t)enc->cfg.heads, .head_dim = (uint32_t)enc->cfg.head_dim,
    .scale = 1.0f / sqrtf((float)enc->cfg.head_dim),
  };
  return tc_op_attention(cmd, &at, value_value ? "attention v-v" : "attention", err);
}

static tc_status record_block(tc_encoder *enc, tc_cmd *cmd, int layer, tc_error *err)
{
  const block *b = &enc->blocks[layer];
  const uint32_t T = enc->tokens, W = (uint32_t)enc->cfg.width, mlp = (uint32_t)enc->cfg.mlp_dim;
  const float eps = enc->cfg.ln_eps;
  const int vv = enc->opts.vv_start && (uint32_t)layer + 1 >= enc->opts.vv_start;
  tc_status st = TC_OK;

  /* the V-V stream starts as the ordinary stream's input to its first layer */
  if (vv && (uint32_t)layer + 1 == enc->opts.vv_start)
    st = tc_cmd_copy(cmd, enc->x, 0, enc->y, 0, (size_t)T * W * sizeof(float), err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, enc->x, b->ln1_w, b->ln1_b, enc->h, T, W, eps, "ln_1", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->h, .w = b->qkv_w, .w_dtype = b->qkv_dt, .bias = b->qkv_b,
                                         .y = enc->qkv, .M = T, .N = 3 * W, .K = W, .w_panels = panels(enc, W) },
                      "qkv", err);
  if (st == TC_OK)
    st = record_attention(enc, cmd, 0, err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->attn, .w = b->out_w, .w_dtype = b->out_dt, .bias = b->out_b,
                                         .residual = enc->x, .y = enc->x, .M = T, .N = W, .K = W,
                                         .w_panels = panels(enc, W) },
                      "attention out", err);
  if (vv && st == TC_OK)
    st = record_attention(enc, cmd, 1, err);
  if (vv && st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->attn, .w = b->out_w, .w_dtype = b->out_dt, .bias = b->out_b,
                                         .residual = enc->y, .y = enc->y, .M = T, .N = W, .K = W,
                                         .w_panels = panels(enc, W) },
                      "attention out v-v", err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, enc->x, b->ln2_w, b->ln2_b, enc->h, T, W, eps, "ln_2", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->h, .w = b->fc_w, .w_dtype = b->fc_dt, .bias = b->fc_b,
                                         .y = enc->mlp, .M = T, .N = mlp, .K = W, .act = enc->cfg.act,
                                         .w_panels = panels(enc, W) },
                      "mlp fc", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->mlp, .w = b->proj_w, .w_dtype = b->proj_dt, .bias = b->proj_b,
                                         .residual = enc->x, .y = enc->x, .M = T, .N = W, .K = mlp,
                                         .w_panels = panels(enc, mlp) },
                      "mlp proj", err);
  if (st != TC_OK)
    tc_error_prefix(err, "layer %d", layer + 1);
  return st;
}

/* ln_post then proj. Without the V-V stream every row comes from x; with it
 * the patch rows come from y and the global row from x. */
static tc_status record_output(tc_encoder *enc, tc_cmd *cmd, tc_error *err)
{
  const uint32_t T = enc->tokens, W = (uint32_t)enc->cfg.width, E = (uint32_t)enc->cfg.embed_dim;
  const float eps = enc->cfg.ln_eps;
  tc_buffer *patch_stream = enc->opts.vv_start ? enc->y : enc->x;
  tc_status st = tc_op_layernorm(cmd, patch_stream, enc->ln_post_w, enc->ln_post_b, enc->h, T, W, eps, "ln_post",
                                 err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->h, .w = enc->proj, .w_dtype = enc->proj_dt, .y = enc->out,
                                         .M = T, .N = E, .K = W, .w_panels = panels(enc, W) },
                      "proj", err);
  if (st != TC_OK || !enc->opts.vv_start)
    return st;
  /* the global token: row 0 of the ordinary stream */
  st = tc_op_layernorm(cmd, enc->x, enc->ln_post_w, enc->ln_post_b, enc->h, 1, W, eps, "ln_post global", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->h, .w = enc->proj, .w_dtype = enc->proj_dt, .y = enc->global,
                                         .M = 1, .N = E, .K = W, .w_panels = panels(enc, W) },
                      "proj global", err);
  if (st == TC_OK)
    st = tc_cmd_copy(cmd, enc->global, 0, enc->out, 0, E * sizeof(float), err);
  return st;
}

tc_status tc_encoder_record(tc_encoder *enc, tc_cmd *cmd, tc_error *err)
{
  tc_status st = record_embedding(enc, cmd, err);
  for (int l = 0; st == TC_OK && l < enc->cfg.layers; l++)
    st = record_block(enc, cmd, l, err);
  if (st == TC_OK)
    st = record_output(enc, cmd, err);
  if (st != TC_OK)
    tc_error_prefix(err, "recording the encoder");
  return st;
}
