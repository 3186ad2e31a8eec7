#include "tc_ref_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc_ref.h"

static tc_status get_role(const tc_clip_text *m, tc_weight_precision wp, tc_text_role role, int layer, int matrix,
                          float **out, tc_error *err)
{
  size_t n = tc_clip_text_role_numel(m, role);
  float *w = malloc(n * sizeof *w);
  *out = NULL;
  if (!w)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  int f16 = matrix && (wp == TC_WEIGHTS_F16 ||
                       (wp == TC_WEIGHTS_AS_STORED && tc_clip_text_role_dtype(m, role, layer) == TC_ST_F16));
  tc_status st;
  if (f16) {
    uint16_t *h = malloc(n * sizeof *h);
    st = h ? tc_clip_text_get_f16(m, role, layer, h, n, err)
           : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; st == TC_OK && i < n; i++)
      w[i] = tc_f16_to_f32(h[i]);
    free(h);
  } else {
    st = tc_clip_text_get_f32(m, role, layer, w, n, err);
  }
  if (st != TC_OK)
    free(w);
  else
    *out = w;
  return st;
}

#define GET(var, role, layer, matrix)                                      \
  do {                                                                     \
    if ((st = get_role(m, wp, role, layer, matrix, &var, err)) != TC_OK)   \
      goto done;                                                           \
  } while (0)

tc_status tc_ref_text_encoder_run(const tc_clip_text *m, tc_weight_precision wp, const int32_t *ids, uint32_t n,
                                  uint32_t context, float *out, tc_error *err)
{
  const tc_clip_text_config *c = tc_clip_text_get_config(m);
  if (context < 1 || context > (uint32_t)c->context)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%u tokens per prompt, the text model's context is %d", context,
                        c->context);
  const size_t T = context, W = (size_t)c->width, M = (size_t)c->mlp_dim, H = (size_t)c->heads;
  const size_t d = (size_t)c->head_dim, E = (size_t)c->embed_dim;
  float *x = malloc(T * W * sizeof(float)), *h = malloc(T * W * sizeof(float));
  float *qkv = malloc(T * 3 * W * sizeof(float)), *attn = malloc(T * W * sizeof(float));
  float *mlp = malloc(T * M * sizeof(float)), *pos = malloc((size_t)c->context * W * sizeof(float));
  float *w = NULL, *b = NULL, *w2 = NULL, *b2 = NULL;
  tc_status st = TC_OK;
  if (!x || !h || !qkv || !attn || !mlp || !pos) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    goto done;
  }
  if ((st = tc_clip_text_get_f32(m, TC_TEXT_POS_EMBED, 0, pos, (size_t)c->context * W, err)) != TC_OK)
    goto done;
  for (uint32_t p = 0; p < n; p++) {
    const int32_t *row = ids + (size_t)p * context;
    if ((st = tc_clip_text_token_rows(m, row, T, x, err)) != TC_OK)
      goto done;
    tc_ref_add(x, pos, x, T * W);
    for (int l = 0; l < c->layers; l++) {
      GET(w, TC_TEXT_LN_1_WEIGHT, l, 0);
      GET(b, TC_TEXT_LN_1_BIAS, l, 0);
      tc_ref_layernorm(x, w, b, h, T, W, c->ln_eps);
      free(w), free(b), w = b = NULL;
      GET(w, TC_TEXT_QKV_WEIGHT, l, 1);
      GET(b, TC_TEXT_QKV_BIAS, l, 0);
      tc_ref_matmul(h, w, b, NULL, qkv, T, 3 * W, W, TC_ACT_NONE);
      free(w), free(b), w = b = NULL;
      tc_ref_attention(qkv, 3 * W, qkv + W, 3 * W, qkv + 2 * W, 3 * W, attn, T, H, d, 1.0f / sqrtf((float)d), 1);
      GET(w, TC_TEXT_ATTN_OUT_WEIGHT, l, 1);
      GET(b, TC_TEXT_ATTN_OUT_BIAS, l, 0);
      tc_ref_matmul(attn, w, b, x, x, T, W, W, TC_ACT_NONE);
      free(w), free(b), w = b = NULL;
      GET(w, TC_TEXT_LN_2_WEIGHT, l, 0);
      GET(b, TC_TEXT_LN_2_BIAS, l, 0);
      tc_ref_layernorm(x, w, b, h, T, W, c->ln_eps);
      free(w), free(b), w = b = NULL;
      GET(w, TC_TEXT_MLP_FC_WEIGHT, l, 1);
      GET(b, TC_TEXT_MLP_FC_BIAS, l, 0);
      GET(w2, TC_TEXT_MLP_PROJ_WEIGHT, l, 1);
      GET(b2, TC_TEXT_MLP_PROJ_BIAS, l, 0);
      tc_ref_matmul(h, w, b, NULL, mlp, T, M, W, c->act);
      tc_ref_matmul(mlp, w2, b2, x, x, T, W, M, TC_ACT_NONE);
      free(w), free(b), free(w2), free(b2), w = b = w2 = b2 = NULL;
    }
    size_t eot = 0; /* the first largest id: torch.argmax */
    for (size_t t = 1; t < T; t++)
      if (row[t] > row[eot])
        eot = t;
    GET(w, TC_TEXT_LN_FINAL_WEIGHT, 0, 0);
    GET(b, TC_TEXT_LN_FINAL_BIAS, 0, 0);
    GET(w2, TC_TEXT_PROJ, 0, 1);
    tc_ref_layernorm(x + eot * W, w, b, h, 1, W, c->ln_eps);
    tc_ref_matmul(h, w2, NULL, NULL, out + (size_t)p * E, 1, E, W, TC_ACT_NONE);
    free(w), free(b), free(w2), w = b = w2 = NULL;
  }
done:
  free(w), free(b), free(w2), free(b2);
  free(x), free(h), free(qkv), free(attn), free(mlp), free(pos);
  return st;
}
