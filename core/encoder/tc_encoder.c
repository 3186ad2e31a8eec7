/* CLIP ViT encoder graph: weights uploaded once, the graph recorded on demand. */
#include "tc_encoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "abi/encoder.h"
#include "tc_block.h"
#include "tc_clip_tower.h"
#include "tc_ops.h"

struct tc_encoder {
  tc_context *ctx;
  tc_clip_vision_config cfg;
  tc_encoder_options opts;
  uint32_t size, grid, tokens; /* S, patches per side, 1 + N */
  uint32_t layers[TC_MAX_FEATURE_LAYERS], n_layers; /* the feature layers (from 1), increasing */
  uint32_t vv_last; /* the last layer that needs the V-V stream (0: none) */
  uint32_t max_batch; /* frames the buffers hold */

  /* weights */
  tc_weight patch_w, proj;
  tc_buffer *cls, *pos, *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b;
  tc_block_stack blocks;

  /* activations */
  tc_buffer *input;     /* [B, 3, S, S] */
  tc_buffer *frame_in;  /* [3, S, S] frame b > 0's input: the embedding kernels take whole buffers */
  tc_buffer *frame_x;   /* [T, W] frame b > 0's embedded tokens, copied into its rows of act.x */
  tc_buffer *cls_rows;  /* [B, W] every frame's class token, for the global projection (B > 1) */
  tc_buffer *patches;   /* [N, 3 p p] */
  tc_buffer *embed;     /* [N, W] */
  tc_block_buffers act; /* B sequences of T rows; act.x [T, W] is the ordinary stream, act.h layer-norm output */
  tc_buffer *y;         /* [B T, W] the value-value stream (vv_start > 0) */
  tc_buffer *global;    /* [B, E] the global tokens */
  tc_buffer *feat;      /* [B T, E] one feature layer's tokens (n > 1 or B > 1) */
  tc_buffer *out;       /* [B, n, T, E] */
};

void tc_encoder_options_init(tc_encoder_options *opts)
{
  *opts = (tc_encoder_options){ .pos_interp = TC_INTERP_BICUBIC, .global_ln_post = 1,
                                .weights = TC_WEIGHTS_AS_STORED, .max_batch = 1 };
}

/* The feature layers of o into layers[]; all zeros: the last. */
static uint32_t feature_layers(const tc_encoder_options *o, const tc_clip_vision_config *cfg, uint32_t *layers)
{
  uint32_t n = 0;
  while (n < TC_MAX_FEATURE_LAYERS && o->feature_layers[n])
    layers[n] = o->feature_layers[n], n++;
  if (n == 0)
    layers[n++] = (uint32_t)cfg->layers;
  return n;
}

tc_status tc_encoder_options_check(const tc_encoder_options *o, const tc_clip_vision_config *cfg, tc_error *err)
{
  uint32_t p = (uint32_t)cfg->patch_size;
  if (o->input_size && (o->input_size % p != 0 || o->input_size < p || o->input_size > 64 * 1024))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "input size %u is not a positive multiple of the model's "
                        "patch size %u (e.g. %u)", o->input_size, p, (uint32_t)cfg->image_size);
  if (o->input_size > TC_MAX_GRID * p)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "input size %u gives a %u x %u grid of patch tokens; at most "
                        "%u x %u are supported, so at most %u for this model's patch size %u", o->input_size,
                        o->input_size / p, o->input_size / p, TC_MAX_GRID, TC_MAX_GRID, TC_MAX_GRID * p, p);
  if (o->vv_start > (uint32_t)cfg->layers)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "vv-start %u is beyond the model's %d layers (0 turns the "
                        "value-value stream off)", o->vv_start, cfg->layers);
  for (uint32_t i = 0; i < TC_MAX_FEATURE_LAYERS; i++) {
    uint32_t l = o->feature_layers[i], prev = i ? o->feature_layers[i - 1] : 0;
    if (l > (uint32_t)cfg->layers)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "feature layer %u is beyond the model's %d layers", l,
                          cfg->layers);
    if (l && i && !(l > prev))
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "feature layers must increase (%u after %u)%s", l, prev,
                          prev ? "" : ": a 0 ends the list");
  }
  if (o->pos_interp != TC_INTERP_BICUBIC && o->pos_interp != TC_INTERP_BICUBIC_AA &&
      o->pos_interp != TC_INTERP_BILINEAR)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown positional-embedding interpolation %d",
                        (int)o->pos_interp);
  if (o->max_batch > TC_ENCODER_MAX_BATCH)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch of %u frames: at most %u are supported", o->max_batch,
                        TC_ENCODER_MAX_BATCH);
  return tc_weight_precision_check(o->weights, err);
}

/* ---- weights ---- */

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
  const tc_clip_tower *tw = tc_clip_vision_tower(m);
  const tc_weight_precision wp = enc->opts.weights;
  tc_context *ctx = enc->ctx;
  tc_status st;
  pos_fill pf = { m, (int)enc->grid, enc->opts.pos_interp };
  st = tc_weight_upload_matrix(ctx, tw, TC_CLIP_PATCH_EMBED, 0, wp, &enc->patch_w, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(ctx, tw, TC_CLIP_CLASS_EMBED, 0, &enc->cls, err);
  if (st == TC_OK)
    st = tc_buffer_create_filled(ctx, (size_t)enc->tokens * enc->cfg.width * sizeof(float), fill_pos, &pf,
                                 &enc->pos, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(ctx, tw, TC_CLIP_LN_PRE_WEIGHT, 0, &enc->ln_pre_w, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(ctx, tw, TC_CLIP_LN_PRE_BIAS, 0, &enc->ln_pre_b, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(ctx, tw, TC_CLIP_LN_POST_WEIGHT, 0, &enc->ln_post_w, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(ctx, tw, TC_CLIP_LN_POST_BIAS, 0, &enc->ln_post_b, err);
  if (st == TC_OK)
    st = tc_weight_upload_matrix(ctx, tw, TC_CLIP_PROJ, 0, wp, &enc->proj, err);
  if (st != TC_OK)
    return st;
  const tc_clip_vision_config *c = &enc->cfg;
  const tc_block_config block = tc_block_config_make(c->width, c->heads, c->mlp_dim, c->ln_eps, c->act, 0);
  return tc_block_stack_upload(ctx, tw, &block, wp, &enc->blocks, err);
}

static tc_status alloc_activations(tc_encoder *enc, tc_error *err)
{
  const size_t B = enc->max_batch, T = enc->tokens, N = T - 1, W = (size_t)enc->cfg.width, f = sizeof(float);
  const size_t p = (size_t)enc->cfg.patch_size, image = 3 * (size_t)enc->size * enc->size * f;
  tc_status st = tc_buffer_create(enc->ctx, B * image, &enc->input, err);
  if (st == TC_OK && B > 1)
    st = tc_buffer_create(enc->ctx, image, &enc->frame_in, err);
  if (st == TC_OK && B > 1)
    st = tc_buffer_create(enc->ctx, T * W * f, &enc->frame_x, err);
  if (st == TC_OK && B > 1)
    st = tc_buffer_create(enc->ctx, B * W * f, &enc->cls_rows, err);
  if (st == TC_OK)
    st = tc_buffer_create(enc->ctx, N * 3 * p * p * f, &enc->patches, err);
  if (st == TC_OK)
    st = tc_buffer_create(enc->ctx, N * W * f, &enc->embed, err);
  if (st == TC_OK)
    st = tc_block_buffers_create(enc->ctx, &enc->blocks.config, enc->max_batch, enc->tokens, &enc->act, err);
  if (st == TC_OK)
    enc->act.act_dtype = enc->opts.activations;
  if (st == TC_OK)
    st = tc_buffer_create(enc->ctx, B * enc->n_layers * T * (size_t)enc->cfg.embed_dim * f, &enc->out, err);
  if (st == TC_OK)
    st = tc_buffer_create(enc->ctx, B * (size_t)enc->cfg.embed_dim * f, &enc->global, err);
  if (st == TC_OK && enc->vv_last)
    st = tc_buffer_create(enc->ctx, B * T * W * f, &enc->y, err);
  if (st == TC_OK && (enc->n_layers > 1 || B > 1))
    st = tc_buffer_create(enc->ctx, B * T * (size_t)enc->cfg.embed_dim * f, &enc->feat, err);
  return st;
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

  if (opts->activations == TC_F16 && tc_context_family(ctx) != TC_FAMILY_GPU)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "fp16 activations need the gpu kernel family (%s runs the cpu one)",
                        tc_context_device_name(ctx));
  tc_encoder *enc = calloc(1, sizeof *enc);
  if (!enc)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  enc->ctx = ctx;
  enc->cfg = *cfg;
  enc->opts = *opts;
  enc->size = opts->input_size ? opts->input_size : (uint32_t)cfg->image_size;
  enc->grid = enc->size / (uint32_t)cfg->patch_size;
  enc->tokens = 1 + enc->grid * enc->grid;
  enc->n_layers = feature_layers(opts, cfg, enc->layers);
  enc->max_batch = opts->max_batch ? opts->max_batch : 1;
  /* the V-V stream only as far as a feature layer reads it */
  enc->vv_last = opts->vv_start && opts->vv_start <= enc->layers[enc->n_layers - 1] ? enc->layers[enc->n_layers - 1]
                                                                                    : 0;

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
  tc_buffer *globals[] = { enc->cls,     enc->pos,   enc->ln_pre_w, enc->ln_pre_b, enc->ln_post_w,
                           enc->ln_post_b, enc->input, enc->patches,  enc->embed,    enc->y,
                           enc->global,    enc->feat,  enc->out,      enc->frame_in, enc->frame_x,
                           enc->cls_rows };
  for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
    tc_buffer_destroy(globals[i]);
  tc_weight_release(&enc->patch_w);
  tc_weight_release(&enc->proj);
  tc_block_buffers_destroy(&enc->act);
  tc_block_stack_release(&enc->blocks);
  free(enc);
}

uint32_t tc_encoder_input_size(const tc_encoder *enc) { return enc->size; }
uint32_t tc_encoder_grid(const tc_encoder *enc) { return enc->grid; }
uint32_t tc_encoder_embed_dim(const tc_encoder *enc) { return (uint32_t)enc->cfg.embed_dim; }
uint32_t tc_encoder_feature_layers(const tc_encoder *enc, uint32_t *layers)
{
  for (uint32_t i = 0; layers && i < enc->n_layers; i++)
    layers[i] = enc->layers[i];
  return enc->n_layers;
}
uint32_t tc_encoder_max_batch(const tc_encoder *enc) { return enc->max_batch; }
tc_buffer *tc_encoder_input(tc_encoder *enc) { return enc->input; }
tc_buffer *tc_encoder_output(tc_encoder *enc) { return enc->out; }

/* ---- the graph ---- */

/* Frame b's patch embedding and tokens into its rows of act.x. Frame 0 is
 * at offset 0 of input and act.x and goes straight through; a later frame
 * is copied into whole-buffer scratch around the kernels, which take no
 * offsets. */
static tc_status record_frame_embedding(tc_encoder *enc, tc_cmd *cmd, uint32_t b, tc_error *err)
{
  const uint32_t N = enc->tokens - 1, W = (uint32_t)enc->cfg.width, p = (uint32_t)enc->cfg.patch_size;
  const uint32_t wg = 64;
  const size_t image = 3 * (size_t)enc->size * enc->size * sizeof(float);
  const size_t rows = (size_t)enc->tokens * W * sizeof(float);
  tc_buffer *in = b ? enc->frame_in : enc->input, *x = b ? enc->frame_x : enc->act.x;
  tc_kernel *k;
  tc_kernel_desc patchify = {
    .shader = "patchify",
    .n_bindings = PATCHIFY_BINDINGS,
    .bindings = { [PATCHIFY_BIND_IMAGE] = TC_BIND_STORAGE, [PATCHIFY_BIND_PATCHES] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_patchify_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = wg },
  };
  tc_patchify_push pp = { .size = enc->size, .psize = p, .grid = enc->grid };
  tc_buffer *pb[PATCHIFY_BINDINGS] = { [PATCHIFY_BIND_IMAGE] = in, [PATCHIFY_BIND_PATCHES] = enc->patches };
  tc_status st = b ? tc_cmd_copy(cmd, enc->input, b * image, in, 0, image, err) : TC_OK;
  if (st == TC_OK)
    st = tc_kernel_get(enc->ctx, &patchify, &k, err);
  if (st == TC_OK)
    st = tc_cmd_dispatch(cmd, k, pb, &pp, tc_div_up(N * 3 * p * p, wg), 1, 1, "patchify", err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = enc->patches, .w = enc->patch_w.buf, .w_dtype = enc->patch_w.dtype,
                                         .y = enc->embed, .M = N, .N = W, .K = 3 * p * p,
                                         .w_panels = enc->patch_w.panels },
                      "patch embedding", err);
  tc_kernel_desc embed = {
    .shader = "embed_tokens",
    .n_bindings = EMBED_BINDINGS,
    .bindings = { [EMBED_BIND_PATCHES] = TC_BIND_STORAGE, [EMBED_BIND_CLASS] = TC_BIND_STORAGE,
                  [EMBED_BIND_POS] = TC_BIND_STORAGE, [EMBED_BIND_X] = TC_BIND_STORAGE },
    .push_size = sizeof(tc_embed_tokens_push),
    .n_spec = 1,
    .spec = { [TC_SPEC_WORKGROUP] = wg },
  };
  tc_embed_tokens_push ep = { .tokens = enc->tokens, .width = W };
  tc_buffer *eb[EMBED_BINDINGS] = { [EMBED_BIND_PATCHES] = enc->embed, [EMBED_BIND_CLASS] = enc->cls,
                                    [EMBED_BIND_POS] = enc->pos, [EMBED_BIND_X] = x };
  if (st == TC_OK)
    st = tc_kernel_get(enc->ctx, &embed, &k, err);
  if (st == TC_OK)
    st = tc_cmd_dispatch(cmd, k, eb, &ep, tc_div_up(enc->tokens * W, wg), 1, 1, "embed tokens", err);
  if (st == TC_OK && b)
    st = tc_cmd_copy(cmd, x, 0, enc->act.x, b * rows, rows, err);
  return st;
}

static tc_status record_embedding(tc_encoder *enc, tc_cmd *cmd, uint32_t batch, tc_error *err)
{
  tc_status st = TC_OK;
  for (uint32_t b = 0; b < batch && st == TC_OK; b++)
    st = record_frame_embedding(enc, cmd, b, err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, enc->act.x, enc->ln_pre_w, enc->ln_pre_b, enc->act.x, batch * enc->tokens,
                         (uint32_t)enc->cfg.width, enc->cfg.ln_eps, "ln_pre", err);
  return st;
}

/* Whether layer l (from 1) reads its patch tokens from the V-V stream. */
static int from_vv(const tc_encoder *enc, uint32_t l)
{
  return enc->vv_last && l >= enc->opts.vv_start;
}

/* Layer `layer` (from 0): the shared block, and the value-value stream on
 * top from vv_start on (as far as a feature layer needs it). */
static tc_status record_block(tc_encoder *enc, tc_cmd *cmd, int layer, uint32_t batch, tc_error *err)
{
  const uint32_t T = enc->tokens, W = (uint32_t)enc->cfg.width, l = (uint32_t)layer + 1;
  const int vv = from_vv(enc, l) && l <= enc->vv_last;
  tc_status st = TC_OK;

  /* the V-V stream starts as the ordinary stream's input to its first layer */
  if (vv && l == enc->opts.vv_start)
    st = tc_cmd_copy(cmd, enc->act.x, 0, enc->y, 0, (size_t)batch * T * W * sizeof(float), err);
  if (st == TC_OK)
    st = tc_block_record(cmd, &enc->blocks, layer, &enc->act, batch, T, err);
  if (vv && st == TC_OK)
    st = tc_block_record_vv(cmd, &enc->blocks, layer, &enc->act, enc->y, batch, T, err);
  return st;
}

/* ln_post(rows of x) -> h, or x itself without it; then @ proj into y. */
static tc_status record_ln_post_proj(tc_encoder *enc, tc_cmd *cmd, tc_buffer *x, int ln_post, uint32_t rows,
                                  tc_buffer *y, const char *label, tc_error *err)
{
  const uint32_t W = (uint32_t)enc->cfg.width, E = (uint32_t)enc->cfg.embed_dim;
  tc_status st = TC_OK;
  if (ln_post) {
    st = tc_op_layernorm(cmd, x, enc->ln_post_w, enc->ln_post_b, enc->act.h, rows, W, enc->cfg.ln_eps, "ln_post",
                         err);
    x = enc->act.h;
  }
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = x, .w = enc->proj.buf, .w_dtype = enc->proj.dtype, .y = y, .M = rows,
                                         .N = E, .K = W, .w_panels = enc->proj.panels },
                      label, err);
  return st;
}

/* Feature layer f (after its block): ln_post then proj of every frame's
 * stream into frame b's output block f (through feat unless one frame
 * and one block). */
static tc_status record_features(tc_encoder *enc, tc_cmd *cmd, uint32_t f, uint32_t batch, tc_error *err)
{
  const size_t block = (size_t)enc->tokens * enc->cfg.embed_dim * sizeof(float);
  tc_buffer *stream = from_vv(enc, enc->layers[f]) ? enc->y : enc->act.x;
  tc_buffer *dst = enc->n_layers > 1 || batch > 1 ? enc->feat : enc->out;
  tc_status st = record_ln_post_proj(enc, cmd, stream, 1, batch * enc->tokens, dst, "proj", err);
  for (uint32_t b = 0; b < batch && st == TC_OK && dst != enc->out; b++)
    st = tc_cmd_copy(cmd, dst, b * block, enc->out, ((size_t)b * enc->n_layers + f) * block, block, err);
  return st;
}

/* Row 0 of every block: the global token [ln_post](x_L[CLS]) @ proj. The
 * last block's row 0 already is it when that block is the ordinary
 * stream's last layer through ln_post. */
static tc_status record_global(tc_encoder *enc, tc_cmd *cmd, uint32_t batch, tc_error *err)
{
  const uint32_t n = enc->n_layers, L = (uint32_t)enc->cfg.layers;
  const size_t E = (size_t)enc->cfg.embed_dim * sizeof(float), block = enc->tokens * E;
  const size_t W = (size_t)enc->cfg.width * sizeof(float);
  const int in_last = enc->layers[n - 1] == L && !from_vv(enc, L) && enc->opts.global_ln_post;
  tc_status st = TC_OK;
  if (!in_last) {
    /* every frame's class token (row 0 of its sequence) as one [batch, W] matrix */
    tc_buffer *cls = batch > 1 ? enc->cls_rows : enc->act.x;
    for (uint32_t b = 0; b < batch && batch > 1 && st == TC_OK; b++)
      st = tc_cmd_copy(cmd, enc->act.x, b * enc->tokens * W, cls, b * W, W, err);
    if (st == TC_OK)
      st = record_ln_post_proj(enc, cmd, cls, enc->opts.global_ln_post, batch, enc->global, "proj global", err);
  }
  for (uint32_t b = 0; b < batch && st == TC_OK; b++) {
    tc_buffer *src = in_last ? enc->out : enc->global;
    const size_t frame = (size_t)b * n * block, src_offset = in_last ? frame + (n - 1) * block : b * E;
    for (uint32_t f = 0; f < n && st == TC_OK; f++)
      if (!(in_last && f == n - 1))
        st = tc_cmd_copy(cmd, src, src_offset, enc->out, frame + f * block, E, err);
  }
  return st;
}

tc_status tc_encoder_record(tc_encoder *enc, tc_cmd *cmd, tc_error *err)
{
  return tc_encoder_record_batch(enc, cmd, 1, err);
}

tc_status tc_encoder_record_batch(tc_encoder *enc, tc_cmd *cmd, uint32_t batch, tc_error *err)
{
  if (batch < 1 || batch > enc->max_batch)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "batch of %u frames: this encoder takes 1 to %u (its "
                        "max_batch)", batch, enc->max_batch);
  tc_status st = record_embedding(enc, cmd, batch, err);
  for (uint32_t l = 1, f = 0; st == TC_OK && l <= (uint32_t)enc->cfg.layers; l++) {
    st = record_block(enc, cmd, (int)l - 1, batch, err);
    if (st == TC_OK && f < enc->n_layers && enc->layers[f] == l)
      st = record_features(enc, cmd, f++, batch, err);
  }
  if (st == TC_OK)
    st = record_global(enc, cmd, batch, err);
  if (st != TC_OK)
    tc_error_prefix(err, "recording the encoder");
  return st;
}
