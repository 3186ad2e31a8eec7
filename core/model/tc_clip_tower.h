/* What the two CLIP tower loaders share (internal; not installed).
 *
 * The image tower (tc_clip_vision.c) and the text tower
 * (tc_clip_text.c) of a CLIP checkpoint are stored alike: a prefix,
 * a few global tensors, a stack of identical pre-LN residual blocks named
 * "<prefix><blocks>N.<leaf>", Hugging Face's q, k and v as three tensors
 * where open_clip fuses them, and a projection that Hugging Face keeps
 * beside the tower's module ([embed, width]) and open_clip inside it
 * ([width, embed], handed out transposed). Metadata chooses the activation
 * and the heads the same way for both.
 *
 * This module holds that part once: binding every role of every layer to
 * its file tensors when the file is opened (so later calls cannot fail on a
 * bad file), converting a bound role into the caller's f32 / f16 memory,
 * the block count, heads, MLP and embed sizes, and the activation, all with
 * errors naming the file and the tensor. What really differs stays in the
 * loaders: the roles and their names, how a tower is recognised, its own
 * embeddings and the shapes the configuration is derived from.
 *
 * Roles are the loaders' enums as ints; a block's roles come in the same
 * order in both (tc_clip_block_role), so the code that runs a block (the
 * encoders' tc_block, the references' tc_ref_block) reads either tower
 * through this header. */
#ifndef TC_CLIP_TOWER_H
#define TC_CLIP_TOWER_H

#include <stddef.h>
#include <stdint.h>

#include "tc_common.h"
#include "tc_error.h"
#include "tc_safetensors.h"

#define TC_CLIP_NAME_LEN 1024
#define TC_CLIP_MAX_ROLES 24

/* The roles of one residual block, in the order both loaders' enums list
 * them from their layout's block_first (each loader asserts it). */
typedef enum tc_clip_block_role {
  TC_BLOCK_LN_1_WEIGHT,
  TC_BLOCK_LN_1_BIAS,
  TC_BLOCK_QKV_WEIGHT,      /* [3*width, width]: rows q, k, v */
  TC_BLOCK_QKV_BIAS,
  TC_BLOCK_ATTN_OUT_WEIGHT, /* [width, width] */
  TC_BLOCK_ATTN_OUT_BIAS,
  TC_BLOCK_LN_2_WEIGHT,
  TC_BLOCK_LN_2_BIAS,
  TC_BLOCK_MLP_FC_WEIGHT,   /* [mlp, width] */
  TC_BLOCK_MLP_FC_BIAS,
  TC_BLOCK_MLP_PROJ_WEIGHT, /* [width, mlp] */
  TC_BLOCK_MLP_PROJ_BIAS,
  TC_BLOCK_ROLE_COUNT
} tc_clip_block_role;

/* Where one naming keeps a tower's roles: names[role] follows the prefix
 * (for per-layer roles "<blocks>N."). A name holding "%c" stands for three
 * tensors, 'q', 'k' and 'v', stacked as rows when handed out. */
typedef struct tc_clip_scheme {
  const char *module; /* Hugging Face: the tower's module ("vision_model.") ending the prefix, which the
                         projection sits beside; open_clip: "" */
  const char *blocks; /* the per-layer prefix, followed by "N." */
  const char *names[TC_CLIP_MAX_ROLES];
} tc_clip_scheme;

/* A loader's roles. */
typedef struct tc_clip_layout {
  const tc_clip_scheme *schemes; /* [2], by tc_clip_naming */
  const char *what;              /* the tower in errors: "" or "text " */
  const char *const *role_names; /* [role_count]: "qkv_weight", ... */
  int role_count;
  int block_first, block_last; /* the per-layer roles: [block_first, block_last] */
  int proj_role;               /* the joint-space projection */
  /* the role's expected shape in the file (before q/k/v stacking or
   * transposition), -1 for any size; returns the rank */
  int (*file_shape)(const void *loader, int role, int64_t shape[4]);
} tc_clip_layout;

/* The file tensors behind one role of one layer. */
typedef struct tc_clip_source {
  const tc_st_tensor *t[3];
  int n;         /* 1, or 3 for HF's q, k, v (stacked as rows) */
  int transpose; /* open_clip's projection [width, embed] handed out as [embed, width] */
} tc_clip_source;

typedef struct tc_clip_tower {
  tc_safetensors *st;
  const tc_clip_layout *layout;
  tc_clip_naming naming;
  char *prefix; /* what precedes the names: "vision_model.", "model.visual.", "" ... */
  int layers;
  tc_clip_source *sources; /* [1 + layers][role_count]: the globals, then each layer's */
} tc_clip_tower;

/* Sets the naming and the prefix (the first prefix_len characters of name). */
tc_status tc_clip_tower_set_naming(tc_clip_tower *tw, tc_clip_naming naming, const char *name, size_t prefix_len,
                                   tc_error *err);
/* Closes the file and frees what the tower holds (not tw itself). */
void tc_clip_tower_free(tc_clip_tower *tw);

const char *tc_clip_tower_path(const tc_clip_tower *tw);
const tc_clip_scheme *tc_clip_tower_scheme(const tc_clip_tower *tw);
int tc_clip_tower_per_layer(const tc_clip_tower *tw, int role);
/* 3 where the role is HF's q, k, v (three tensors), else 1. */
int tc_clip_tower_parts(const tc_clip_tower *tw, int role);

/* Whether name is suffix or ends with "." suffix (a prefix such as
 * "model." may precede a tower's names). */
int tc_clip_name_ends_with(const char *name, const char *suffix);

/* The file name of a role ("self_attn.%c_proj.weight" takes which = 'q', 'k', 'v'). */
void tc_clip_tower_name(const tc_clip_tower *tw, int role, int layer, char which, char *out, size_t size);
/* The tensor name with the expected shape (-1: any size) and a float dtype. */
tc_status tc_clip_tower_find(const tc_clip_tower *tw, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err);
/* The same for a global role, or layer 0's tensor of a per-layer one. */
tc_status tc_clip_tower_find_role(const tc_clip_tower *tw, int role, int ndim, const int64_t *shape,
                                  const tc_st_tensor **out, tc_error *err);

/* tw->layers: one past the largest N in "<prefix><blocks>N.". what names the
 * tower in errors: "" or "text ". */
tc_status tc_clip_tower_count_layers(tc_clip_tower *tw, const char *what, tc_error *err);
/* The number of heads: requested if > 0, else __metadata__ meta_key, else
 * width / 64; it must divide width. what names the width in errors
 * ("width", "text width"). */
tc_status tc_clip_tower_heads(const tc_clip_tower *tw, int requested, const char *meta_key, int width,
                              const char *what, int *heads, tc_error *err);
/* The MLP size from layer 0's mlp_fc_role [mlp, width] and the embed size
 * from the projection. */
tc_status tc_clip_tower_mlp_embed(const tc_clip_tower *tw, int mlp_fc_role, int width, int *mlp_dim,
                                  int *embed_dim, tc_error *err);
/* requested unless TC_ACT_NONE (then GELU or QuickGELU only), else from
 * __metadata__ hidden_act ("gelu", "quick_gelu") or open_clip's quick_gelu
 * ("true", "false"), else QuickGELU (OpenAI's weights were trained with it). */
tc_status tc_clip_tower_act(const tc_clip_tower *tw, tc_act requested, tc_act *act, tc_error *err);

/* Finds and checks every role of every layer (tw->layers set) with the
 * layout's file_shape(loader, ...). */
tc_status tc_clip_tower_bind(tc_clip_tower *tw, const void *loader, tc_error *err);
/* The bound role; NULL for a role or layer out of range (globals take layer 0). */
const tc_clip_source *tc_clip_tower_source(const tc_clip_tower *tw, int role, int layer);

/* A bound role as fp32 / IEEE halves into dst (which the caller checked is
 * large enough): q, k, v stacked, open_clip's projection transposed. A
 * finite value beyond fp16's range is an error naming the tensor. */
tc_status tc_clip_source_get_f32(const tc_clip_tower *tw, const tc_clip_source *src, float *dst, tc_error *err);
tc_status tc_clip_source_get_f16(const tc_clip_tower *tw, const tc_clip_source *src, uint16_t *dst,
                                 tc_error *err);
/* Element i of a float tensor (F32, F16 or BF16) as fp32. */
float tc_clip_element_f32(const tc_st_tensor *t, size_t i);

/* ---- a bound role by number: what the loaders' typed getters wrap ---- */

/* The tower behind each loader. */
typedef struct tc_clip_vision tc_clip_vision;
typedef struct tc_clip_text tc_clip_text;
const tc_clip_tower *tc_clip_vision_tower(const tc_clip_vision *cv);
const tc_clip_tower *tc_clip_text_tower(const tc_clip_text *ct);

/* The role number of a block role in tw's enum. */
static inline int tc_clip_tower_block_role(const tc_clip_tower *tw, tc_clip_block_role r)
{
  return tw->layout->block_first + (int)r;
}
const char *tc_clip_tower_role_name(const tc_clip_tower *tw, int role);
/* Values of the role as handed out (q, k, v stacked); 0 for an unknown role. */
size_t tc_clip_tower_role_numel(const tc_clip_tower *tw, int role);
/* The role as a matrix [rows, cols] as handed out: [out, in] for a Linear
 * weight, the patch embedding flattened to [width, 3*p*p], open_clip's
 * projection transposed; a vector is [n, 1]. */
void tc_clip_tower_role_matrix(const tc_clip_tower *tw, int role, uint32_t *rows, uint32_t *cols);
/* How the role is stored (HF's q/k/v: q_proj's dtype); TC_ST_OTHER when unknown. */
tc_st_dtype tc_clip_tower_role_dtype(const tc_clip_tower *tw, int role, int layer);
/* What a matrix role is kept as on the device under precision wp (the
 * references round through the same): fp16 where wp asks for it, or the
 * file stores fp16 and wp keeps what is stored; else fp32. */
tc_dtype tc_clip_tower_matrix_dtype(const tc_clip_tower *tw, int role, int layer, tc_weight_precision wp);
/* The role of one layer (globals: layer 0) into dst, which holds count
 * values: fp32, or IEEE halves as tc_clip_source_get_f16. Errors name the
 * file, the role and the layer. */
tc_status tc_clip_tower_get_f32(const tc_clip_tower *tw, int role, int layer, float *dst, size_t count,
                                tc_error *err);
tc_status tc_clip_tower_get_f16(const tc_clip_tower *tw, int role, int layer, uint16_t *dst, size_t count,
                                tc_error *err);

#endif
