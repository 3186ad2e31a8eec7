/* CLIP text encoder: weights uploaded once, each batch of prompts recorded and run. */
#include "tc_text_encoder.h"

#include <stdlib.h>
#include <string.h>

#include "tc_block.h"
#include "tc_ops.h"

struct tc_text_encoder {
  tc_context *ctx;
  const tc_clip_text *model;
  tc_clip_text_config cfg;
  tc_text_encoder_options opts;
  tc_block_stack blocks;
  tc_buffer *ln_w, *ln_b;
  tc_weight proj;
  float *pos;       /* [context, W] host copy */
  float *host_x;    /* [B * context, W] */
  uint32_t *eot;    /* [B] end-of-text positions */
  tc_block_buffers act; /* max_batch prompts of the whole context */
  tc_buffer *pooled, *pooled_n, *out;
  tc_cmd *cmd;
};

void tc_text_encoder_options_init(tc_text_encoder_options *opts)
{
  *opts = (tc_text_encoder_options){ .weights = TC_WEIGHTS_AS_STORED, .max_batch = 64 };
}

static tc_status upload_weights(tc_text_encoder *te, tc_error *err)
{
  const tc_clip_tower *tw = tc_clip_text_tower(te->model);
  const tc_weight_precision wp = te->opts.weights;
  tc_status st = tc_weight_upload_vector(te->ctx, tw, TC_TEXT_LN_FINAL_WEIGHT, 0, &te->ln_w, err);
  if (st == TC_OK)
    st = tc_weight_upload_vector(te->ctx, tw, TC_TEXT_LN_FINAL_BIAS, 0, &te->ln_b, err);
  if (st == TC_OK)
    st = tc_weight_upload_matrix(te->ctx, tw, TC_TEXT_PROJ, 0, wp, &te->proj, err);
  if (st != TC_OK)
    return st;
  const tc_clip_text_config *c = &te->cfg;
  const tc_block_config block = tc_block_config_make(c->width, c->heads, c->mlp_dim, c->ln_eps, c->act, 1);
  return tc_block_stack_upload(te->ctx, tw, &block, wp, &te->blocks, err);
}

tc_status tc_text_encoder_create(tc_context *ctx, const tc_clip_text *model, const tc_text_encoder_options *opts,
                                 tc_text_encoder **out, tc_error *err)
{
  *out = NULL;
  tc_text_encoder_options defaults;
  tc_text_encoder_options_init(&defaults);
  if (!opts)
    opts = &defaults;
  const tc_clip_text_config *cfg = tc_clip_text_get_config(model);
  tc_status st = tc_weight_precision_check(opts->weights, err);
  if (st != TC_OK)
    return st;
  tc_text_encoder *te = calloc(1, sizeof *te);
  if (!te)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  te->ctx = ctx;
  te->model = model;
  te->cfg = *cfg;
  te->opts = *opts;
  if (!te->opts.max_batch)
    te->opts.max_batch = 64;
  const size_t B = te->opts.max_batch, C = (size_t)cfg->context, W = (size_t)cfg->width, f = sizeof(float);
  const size_t rows = B * C;
  if (!(te->pos = malloc(C * W * f)) || !(te->host_x = malloc(rows * W * f)) || !(te->eot = calloc(B, sizeof *te->eot)))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (st == TC_OK)
    st = tc_clip_text_get_f32(model, TC_TEXT_POS_EMBED, 0, te->pos, C * W, err);
  if (st == TC_OK)
    st = upload_weights(te, err);
  if (st == TC_OK)
    st = tc_block_buffers_create(ctx, &te->blocks.config, (uint32_t)B, (uint32_t)C, &te->act, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, B * W * f, &te->pooled, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, B * W * f, &te->pooled_n, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, B * (size_t)cfg->embed_dim * f, &te->out, err);
  if (st == TC_OK)
    st = tc_cmd_create(ctx, &te->cmd, err);
  if (st != TC_OK) {
    tc_error_prefix(err, "text encoder for %s", tc_clip_text_path(model));
    tc_text_encoder_destroy(te);
    return st;
  }
  *out = te;
  return TC_OK;
}

void tc_text_encoder_destroy(tc_text_encoder *te)
{
  if (!te)
    return;
  tc_cmd_destroy(te->cmd);
  tc_buffer *globals[] = { te->ln_w, te->ln_b, te->pooled, te->pooled_n, te->out };
  for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
    tc_buffer_destroy(globals[i]);
  tc_weight_release(&te->proj);
  tc_block_buffers_destroy(&te->act);
  tc_block_stack_release(&te->blocks);
  free(te->pos);
  free(te->host_x);
  free(te->eot);
  free(te);
}

uint32_t tc_text_encoder_embed_dim(const tc_text_encoder *te) { return (uint32_t)te->cfg.embed_dim; }

/* The end-of-text position of a row: the first largest id (torch.argmax). */
static uint32_t eot_position(const int32_t *row, uint32_t context)
{
  uint32_t best = 0;
  for (uint32_t t = 1; t < context; t++)
    if (row[t] > row[best])
      best = t;
  return best;
}

/* One batch of B prompts. */
static tc_status run_batch(tc_text_encoder *te, const int32_t *ids, uint32_t B, uint32_t context, float *out,
                           tc_error *err)
{
  const uint32_t W = (uint32_t)te->cfg.width, E = (uint32_t)te->cfg.embed_dim;
  const size_t f = sizeof(float);
  uint32_t *eot = te->eot, T = 1;
  for (uint32_t p = 0; p < B; p++) {
    eot[p] = eot_position(ids + (size_t)p * context, context);
    if (eot[p] + 1 > T)
      T = eot[p] + 1;
  }
  /* token + positional embeddings on the host, B prompts of T rows */
  for (uint32_t p = 0; p < B; p++) {
    float *x = te->host_x + (size_t)p * T * W;
    tc_status st = tc_clip_text_token_rows(te->model, ids + (size_t)p * context, T, x, err);
    if (st != TC_OK)
      return st;
    for (size_t i = 0; i < (size_t)T * W; i++)
      x[i] += te->pos[i];
  }
  tc_status st = tc_buffer_upload(te->act.x, 0, te->host_x, (size_t)B * T * W * f, err);
  tc_cmd *cmd = te->cmd;
  if (st == TC_OK)
    st = tc_cmd_begin(cmd, err);
  for (int l = 0; st == TC_OK && l < te->cfg.layers; l++)
    st = tc_block_record(cmd, &te->blocks, l, &te->act, B, T, err);
  for (uint32_t p = 0; st == TC_OK && p < B; p++)
    st = tc_cmd_copy(cmd, te->act.x, ((size_t)p * T + eot[p]) * W * f, te->pooled, (size_t)p * W * f, W * f, err);
  if (st == TC_OK)
    st = tc_op_layernorm(cmd, te->pooled, te->ln_w, te->ln_b, te->pooled_n, B, W, te->cfg.ln_eps, "text ln_final",
                         err);
  if (st == TC_OK)
    st = tc_op_matmul(cmd, &(tc_matmul){ .x = te->pooled_n, .w = te->proj.buf, .w_dtype = te->proj.dtype,
                                         .y = te->out, .M = B, .N = E, .K = W, .w_panels = te->proj.panels },
                      "text projection", err);
  if (st == TC_OK)
    st = tc_cmd_end(cmd, err);
  if (st == TC_OK)
    st = tc_cmd_run(cmd, err);
  if (st == TC_OK)
    st = tc_buffer_download(te->out, 0, out, (size_t)B * E * f, err);
  return st;
}

typedef struct by_length {
  uint32_t eot, index;
} by_length;

static int compare_length(const void *a, const void *b)
{
  const by_length *x = a, *y = b;
  return x->eot != y->eot ? (x->eot < y->eot ? -1 : 1) : (x->index < y->index ? -1 : x->index > y->index);
}

tc_status tc_text_encoder_run(tc_text_encoder *te, const int32_t *ids, uint32_t n, uint32_t context, float *out,
                              tc_error *err)
{
  if (!te || (n && (!ids || !out)))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_text_encoder_run: NULL argument");
  if (context < 1 || context > (uint32_t)te->cfg.context)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: %u tokens per prompt, the text model's context is %d",
                        tc_clip_text_path(te->model), context, te->cfg.context);
  /* prompts of similar lengths share a batch, so little is padded: sort by
   * end-of-text position, run the batches, put each embedding back in place */
  const uint32_t E = (uint32_t)te->cfg.embed_dim, maxb = te->opts.max_batch;
  by_length *order = malloc((size_t)n * sizeof *order + 1);
  int32_t *sorted = malloc((size_t)(n < maxb ? n : maxb) * context * sizeof *sorted + 1);
  float *emb = malloc((size_t)(n < maxb ? n : maxb) * E * sizeof *emb + 1);
  tc_status st = order && sorted && emb ? TC_OK : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (uint32_t i = 0; st == TC_OK && i < n; i++)
    order[i] = (by_length){ eot_position(ids + (size_t)i * context, context), i };
  if (st == TC_OK)
    qsort(order, n, sizeof *order, compare_length);
  for (uint32_t first = 0; st == TC_OK && first < n; first += maxb) {
    uint32_t B = n - first < maxb ? n - first : maxb;
    for (uint32_t p = 0; p < B; p++)
      memcpy(sorted + (size_t)p * context, ids + (size_t)order[first + p].index * context, context * sizeof *ids);
    st = run_batch(te, sorted, B, context, emb, err);
    for (uint32_t p = 0; st == TC_OK && p < B; p++)
      memcpy(out + (size_t)order[first + p].index * E, emb + (size_t)p * E, E * sizeof *emb);
  }
  free(order);
  free(sorted);
  free(emb);
  if (st != TC_OK)
    tc_error_prefix(err, "text encoder");
  return st;
}
