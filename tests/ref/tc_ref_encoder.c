#include "tc_ref_encoder.h"

#include <stdlib.h>
#include <string.h>

#include "tc_ref.h"
#include "tc_ref_block.h"

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
  const tc_ref_model rm = { tc_clip_vision_tower(m), o->weights };
  const tc_ref_block_dims dims = { T, W, (size_t)c->mlp_dim, (size_t)c->heads, (size_t)c->head_dim, c->ln_eps,
                                   c->act, 0 };

  uint32_t layers[TC_MAX_FEATURE_LAYERS], n = 0;
  while (n < TC_MAX_FEATURE_LAYERS && o->feature_layers[n])
    layers[n] = o->feature_layers[n], n++;
  if (n == 0)
    layers[n++] = (uint32_t)c->layers;

  float *patches = malloc(N * 3 * p * p * sizeof(float)), *x = malloc(T * W * sizeof(float));
  float *y = o->vv_start ? malloc(T * W * sizeof(float)) : NULL, *h = malloc(T * W * sizeof(float));
  float *pos = malloc(T * W * sizeof(float));
  float *w = NULL, *b = NULL, *w2 = NULL;
  if (!patches || !x || (o->vv_start && !y) || !h || !pos) {
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
  TC_REF_GET(&rm, w, TC_CLIP_PATCH_EMBED, 1);
  tc_ref_matmul(patches, w, NULL, NULL, x + W, N, W, 3 * p * p, TC_ACT_NONE);
  free(w), w = NULL;
  TC_REF_GET(&rm, w, TC_CLIP_CLASS_EMBED, 0);
  memcpy(x, w, W * sizeof(float));
  free(w), w = NULL;
  if ((st = tc_clip_vision_pos_embed(m, (int)G, (int)G, o->pos_interp, pos, T * W, err)) != TC_OK)
    goto done;
  tc_ref_add(x, pos, x, T * W);
  TC_REF_GET(&rm, w, TC_CLIP_LN_PRE_WEIGHT, 0);
  TC_REF_GET(&rm, b, TC_CLIP_LN_PRE_BIAS, 0);
  tc_ref_layernorm(x, w, b, x, T, W, c->ln_eps);
  free(w), free(b), w = b = NULL;

  TC_REF_GET(&rm, w, TC_CLIP_LN_POST_WEIGHT, 0);
  TC_REF_GET(&rm, b, TC_CLIP_LN_POST_BIAS, 0);
  TC_REF_GET(&rm, w2, TC_CLIP_PROJ, 1);
  for (uint32_t l = 1, f = 0; l <= (uint32_t)c->layers; l++) {
    int vv = o->vv_start && l >= o->vv_start;
    if (vv && l == o->vv_start)
      memcpy(y, x, T * W * sizeof(float));
    if ((st = tc_ref_block(&rm, (int)l - 1, &dims, x, vv ? y : NULL, err)) != TC_OK)
      goto done;
    if (f < n && layers[f] == l) { /* a feature layer: its stream's tokens through ln_post and proj */
      tc_ref_layernorm(vv ? y : x, w, b, h, T, W, c->ln_eps);
      tc_ref_matmul(h, w2, NULL, NULL, tokens + f++ * T * E, T, E, W, TC_ACT_NONE);
    }
  }
  /* the global token, row 0 of every block: x_L[CLS] through ln_post (or not) and proj */
  if (o->global_ln_post)
    tc_ref_layernorm(x, w, b, h, 1, W, c->ln_eps);
  for (uint32_t f = 0; f < n; f++)
    tc_ref_matmul(o->global_ln_post ? h : x, w2, NULL, NULL, tokens + f * T * E, 1, E, W, TC_ACT_NONE);
  st = TC_OK;
done:
  free(w), free(b), free(w2);
  free(patches), free(x), free(y), free(h), free(pos);
  return st;
}
