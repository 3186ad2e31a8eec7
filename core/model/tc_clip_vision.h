/* CLIP ViT image-encoder weights from a safetensors file, in the layouts
 * the kernels want.
 *
 * Namings recognised (detected from the tensor names, any leading prefix
 * such as "model." allowed):
 *   Hugging Face   vision_model.embeddings.patch_embedding.weight,
 *                  vision_model.encoder.layers.N.self_attn.{q,k,v,out}_proj.*,
 *                  vision_model.pre_layrnorm.* (sic), post_layernorm.*,
 *                  visual_projection.weight [embed, width] (beside vision_model.)
 *   open_clip /    visual.conv1.weight, visual.transformer.resblocks.N.attn.
 *   OpenAI         in_proj_weight (fused q,k,v), ln_1, ln_2, mlp.c_fc, mlp.c_proj,
 *                  visual.ln_pre/ln_post, visual.proj [width, embed]; also the
 *                  visual module's own names without "visual."
 * Other tensors (a text tower, position_ids, logit_scale) are ignored.
 *
 * The configuration comes from shapes alone: width and patch size from the
 * patch embedding, layers from the count of blocks, grid (and the
 * pre-training image size) from the positional embedding, MLP and embed
 * sizes from their weights; heads = width / 64 unless __metadata__
 * "num_attention_heads" or the caller says otherwise; layer-norm eps 1e-5.
 * Activation: QuickGELU (OpenAI's weights) unless __metadata__ "hidden_act"
 * is "gelu" (or "quick_gelu"), or open_clip's "quick_gelu" is "false", or
 * the caller overrides it.
 *
 * Every tensor of every role is found and its shape and dtype (F32, F16 or
 * BF16) checked when the file is opened, so a missing tensor or a wrong
 * shape is reported there, naming the file and the tensor. The file stays
 * mapped; tensors are converted on request straight into the caller's
 * memory (which may be a mapped device buffer): one copy, no staging. */
#ifndef TC_CLIP_VISION_H
#define TC_CLIP_VISION_H

#include <stddef.h>
#include <stdint.h>

#include "tc_common.h"
#include "tc_error.h"
#include "tc_pos_embed.h"
#include "tc_safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tc_clip_vision_config {
  int width;      /* d_model */
  int layers;     /* residual blocks */
  int heads;      /* attention heads; head_dim = width / heads */
  int head_dim;
  int mlp_dim;    /* hidden size of the MLP (4 x width in CLIP) */
  int patch_size;
  int grid;       /* pre-training patch grid side: the positional embedding has 1 + grid^2 rows */
  int image_size; /* pre-training input size = grid x patch_size */
  int embed_dim;  /* joint-space size: the projection's output */
  float ln_eps;
  tc_act act;     /* MLP activation */
} tc_clip_vision_config;

typedef struct tc_clip_vision_options {
  tc_act act; /* TC_ACT_NONE: from __metadata__, else QuickGELU */
  int heads;  /* 0: from __metadata__, else width / 64 */
} tc_clip_vision_options;

/* A tensor role of the encoder. Global roles take layer 0; per-layer roles
 * a layer in [0, layers). Shapes as handed out ([rows, cols] or [n]): */
typedef enum tc_clip_role {
  TC_CLIP_PATCH_EMBED,     /* [width, 3*p*p], columns (c, ky, kx) row-major; no bias */
  TC_CLIP_CLASS_EMBED,     /* [width] */
  TC_CLIP_POS_EMBED,       /* [1 + grid^2, width] as stored (see tc_clip_vision_pos_embed) */
  TC_CLIP_LN_PRE_WEIGHT,   /* [width] */
  TC_CLIP_LN_PRE_BIAS,     /* [width] */
  TC_CLIP_LN_1_WEIGHT,     /* per layer [width] */
  TC_CLIP_LN_1_BIAS,       /* per layer [width] */
  TC_CLIP_QKV_WEIGHT,      /* per layer [3*width, width]: rows q, k, v (HF's three concatenated) */
  TC_CLIP_QKV_BIAS,        /* per layer [3*width] */
  TC_CLIP_ATTN_OUT_WEIGHT, /* per layer [width, width] */
  TC_CLIP_ATTN_OUT_BIAS,   /* per layer [width] */
  TC_CLIP_LN_2_WEIGHT,     /* per layer [width] */
  TC_CLIP_LN_2_BIAS,       /* per layer [width] */
  TC_CLIP_MLP_FC_WEIGHT,   /* per layer [mlp, width] */
  TC_CLIP_MLP_FC_BIAS,     /* per layer [mlp] */
  TC_CLIP_MLP_PROJ_WEIGHT, /* per layer [width, mlp] */
  TC_CLIP_MLP_PROJ_BIAS,   /* per layer [width] */
  TC_CLIP_LN_POST_WEIGHT,  /* [width] */
  TC_CLIP_LN_POST_BIAS,    /* [width] */
  TC_CLIP_PROJ,            /* [embed, width] (open_clip's [width, embed] transposed); no bias */
  TC_CLIP_ROLE_COUNT
} tc_clip_role;

typedef struct tc_clip_vision tc_clip_vision;

/* Opens path, detects the naming, derives and checks the configuration.
 * options may be NULL. */
tc_status tc_clip_vision_open(const char *path, const tc_clip_vision_options *options, tc_clip_vision **out,
                              tc_error *err);
void tc_clip_vision_close(tc_clip_vision *cv);

const tc_clip_vision_config *tc_clip_vision_get_config(const tc_clip_vision *cv);
tc_clip_naming tc_clip_vision_naming(const tc_clip_vision *cv);
/* What precedes the vision names: "vision_model.", "visual.", "model.visual.", "". */
const char *tc_clip_vision_prefix(const tc_clip_vision *cv);
const char *tc_clip_vision_path(const tc_clip_vision *cv);
/* The underlying file, for other tensors (metadata, a text tower). */
const tc_safetensors *tc_clip_vision_file(const tc_clip_vision *cv);

/* "qkv_weight", "proj", ...: the names tests/torch/clip_fixtures.py uses. */
const char *tc_clip_role_name(tc_clip_role role);
int tc_clip_role_per_layer(tc_clip_role role);

/* The role's shape as handed out: *ndim is 1 or 2; shape[1] is 1 for 1-D. */
void tc_clip_vision_role_shape(const tc_clip_vision *cv, tc_clip_role role, int *ndim, int64_t shape[2]);
size_t tc_clip_vision_role_numel(const tc_clip_vision *cv, tc_clip_role role);
/* How the role is stored (for HF's q/k/v: the dtype of q_proj; all three
 * are converted either way). Lets the encoder keep fp16 weights fp16. */
tc_st_dtype tc_clip_vision_role_dtype(const tc_clip_vision *cv, tc_clip_role role, int layer);
/* The file's tensor names behind a role (1, or 3 for HF's q/k/v); returns
 * how many were written to names[0..2]. */
int tc_clip_vision_role_sources(const tc_clip_vision *cv, tc_clip_role role, int layer, const char *names[3]);

/* Writes the role as fp32 into dst, which holds count floats (at least
 * tc_clip_vision_role_numel). BF16 and F16 are widened exactly. */
tc_status tc_clip_vision_get_f32(const tc_clip_vision *cv, tc_clip_role role, int layer, float *dst, size_t count,
                                 tc_error *err);
/* The same as IEEE halves (round to nearest even; F16 copied as is). A
 * finite value beyond fp16's range is an error naming the tensor. */
tc_status tc_clip_vision_get_f16(const tc_clip_vision *cv, tc_clip_role role, int layer, uint16_t *dst,
                                 size_t count, tc_error *err);

/* The positional embedding for a grid_h x grid_w patch grid (input H / p by
 * W / p, as the strided conv gives), [1 + grid_h*grid_w, width] fp32 into
 * dst (count floats); the pre-training grid is copied, others resized with
 * mode (the class row is never resized). */
tc_status tc_clip_vision_pos_embed(const tc_clip_vision *cv, int grid_h, int grid_w, tc_interp mode, float *dst,
                                   size_t count, tc_error *err);

#ifdef __cplusplus
}
#endif

#endif
