/* CLIP text-tower weights from a safetensors file (the same file as the
 * image tower), in the layouts the kernels want. Mirrors tc_clip_vision.h.
 *
 * Namings recognised (any leading prefix such as "model." allowed):
 *   Hugging Face   text_model.embeddings.token_embedding.weight [vocab, width],
 *                  text_model.embeddings.position_embedding.weight [context, width],
 *                  text_model.encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj,
 *                  layer_norm2, mlp.fc1, mlp.fc2}.*, text_model.final_layer_norm.*,
 *                  text_projection.weight [embed, width] (beside text_model.)
 *   open_clip /    token_embedding.weight, positional_embedding,
 *   OpenAI         transformer.resblocks.N.{ln_1, attn.in_proj_*, attn.out_proj.*,
 *                  ln_2, mlp.c_fc.*, mlp.c_proj.*}, ln_final.*,
 *                  text_projection [width, embed] (handed out transposed)
 * Configuration from shapes: width and vocabulary from the token embedding,
 * context from the positional embedding, layers from the count of blocks,
 * MLP and embed sizes from their weights; heads = width / 64 unless
 * __metadata__ "text_num_attention_heads" or the caller says otherwise;
 * layer-norm eps 1e-5; activation as tc_clip_vision chooses it (QuickGELU
 * unless __metadata__ hidden_act "gelu" or quick_gelu "false"). Every tensor
 * is found and checked (shape, F32/F16/BF16) when the file is opened. */
#ifndef TC_CLIP_TEXT_H
#define TC_CLIP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "tc_common.h"
#include "tc_error.h"
#include "tc_safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_clip_text_config {
  int width, layers, heads, head_dim, mlp_dim;
  int vocab;     /* rows of the token embedding */
  int context;   /* rows of the positional embedding (77 for CLIP) */
  int embed_dim; /* joint-space size */
  float ln_eps;
  tc_act act;
} tc_clip_text_config;

typedef struct tc_clip_text_options {
  tc_act act; /* TC_ACT_NONE: from __metadata__, else QuickGELU */
  int heads;  /* 0: from __metadata__ text_num_attention_heads, else width / 64 */
} tc_clip_text_options;

typedef enum tc_text_role {
  TC_TEXT_TOKEN_EMBED,     /* [vocab, width] */
  TC_TEXT_POS_EMBED,       /* [context, width] */
  TC_TEXT_LN_1_WEIGHT,     /* per layer [width] */
  TC_TEXT_LN_1_BIAS,
  TC_TEXT_QKV_WEIGHT,      /* per layer [3*width, width]: rows q, k, v */
  TC_TEXT_QKV_BIAS,        /* per layer [3*width] */
  TC_TEXT_ATTN_OUT_WEIGHT, /* per layer [width, width] */
  TC_TEXT_ATTN_OUT_BIAS,
  TC_TEXT_LN_2_WEIGHT,
  TC_TEXT_LN_2_BIAS,
  TC_TEXT_MLP_FC_WEIGHT,   /* per layer [mlp, width] */
  TC_TEXT_MLP_FC_BIAS,     /* per layer [mlp] */
  TC_TEXT_MLP_PROJ_WEIGHT, /* per layer [width, mlp] */
  TC_TEXT_MLP_PROJ_BIAS,
  TC_TEXT_LN_FINAL_WEIGHT, /* [width] */
  TC_TEXT_LN_FINAL_BIAS,
  TC_TEXT_PROJ,            /* [embed, width] (open_clip's [width, embed] transposed); no bias */
  TC_TEXT_ROLE_COUNT
} tc_text_role;

typedef struct tc_clip_text tc_clip_text;

tc_status tc_clip_text_open(const char *path, const tc_clip_text_options *options, tc_clip_text **out,
                            tc_error *err);
void tc_clip_text_close(tc_clip_text *ct);

const tc_clip_text_config *tc_clip_text_get_config(const tc_clip_text *ct);
tc_clip_naming tc_clip_text_naming(const tc_clip_text *ct);
const char *tc_clip_text_path(const tc_clip_text *ct);
const char *tc_text_role_name(tc_text_role role);
int tc_text_role_per_layer(tc_text_role role);
size_t tc_clip_text_role_numel(const tc_clip_text *ct, tc_text_role role);
tc_st_dtype tc_clip_text_role_dtype(const tc_clip_text *ct, tc_text_role role, int layer);

/* The role as fp32 / fp16 (as tc_clip_vision_get_f32 / _f16). */
tc_status tc_clip_text_get_f32(const tc_clip_text *ct, tc_text_role role, int layer, float *dst, size_t count,
                               tc_error *err);
tc_status tc_clip_text_get_f16(const tc_clip_text *ct, tc_text_role role, int layer, uint16_t *dst, size_t count,
                               tc_error *err);
/* Rows ids[0..n) of the token embedding as fp32 into dst [n, width], read
 * straight from the mapped file (the table itself is never copied whole).
 * An id outside [0, vocab) is an error naming it. */
tc_status tc_clip_text_token_rows(const tc_clip_text *ct, const int32_t *ids, size_t n, float *dst, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
