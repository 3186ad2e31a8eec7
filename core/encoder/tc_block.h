/* One pre-LN CLIP residual block on the device, for both towers (internal).
 *
 *   x += out_proj(multi-head attention(ln_1(x)))   (causal in the text tower)
 *   x += c_proj(act(c_fc(ln_2(x))))
 *
 * tc_block_stack holds every layer's weights, uploaded once in the layouts
 * the matmul kernels want (tc_weights.h). tc_block_record appends one layer
 * to a command sequence for `seqs` sequences of `tokens` rows each, stored one
 * after another (rows = seqs * tokens): the row-wise ops (layer norms,
 * matmuls) run over all rows in one dispatch each, attention runs within
 * each sequence. The image encoder runs one sequence (a frame), the text
 * encoder a batch of prompts; a batch of frames is seqs > 1 as well.
 *
 * The image encoder's value-value stream (DESIGN.md) sits on top:
 * tc_block_record_vv reuses the q, k, v that tc_block_record left in the
 * buffers, with the same out projection. */
#ifndef TC_BLOCK_H
#define TC_BLOCK_H

#include "tc_weights.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_block_config {
  uint32_t width, heads, head_dim, mlp_dim;
  float ln_eps;
  tc_act act;  /* of the MLP */
  int causal;  /* attention masks later tokens (the text tower) */
} tc_block_config;

/* The shape from a tower's configuration; head_dim = width / heads. */
tc_block_config tc_block_config_make(int width, int heads, int mlp_dim, float ln_eps, tc_act act, int causal);

/* One layer's weights on the device. */
typedef struct tc_block {
  tc_buffer *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  tc_weight qkv, out, fc, proj; /* [3W, W], [W, W], [mlp, W], [W, mlp] */
  tc_buffer *qkv_b, *out_b, *fc_b, *proj_b;
} tc_block;

/* Every layer of a tower. */
typedef struct tc_block_stack {
  tc_block_config config;
  int layers;
  tc_block *layer; /* [layers] */
} tc_block_stack;

/* Checks the shape against what the kernels need (vec4 loads) and uploads
 * the tower's tw->layers blocks. On error nothing is left to release. */
tc_status tc_block_stack_upload(tc_context *ctx, const tc_clip_tower *tw, const tc_block_config *c,
                                tc_weight_precision wp, tc_block_stack *out, tc_error *err);
/* Destroys every buffer; a zeroed stack is fine. */
void tc_block_stack_release(tc_block_stack *s);

/* The activations a block works in, for up to max_seqs x max_tokens rows.
 * The encoders use x and h for their own stages too. */
typedef struct tc_block_buffers {
  tc_buffer *x;    /* [rows, W] the residual stream, updated in place */
  tc_buffer *h;    /* [rows, W] layer-norm output */
  tc_buffer *qkv;  /* [rows, 3W]: after tc_block_record, the layer's q, k, v of ln_1(x) */
  tc_buffer *attn; /* [rows, W] */
  tc_buffer *mlp;  /* [rows, mlp] */
  /* one sequence's q, k, v and attention (max_seqs > 1 only): the attention
   * kernel takes one sequence, so each is copied out and back */
  tc_buffer *seq_qkv, *seq_attn;
  uint32_t max_seqs, max_tokens;
  /* TC_F16 (gpu family only): h, qkv, attn and mlp held as fp16, the inputs
   * of the matmuls and attention (sums stay fp32); x stays fp32. Set after
   * tc_block_buffers_create; 0 = fp32. */
  tc_dtype act_dtype;
} tc_block_buffers;

tc_status tc_block_buffers_create(tc_context *ctx, const tc_block_config *c, uint32_t max_seqs, uint32_t max_tokens,
                                  tc_block_buffers *out, tc_error *err);
/* A zeroed tc_block_buffers is fine. */
void tc_block_buffers_destroy(tc_block_buffers *bufs);

/* Appends layer `layer` (from 0) over bufs->x: seqs sequences of `tokens`
 * rows. Errors say the layer (from 1). */
tc_status tc_block_record(tc_cmd *cmd, const tc_block_stack *s, int layer, const tc_block_buffers *bufs,
                          uint32_t seqs, uint32_t tokens, tc_error *err);

/* The value-value step after tc_block_record of the same layer and rows:
 *   y += out_proj(softmax(V Vᵀ scale) V)   per head, V = the value columns
 * of bufs->qkv, masked as the block's attention. y is [rows, W]. */
tc_status tc_block_record_vv(tc_cmd *cmd, const tc_block_stack *s, int layer, const tc_block_buffers *bufs,
                             tc_buffer *y, uint32_t seqs, uint32_t tokens, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
