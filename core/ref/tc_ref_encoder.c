#include "tc_ref_encoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc_ref.h"

/* A role as fp32, rounded through fp16 when the device keeps it in fp16. */
static tc_status get_role(const tc_clip_vision *m, const tc_encoder_options *o, tc_clip_role role, int layer,
                          int matrix, float **out, tc_error *err)
{
  size_t n = tc_clip_vision_role_numel(m, role);
  float *w = malloc(n * sizeof *w);
  *out = NULL;
  if (!w)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  int f16 = matrix && (o->weights == TC_WEIGHTS_F16 ||
                       (o->weights == TC_WEIGHTS_AS_STORED && tc_clip_vision_role_dtype(m, role, layer) == TC_ST_F16));
  tc_status st;
  if (f16) {
    uint16_t *h = malloc(n * sizeof *h);
    st = h ? tc_clip_vision_get_f16(m, role, layer, h, n, err)
           : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; st == TC_OK && i < n; i++)
      w[i] = tc_f16_to_f32(h[i]);
    free(h);
  } else {
    st = tc_clip_vision_get_f32(m, role, layer, w, n, err);
  }
  if (st != TC_OK)
    free(w);
  else
    *out = w;
  return st;
}

#define GET(var, role, layer, matrix)                                         \
  do {                                                                        \
    if ((st = get_role(m, o, role, layer, matrix, &var, err)) != TC_OK)       \
      goto done;                                                              \
  } while (0)

tc_status tc_ref_encoder_run(const tc_clip_vision *m, const tc_encoder_options *opts, const float *input,
                             float *tokens, tc_error *err)
{
  tc_encoder_options defaults;
  tc_encoder_options_init(&defaults);
  const tc_encoder_options *o = opts ? opts : &defaults;
  const tc_clip_vision_config *c = tc_clip_vision_get_config(m);
  tc_status st = tc_encoder_options_check(o, c, err);
  if (st != TC_OK)
    return st;
  const size_t S = o->input_size ? o->input_size : (size_t)c->image_size, p = (size_t)c->patch_size;
  const size_t G = S / p, N = G * G, T = N + 1, W = (size_t)c->width, E = (size_t)c->embed_dim;
  const size_t M = (size_t)c->mlp_dim, H = (size_t)c->heads, d = (size_t)c->head_dim;

  float *patches = malloc(N * 3 * p * p * sizeof(float)), *x = malloc(T * W * sizeof(float));
  float *y = o->vv_start ? malloc(T * W * sizeof(float)) : NULL, *h = malloc(T * W * sizeof(float));
  float *qkv = malloc(T * 3 * W * sizeof(float)), *attn = malloc(T * W * sizeof(float));
  float *mlp = malloc(T * M * sizeof(float)), *pos = malloc(T * W * sizeof(float));
  float *w = NULL, *b = NULL, *w2 = NULL, *b2 = NULL;
  if (!patches || !x || (o->vv_start && !y) || !h || !qkv || !attn || !mlp || !pos) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    goto done;
  }

  /* patch embedding: im2col then matmul with the conv weight */
  for (size_t r = 0; r < N; r++)
    for (size_t ch = 0; ch < 3; ch++)
      for (size_t ky = 0; ky < p; ky++)
        for (size_t kx = 0; kx < p; kx++)
          patches[r * 3 * p * p + (ch * p + ky) * p + kx] =
            input[(ch * S + (r / G) * p + ky) * S + (r % G) * p + kx];
  GET(w, TC_CLIP_PATCH_EMBED, 0, 1);
  tc_ref_matmul(patches, w, NULL, NULL, x + W, N, W, 3 * p * p, TC_ACT_NONE);
  free(w), w = NULL;
  GET(w, TC_CLIP_CLASS_EMBED, 0, 0);
  memcpy(x, w, W * sizeof(float));
  free(w), w = NULL;
  if ((st = tc_clip_vision_pos_embed(m, (int)G, (int)G, o->pos_interp, pos, T * W, err)) != TC_OK)
    goto done;
  tc_ref_add(x, pos, x, T * W);
  GET(w, TC_CLIP_LN_PRE_WEIGHT, 0, 0);
  GET(b, TC_CLIP_LN_PRE_BIAS, 0, 0);
  tc_ref_layernorm(x, w, b, x, T, W, c->ln_eps);
  free(w), free(b), w = b = NULL;

  for (int l = 0; l < c->layers; l++) {
    int vv = o->vv_start && (uint32_t)l + 1 >= o->vv_start;
    if (vv && (uint32_t)l + 1 == o->vv_start)
      memcpy(y, x, T * W * sizeof(float));
    GET(w, TC_CLIP_LN_1_WEIGHT, l, 0);
    GET(b, TC_CLIP_LN_1_BIAS, l, 0);
    tc_ref_layernorm(x, w, b, h, T, W, c->ln_eps);
    free(w), free(b), w = b = NULL;
    GET(w, TC_CLIP_QKV_WEIGHT, l, 1);
    GET(b, TC_CLIP_QKV_BIAS, l, 0);
    tc_ref_matmul(h, w, b, NULL, qkv, T, 3 * W, W, TC_ACT_NONE);
    free(w), free(b), w = b = NULL;
    GET(w, TC_CLIP_ATTN_OUT_WEIGHT, l, 1);
    GET(b, TC_CLIP_ATTN_OUT_BIAS, l, 0);
    tc_ref_attention(qkv, 3 * W, qkv + W, 3 * W, qkv + 2 * W, 3 * W, attn, T, H, d, 1.0f / sqrtf((float)d), 0);
    tc_ref_matmul(attn, w, b, x, x, T, W, W, TC_ACT_NONE);
    if (vv) {
      const float *v = qkv + 2 * W;
      tc_ref_attention(v, 3 * W, v, 3 * W, v, 3 * W, attn, T, H, d, 1.0f / sqrtf((float)d), 0);
      tc_ref_matmul(attn, w, b, y, y, T, W, W, TC_ACT_NONE);
    }
    free(w), free(b), w = b = NULL;
    GET(w, TC_CLIP_LN_2_WEIGHT, l, 0);
    GET(b, TC_CLIP_LN_2_BIAS, l, 0);
    tc_ref_layernorm(x, w, b, h, T, W, c->ln_eps);
    free(w), free(b), w = b = NULL;
    GET(w, TC_CLIP_MLP_FC_WEIGHT, l, 1);
    GET(b, TC_CLIP_MLP_FC_BIAS, l, 0);
    GET(w2, TC_CLIP_MLP_PROJ_WEIGHT, l, 1);
    GET(b2, TC_CLIP_MLP_PROJ_BIAS, l, 0);
    tc_ref_matmul(h, w, b, NULL, mlp, T, M, W, c->act);
    tc_ref_matmul(mlp, w2, b2, x, x, T, W, M, TC_ACT_NONE);
    free(w), free(b), free(w2), free(b2), w = b = w2 = b2 = NULL;
  }

  GET(w, TC_CLIP_LN_POST_WEIGHT, 0, 0);
  GET(b, TC_CLIP_LN_POST_BIAS, 0, 0);
  GET(w2, TC_CLIP_PROJ, 0, 1);
  tc_ref_layernorm(o->vv_start ? y : x, w, b, h, T, W, c->ln_eps);
  tc_ref_matmul(h, w2, NULL, NULL, tokens, T, E, W, TC_ACT_NONE);
  if (o->vv_start) { /* global token from the ordinary stream */
    tc_ref_layernorm(x, w, b, h, 1, W, c->ln_eps);
    tc_ref_matmul(h, w2, NULL, NULL, tokens, 1, E, W, TC_ACT_NONE);
  }
  st = TC_OK;
done:
  free(w), free(b), free(w2), free(b2);
  free(patches), free(x), free(y), free(h), free(qkv), free(attn), free(mlp), free(pos);
  return st;
}
