/* The pre-LN residual block of both CLIP towers: see tc_block.h. */
#include "tc_block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tc_block_config tc_block_config_make(int width, int heads, int mlp_dim, float ln_eps, tc_act act, int causal)
{
  return (tc_block_config){ .width = (uint32_t)width, .heads = (uint32_t)heads,
                            .head_dim = heads > 0 ? (uint32_t)(width / heads) : 0, .mlp_dim = (uint32_t)mlp_dim,
                            .ln_eps = ln_eps, .act = act, .causal = causal };
}

/* ---- weights ---- */

static tc_status upload_vector(tc_context *ctx, const tc_clip_tower *tw, tc_clip_block_role role, int layer,
                               tc_buffer **out, tc_error *err)
{
  return tc_weight_upload_vector(ctx, tw, tc_clip_tower_block_role(tw, role), layer, out, err);
}

static tc_status upload_matrix(tc_context *ctx, const tc_clip_tower *tw, tc_clip_block_role role, int layer,
                               tc_weight_precision wp, tc_weight *out, tc_error *err)
{
  return tc_weight_upload_matrix(ctx, tw, tc_clip_tower_block_role(tw, role), layer, wp, out, err);
}

static void release_block(tc_block *b)
{
  tc_buffer *vectors[] = { b->ln1_w, b->ln1_b, b->ln2_w, b->ln2_b, b->qkv_b, b->out_b, b->fc_b, b->proj_b };
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
    tc_buffer_destroy(vectors[i]);
  tc_weight_release(&b->qkv);
  tc_weight_release(&b->out);
  tc_weight_release(&b->fc);
  tc_weight_release(&b->proj);
}

static tc_status upload_block(tc_context *ctx, const tc_clip_tower *tw, int layer, tc_weight_precision wp,
                              tc_block *b, tc_error *err)
{
  tc_status st = upload_vector(ctx, tw, TC_BLOCK_LN_1_WEIGHT, layer, &b->ln1_w, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_LN_1_BIAS, layer, &b->ln1_b, err);
  if (st == TC_OK)
    st = upload_matrix(ctx, tw, TC_BLOCK_QKV_WEIGHT, layer, wp, &b->qkv, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_QKV_BIAS, layer, &b->qkv_b, err);
  if (st == TC_OK)
    st = upload_matrix(ctx, tw, TC_BLOCK_ATTN_OUT_WEIGHT, layer, wp, &b->out, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_ATTN_OUT_BIAS, layer, &b->out_b, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_LN_2_WEIGHT, layer, &b->ln2_w, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_LN_2_BIAS, layer, &b->ln2_b, err);
  if (st == TC_OK)
    st = upload_matrix(ctx, tw, TC_BLOCK_MLP_FC_WEIGHT, layer, wp, &b->fc, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_MLP_FC_BIAS, layer, &b->fc_b, err);
  if (st == TC_OK)
    st = upload_matrix(ctx, tw, TC_BLOCK_MLP_PROJ_WEIGHT, layer, wp, &b->proj, err);
  if (st == TC_OK)
    st = upload_vector(ctx, tw, TC_BLOCK_MLP_PROJ_BIAS, layer, &b->proj_b, err);
  if (st != TC_OK)
    tc_error_prefix(err, "layer %d", layer + 1);
  return st;
}

tc_status tc_block_stack_upload(tc_context *ctx, const tc_clip_tower *tw, const tc_block_config *c,
                                tc_weight_precision wp, tc_block_stack *out, tc_error *err)
{
  memset(out, 0, sizeof *out);
  if (c->heads == 0 || c->head_dim % 4 != 0 || c->width % 4 != 0)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%swidth %u and head size %u must be multiples of 4",
                        tw->layout->what, c->width, c->head_dim);
  out->config = *c;
  out->layers = tw->layers;
  if (!(out->layer = calloc((size_t)tw->layers, sizeof *out->layer)))
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for %d layers", tw->layers);
  tc_status st = TC_OK;
  for (int l = 0; st == TC_OK && l < out->layers; l++)
    st = upload_block(ctx, tw, l, wp, &out->layer[l], err);
  if (st != TC_OK)
    tc_block_stack_release(out);
  return st;
}

void tc_block_stack_release(tc_block_stack *s)
{
  for (int l = 0; s->layer && l < s->layers; l++)
    release_block(&s->layer[l]);
  free(s->layer);
  memset(s, 0, sizeof *s);
}

/* ---- activations ---- */

tc_status tc_block_buffers_create(tc_context *ctx, const tc_block_config *c, uint32_t max_seqs, uint32_t max_tokens,
                                  tc_block_buffers *out, tc_error *err)
{
  const size_t rows = (size_t)max_seqs * max_tokens, W = c->width, f = sizeof(float);
  memset(out, 0, sizeof *out);
  out->max_seqs = max_seqs, out->max_tokens = max_tokens;
  tc_status st = tc_buffer_create(ctx, rows * W * f, &out->x, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, rows * W * f, &out->h, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, rows * 3 * W * f, &out->qkv, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, rows * W * f, &out->attn, err);
  if (st == TC_OK)
    st = tc_buffer_create(ctx, rows * c->mlp_dim * f, &out->mlp, err);
  if (st == TC_OK && max_seqs > 1) /* whole-sequence scratch for the batched attention */
    st = tc_buffer_create(ctx, (size_t)max_tokens * 3 * W * f, &out->seq_qkv, err);
  if (st == TC_OK && max_seqs > 1)
    st = tc_buffer_create(ctx, (size_t)max_tokens * W * f, &out->seq_attn, err);
  if (st != TC_OK)
    tc_block_buffers_destroy(out);
  return st;
}

void tc_block_buffers_destroy(tc_block_buffers *bufs)
{
  tc_buffer *all[] = { bufs->x, bufs->h, bufs->qkv, bufs->attn, bufs->mlp, bufs->seq_qkv, bufs->seq_attn };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    tc_buffer_destroy(all[i]);
  memset(bufs, 0, sizeof *bufs);
}

/* ---- recording ---- */

static tc_status check_rows(const tc_block_buffers *bufs, uint32_t seqs, uint32_t tokens, tc_error *err)
{
  if (seqs == 0 || tokens == 0 || seqs > bufs->max_seqs || tokens > bufs->max_tokens)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "block: %u sequences of %u tokens, the buffers hold %u of %u",
                        seqs, tokens, bufs->max_seqs, bufs->max_tokens);
  return TC_OK;
}

/* y = x wᵀ + bias (+ residual, which may be y), act applied before the residual. */
static tc_status linear_dt(tc_cmd *cmd, tc_buffer *x, tc_dtype x_dtype, const tc_weight *w, tc_buffer *bias,
                           tc_buffer *residual, tc_buffer *y, tc_dtype y_dtype, uint32_t M, uint32_t N, uint32_t K,
                           tc_act act, const char *label, tc_error *err)
{
  return tc_op_matmul(cmd, &(tc_matmul){ .x = x, .w = w->buf, .w_dtype = w->dtype, .bias = bias,
                                         .residual = residual, .y = y, .M = M, .N = N, .K = K, .act = act,
                                         .w_panels = w->panels, .x_dtype = x_dtype, .y_dtype = y_dtype },
                      label, err);
}

/* Multi-head attention of each sequence's rows of bufs->qkv into bufs->attn;
 * value_value attends V to itself (q = k = v = the value columns). One
 * sequence is read in place; several go through seq_qkv and seq_attn one at
 * a time (the attention kernel takes a single sequence). */
static tc_status record_attention(tc_cmd *cmd, const tc_block_config *c, const tc_block_buffers *bufs,
                                  uint32_t seqs, uint32_t tokens, int value_value, tc_error *err)
{
  const uint32_t W = c->width;
  const size_t f = bufs->act_dtype == TC_F16 ? 2 : sizeof(float);
  tc_buffer *in = seqs == 1 ? bufs->qkv : bufs->seq_qkv, *out = seqs == 1 ? bufs->attn : bufs->seq_attn;
  tc_slice q = { in, 0, 3 * W }, k = { in, W, 3 * W }, v = { in, 2 * W, 3 * W };
  if (value_value)
    q = k = v;
  tc_attention at = {
    .q = q, .k = k, .v = v, .out = out, .tokens = tokens, .heads = c->heads, .head_dim = c->head_dim,
    .scale = 1.0f / sqrtf((float)c->head_dim), .causal = c->causal,
    .qkv_dtype = bufs->act_dtype, .out_dtype = bufs->act_dtype,
  };
  const char *label = value_value ? "attention v-v" : "attention";
  if (seqs == 1)
    return tc_op_attention(cmd, &at, label, err);
  tc_status st = TC_OK;
  for (uint32_t s = 0; st == TC_OK && s < seqs; s++) {
    st = tc_cmd_copy(cmd, bufs->qkv, (size_t)s * tokens * 3 * W * f, bufs->seq_qkv, 0, (size_t)tokens * 3 * W * f,
                     err);
    if (st == TC_OK)
      st = tc_op_attention(cmd, &at, label, err);
    if (st == TC_OK)
      st = tc_cmd_copy(cmd, bufs->seq_attn, 0, bufs->attn, (size_t)s * tokens * W * f, (size_t)tokens * W * f, err);
  }
  return st;
}

tc_status tc_block_record(tc_cmd *cmd, const tc_block_stack *s, int layer, const tc_block_buffers *bufs,
                          uint32_t seqs, uint32_t tokens, tc_error *err)
{
  const tc_block *b = &s->layer[layer];
  const tc_block_config *c = &s->config;
  const uint32_t rows = seqs * tokens, W = c->width;
  tc_status st = check_rows(bufs, seqs, tokens, err);
  const tc_dtype a = bufs->act_dtype; /* of h, qkv, attn, mlp; the residual stream x stays fp32 */
  if (st == TC_OK)
    st = tc_op_layernorm_to(cmd, bufs->x, b->ln1_w, b->ln1_b, bufs->h, a, rows, W, c->ln_eps, "ln_1", err);
  if (st == TC_OK)
    st = linear_dt(cmd, bufs->h, a, &b->qkv, b->qkv_b, NULL, bufs->qkv, a, rows, 3 * W, W, TC_ACT_NONE, "qkv", err);
  if (st == TC_OK)
    st = record_attention(cmd, c, bufs, seqs, tokens, 0, err);
  if (st == TC_OK)
    st = linear_dt(cmd, bufs->attn, a, &b->out, b->out_b, bufs->x, bufs->x, TC_F32, rows, W, W, TC_ACT_NONE,
                   "attention out", err);
  if (st == TC_OK)
    st = tc_op_layernorm_to(cmd, bufs->x, b->ln2_w, b->ln2_b, bufs->h, a, rows, W, c->ln_eps, "ln_2", err);
  if (st == TC_OK)
    st = linear_dt(cmd, bufs->h, a, &b->fc, b->fc_b, NULL, bufs->mlp, a, rows, c->mlp_dim, W, c->act, "mlp fc", err);
  if (st == TC_OK)
    st = linear_dt(cmd, bufs->mlp, a, &b->proj, b->proj_b, bufs->x, bufs->x, TC_F32, rows, W, c->mlp_dim,
                   TC_ACT_NONE, "mlp proj", err);
  if (st != TC_OK)
    tc_error_prefix(err, "layer %d", layer + 1);
  return st;
}

tc_status tc_block_record_vv(tc_cmd *cmd, const tc_block_stack *s, int layer, const tc_block_buffers *bufs,
                             tc_buffer *y, uint32_t seqs, uint32_t tokens, tc_error *err)
{
  const tc_block *b = &s->layer[layer];
  const uint32_t rows = seqs * tokens, W = s->config.width;
  tc_status st = check_rows(bufs, seqs, tokens, err);
  if (st == TC_OK)
    st = record_attention(cmd, &s->config, bufs, seqs, tokens, 1, err);
  if (st == TC_OK)
    st = linear_dt(cmd, bufs->attn, bufs->act_dtype, &b->out, b->out_b, y, y, TC_F32, rows, W, W, TC_ACT_NONE,
                   "attention out v-v", err);
  if (st != TC_OK)
    tc_error_prefix(err, "layer %d v-v", layer + 1);
  return st;
}
