/* The pre-LN residual block and the weights as the device uses them, shared
 * by the image and the text references: see tc_ref_block.h. */
#include "tc_ref_block.h"

#include <math.h>
#include <stdlib.h>

#include "tc_ref.h"

tc_status tc_ref_weight(const tc_ref_model *m, int role, int layer, int matrix, float **out, tc_error *err)
{
  size_t n = tc_clip_tower_role_numel(m->tower, role);
  float *w = malloc(n * sizeof *w);
  *out = NULL;
  if (!w)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  int f16 = matrix && tc_clip_tower_matrix_dtype(m->tower, role, layer, m->weights) == TC_F16;
  tc_status st;
  if (f16) {
    uint16_t *h = malloc(n * sizeof *h);
    st = h ? tc_clip_tower_get_f16(m->tower, role, layer, h, n, err)
           : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; st == TC_OK && i < n; i++)
      w[i] = tc_f16_to_f32(h[i]);
    free(h);
  } else {
    st = tc_clip_tower_get_f32(m->tower, role, layer, w, n, err);
  }
  if (st != TC_OK)
    free(w);
  else
    *out = w;
  return st;
}

static int is_matrix(int k)
{
  return k == TC_BLOCK_QKV_WEIGHT || k == TC_BLOCK_ATTN_OUT_WEIGHT || k == TC_BLOCK_MLP_FC_WEIGHT ||
         k == TC_BLOCK_MLP_PROJ_WEIGHT;
}

tc_status tc_ref_block(const tc_ref_model *m, int layer, const tc_ref_block_dims *dims, float *x, float *vv,
                       tc_error *err)
{
  const size_t T = dims->tokens, W = dims->width, M = dims->mlp_dim, H = dims->heads, d = dims->head_dim;
  const float scale = 1.0f / sqrtf((float)d);
  float *w[TC_BLOCK_ROLE_COUNT] = { 0 };
  float *h = malloc(T * W * sizeof(float)), *qkv = malloc(T * 3 * W * sizeof(float));
  float *attn = malloc(T * W * sizeof(float)), *mlp = malloc(T * M * sizeof(float));
  tc_status st = h && qkv && attn && mlp ? TC_OK : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int k = 0; st == TC_OK && k < TC_BLOCK_ROLE_COUNT; k++)
    st = tc_ref_weight(m, tc_clip_tower_block_role(m->tower, (tc_clip_block_role)k), layer, is_matrix(k), &w[k], err);
  if (st == TC_OK) {
    tc_ref_layernorm(x, w[TC_BLOCK_LN_1_WEIGHT], w[TC_BLOCK_LN_1_BIAS], h, T, W, dims->ln_eps);
    tc_ref_matmul(h, w[TC_BLOCK_QKV_WEIGHT], w[TC_BLOCK_QKV_BIAS], NULL, qkv, T, 3 * W, W, TC_ACT_NONE);
    tc_ref_attention(qkv, 3 * W, qkv + W, 3 * W, qkv + 2 * W, 3 * W, attn, T, H, d, scale, dims->causal);
    tc_ref_matmul(attn, w[TC_BLOCK_ATTN_OUT_WEIGHT], w[TC_BLOCK_ATTN_OUT_BIAS], x, x, T, W, W, TC_ACT_NONE);
    if (vv) {
      const float *v = qkv + 2 * W;
      tc_ref_attention(v, 3 * W, v, 3 * W, v, 3 * W, attn, T, H, d, scale, dims->causal);
      tc_ref_matmul(attn, w[TC_BLOCK_ATTN_OUT_WEIGHT], w[TC_BLOCK_ATTN_OUT_BIAS], vv, vv, T, W, W, TC_ACT_NONE);
    }
    tc_ref_layernorm(x, w[TC_BLOCK_LN_2_WEIGHT], w[TC_BLOCK_LN_2_BIAS], h, T, W, dims->ln_eps);
    tc_ref_matmul(h, w[TC_BLOCK_MLP_FC_WEIGHT], w[TC_BLOCK_MLP_FC_BIAS], NULL, mlp, T, M, W, dims->act);
    tc_ref_matmul(mlp, w[TC_BLOCK_MLP_PROJ_WEIGHT], w[TC_BLOCK_MLP_PROJ_BIAS], x, x, T, W, M, TC_ACT_NONE);
  }
  for (int k = 0; k < TC_BLOCK_ROLE_COUNT; k++)
    free(w[k]);
  free(h), free(qkv), free(attn), free(mlp);
  return st;
}
