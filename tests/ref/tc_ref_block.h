/* What the plain-C references of the image encoder (tc_ref_encoder.c) and
 * the text encoder (tc_ref_text.c) share (internal).
 *
 * Both CLIP towers run the same pre-LN residual block (layer norm, fused
 * q/k/v, multi-head attention, out projection, layer norm, MLP, each with
 * its residual) with the same per-layer roles in the same order, and both
 * references use the weights the device would: matrices rounded through
 * fp16 where the device keeps them in fp16. This holds that once; the
 * embeddings before the blocks and the pooling and projection after them
 * differ and stay in each reference. The models are reached through their
 * tc_clip_tower, where a block's roles have the same order in both. */
#ifndef TC_REF_BLOCK_H
#define TC_REF_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "tc_clip_tower.h"

/* A loaded model, as the references read it. */
typedef struct tc_ref_model {
  const tc_clip_tower *tower;
  tc_weight_precision weights;
} tc_ref_model;

typedef struct tc_ref_block_dims {
  size_t tokens, width, mlp_dim, heads, head_dim;
  float ln_eps;
  tc_act act;
  int causal; /* the text tower's mask */
} tc_ref_block_dims;

/* The role as fp32 into a new malloc'ed *out (NULL on error); a matrix is
 * rounded through fp16 where the device keeps it in fp16. */
tc_status tc_ref_weight(const tc_ref_model *m, int role, int layer, int matrix, float **out, tc_error *err);

/* tc_ref_weight of a global role into var, or to `done` with st set. */
#define TC_REF_GET(m, var, role, matrix)                                     \
  do {                                                                      \
    if ((st = tc_ref_weight(m, role, 0, matrix, &var, err)) != TC_OK)       \
      goto done;                                                            \
  } while (0)

/* x [tokens, width] through block `layer`, in place. vv, if not NULL, is
 * the image encoder's value-value stream [tokens, width]: it gets the
 * block's v-v attention through the same out projection, and no MLP. */
tc_status tc_ref_block(const tc_ref_model *m, int layer, const tc_ref_block_dims *dims, float *x, float *vv,
                       tc_error *err);

#endif
