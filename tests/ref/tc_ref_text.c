#include "tc_ref_text.h"

#include <stdlib.h>

#include "tc_ref.h"
#include "tc_ref_block.h"

tc_status tc_ref_text_encoder_run(const tc_clip_text *m, tc_weight_precision wp, const int32_t *ids, uint32_t n,
                                  uint32_t context, float *out, tc_error *err)
{
  const tc_clip_text_config *c = tc_clip_text_get_config(m);
  if (context < 1 || context > (uint32_t)c->context)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%u tokens per prompt, the text model's context is %d", context,
                        c->context);
  const tc_ref_model rm = { tc_clip_text_tower(m), wp };
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
  TC_REF_GET(&rm, w, TC_TEXT_LN_FINAL_WEIGHT, 0);
  TC_REF_GET(&rm, b, TC_TEXT_LN_FINAL_BIAS, 0);
  TC_REF_GET(&rm, proj, TC_TEXT_PROJ, 1);
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
