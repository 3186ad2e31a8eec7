/* What the plain-C references of the image encoder (tc_ref_encoder.c) and
 * the text encoder (tc_ref_text.c) share (internal).
 *
 * Both CLIP towers run the same pre-LN residual block (layer norm, fused
 * q/k/v, multi-head attention, out projection, layer norm, MLP, each with
 * its residual) with the same per-layer roles in the same order, and both
 * references use the weights the device would: matrices rounded through
 * fp16 where the device keeps them in fp16. This holds that once; the
 * embeddings before the blocks and the pooling and projection after them
 * differ and stay in each reference. The models are reached through
 * tc_ref_model, since their role enums differ. */
#ifndef TC_REF_BLOCK_H
#define TC_REF_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "tc_encoder.h"

/* A loaded model, as the references read it. */
typedef struct tc_ref_model {
  const void *model;
  tc_weight_precision weights;
  int block_first; /* the ln_1 weight role; the block's roles follow in tc_ref_block_role's order */
  size_t (*numel)(const void *model, int role);
  tc_st_dtype (*dtype)(const void *model, int role, int layer);
  tc_status (*get_f32)(const void *model, int role, int layer, float *dst, size_t count, tc_error *err);
  tc_status (*get_f16)(const void *model, int role, int layer, uint16_t *dst, size_t count, tc_error *err);
} tc_ref_model;

/* A block's roles, from block_first: the order of tc_clip_role and tc_text_role. */
typedef enum tc_ref_block_role {
  TC_REF_LN_1_WEIGHT,
  TC_REF_LN_1_BIAS,
  TC_REF_QKV_WEIGHT,
  TC_REF_QKV_BIAS,
  TC_REF_ATTN_OUT_WEIGHT,
  TC_REF_ATTN_OUT_BIAS,
  TC_REF_LN_2_WEIGHT,
  TC_REF_LN_2_BIAS,
  TC_REF_MLP_FC_WEIGHT,
  TC_REF_MLP_FC_BIAS,
  TC_REF_MLP_PROJ_WEIGHT,
  TC_REF_MLP_PROJ_BIAS,
  TC_REF_BLOCK_ROLES
} tc_ref_block_role;

typedef struct tc_ref_block_dims {
  size_t tokens, width, mlp_dim, heads, head_dim;
  float ln_eps;
  tc_act act;
  int causal; /* the text tower's mask */
} tc_ref_block_dims;

/* The role as fp32 into a new malloc'ed *out (NULL on error); a matrix is
 * rounded through fp16 where the device keeps it in fp16. */
tc_status tc_ref_weight(const tc_ref_model *m, int role, int layer, int matrix, float **out, tc_error *err);

/* x [tokens, width] through block `layer`, in place. vv, if not NULL, is
 * the image encoder's value-value stream [tokens, width]: it gets the
 * block's v-v attention through the same out projection, and no MLP. */
tc_status tc_ref_block(const tc_ref_model *m, int layer, const tc_ref_block_dims *dims, float *x, float *vv,
                       tc_error *err);

#endif
