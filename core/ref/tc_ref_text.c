#include "tc_ref_text.h"

#include <stdlib.h>

#include "tc_ref.h"
#include "tc_ref_block.h"

_Static_assert(TC_TEXT_LN_1_WEIGHT + TC_REF_QKV_WEIGHT == TC_TEXT_QKV_WEIGHT &&
                 TC_TEXT_LN_1_WEIGHT + TC_REF_MLP_PROJ_BIAS == TC_TEXT_MLP_PROJ_BIAS,
               "the text block's roles in tc_ref_block_role's order");

static size_t numel(const void *m, int role) { return tc_clip_text_role_numel(m, (tc_text_role)role); }
static tc_st_dtype dtype(const void *m, int role, int layer)
{
  return tc_clip_text_role_dtype(m, (tc_text_role)role, layer);
}
static tc_status get_f32(const void *m, int role, int layer, float *dst, size_t count, tc_error *err)
{
  return tc_clip_text_get_f32(m, (tc_text_role)role, layer, dst, count, err);
}
static tc_status get_f16(const void *m, int role, int layer, uint16_t *dst, size_t count, tc_error *err)
{
  return tc_clip_text_get_f16(m, (tc_text_role)role, layer, dst, count, err);
}

#define GET(var, role, matrix)                                              \
  do {                                                                      \
    if ((st = tc_ref_weight(&rm, role, 0, matrix, &var, err)) != TC_OK)     \
      goto done;                                                            \
  } while (0)

tc_status tc_ref_text_encoder_run(const tc_clip_text *m, tc_weight_precision wp, const int32_t *ids, uint32_t n,
                                  uint32_t context, float *out, tc_error *err)
{
  const tc_clip_text_config *c = tc_clip_text_get_config(m);
  if (context < 1 || context > (uint32_t)c->context)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%u tokens per prompt, the text model's context is %d", context,
                        c->context);
  const tc_ref_model rm = { m, wp, TC_TEXT_LN_1_WEIGHT, numel, dtype, get_f32, get_f16 };
  const tc_ref_block_dims dims = { context, (size_t)c->width, (size_t)c->mlp_dim, (size_t)c->heads,
                                   (size_t)c->head_dim, c->ln_eps, c->act, 1 };
  const size_t T = context, W = (size_t)c->width, E = (size_t)c->embed_dim;
  float *x = malloc(T * W * sizeof(float)), *h = malloc(W * sizeof(float));
  float *pos = malloc((size_t)c->context * W * sizeof(float));
  float *w = NULL, *b = NULL, *proj = NULL;
  tc_status st = TC_OK;
  if (!x || !h || !pos) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    goto done;
  }
  if ((st = tc_clip_text_get_f32(m, TC_TEXT_POS_EMBED, 0, pos, (size_t)c->context * W, err)) != TC_OK)
    goto done;
  GET(w, TC_TEXT_LN_FINAL_WEIGHT, 0);
  GET(b, TC_TEXT_LN_FINAL_BIAS, 0);
  GET(proj, TC_TEXT_PROJ, 1);
  for (uint32_t p = 0; p < n; p++) {
    const int32_t *row = ids + (size_t)p * context;
    if ((st = tc_clip_text_token_rows(m, row, T, x, err)) != TC_OK)
      goto done;
    tc_ref_add(x, pos, x, T * W);
    for (int l = 0; l < c->layers; l++)
      if ((st = tc_ref_block(&rm, l, &dims, x, NULL, err)) != TC_OK)
        goto done;
    size_t eot = 0; /* the first largest id: torch.argmax */
    for (size_t t = 1; t < T; t++)
      if (row[t] > row[eot])
        eot = t;
    tc_ref_layernorm(x + eot * W, w, b, h, 1, W, c->ln_eps);
    tc_ref_matmul(h, proj, NULL, NULL, out + (size_t)p * E, 1, E, W, TC_ACT_NONE);
  }
done:
  free(w), free(b), free(proj);
  free(x), free(h), free(pos);
  return st;
}
