/* CLIP ViT image tower: its roles and names, how the tower is found and the
 * configuration from shapes; binding and conversion are tc_clip_tower's
 * (shared with the text tower). */
#include "tc_clip_vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_clip_tower.h"

_Static_assert(TC_CLIP_LN_1_WEIGHT + TC_BLOCK_QKV_WEIGHT == TC_CLIP_QKV_WEIGHT &&
                 TC_CLIP_LN_1_WEIGHT + TC_BLOCK_MLP_FC_WEIGHT == TC_CLIP_MLP_FC_WEIGHT &&
                 TC_CLIP_LN_1_WEIGHT + TC_BLOCK_ROLE_COUNT - 1 == TC_CLIP_MLP_PROJ_BIAS,
               "the image block's roles in tc_clip_block_role's order");

struct tc_clip_vision {
  tc_clip_tower tw;
  tc_clip_vision_config cfg;
};

/* Where each naming keeps a role (the name after the prefix; after
 * "<blocks>N." for per-layer roles). The patch embedding identifies it. */
static const tc_clip_scheme schemes[2] = {
  [TC_CLIP_NAMING_HF] = {
    .module = "vision_model.",
    .blocks = "encoder.layers.",
    .names = {
      [TC_CLIP_PATCH_EMBED] = "embeddings.patch_embedding.weight",
      [TC_CLIP_CLASS_EMBED] = "embeddings.class_embedding",
      [TC_CLIP_POS_EMBED] = "embeddings.position_embedding.weight",
      [TC_CLIP_LN_PRE_WEIGHT] = "pre_layrnorm.weight", /* sic: Hugging Face's spelling */
      [TC_CLIP_LN_PRE_BIAS] = "pre_layrnorm.bias",
      [TC_CLIP_LN_1_WEIGHT] = "layer_norm1.weight",
      [TC_CLIP_LN_1_BIAS] = "layer_norm1.bias",
      [TC_CLIP_QKV_WEIGHT] = "self_attn.%c_proj.weight",
      [TC_CLIP_QKV_BIAS] = "self_attn.%c_proj.bias",
      [TC_CLIP_ATTN_OUT_WEIGHT] = "self_attn.out_proj.weight",
      [TC_CLIP_ATTN_OUT_BIAS] = "self_attn.out_proj.bias",
      [TC_CLIP_LN_2_WEIGHT] = "layer_norm2.weight",
      [TC_CLIP_LN_2_BIAS] = "layer_norm2.bias",
      [TC_CLIP_MLP_FC_WEIGHT] = "mlp.fc1.weight",
      [TC_CLIP_MLP_FC_BIAS] = "mlp.fc1.bias",
      [TC_CLIP_MLP_PROJ_WEIGHT] = "mlp.fc2.weight",
      [TC_CLIP_MLP_PROJ_BIAS] = "mlp.fc2.bias",
      [TC_CLIP_LN_POST_WEIGHT] = "post_layernorm.weight",
      [TC_CLIP_LN_POST_BIAS] = "post_layernorm.bias",
      [TC_CLIP_PROJ] = "visual_projection.weight", /* beside vision_model., not inside */
    },
  },
  [TC_CLIP_NAMING_OPENCLIP] = {
    .module = "",
    .blocks = "transformer.resblocks.",
    .names = {
      [TC_CLIP_PATCH_EMBED] = "conv1.weight",
      [TC_CLIP_CLASS_EMBED] = "class_embedding",
      [TC_CLIP_POS_EMBED] = "positional_embedding",
      [TC_CLIP_LN_PRE_WEIGHT] = "ln_pre.weight",
      [TC_CLIP_LN_PRE_BIAS] = "ln_pre.bias",
      [TC_CLIP_LN_1_WEIGHT] = "ln_1.weight",
      [TC_CLIP_LN_1_BIAS] = "ln_1.bias",
      [TC_CLIP_QKV_WEIGHT] = "attn.in_proj_weight",
      [TC_CLIP_QKV_BIAS] = "attn.in_proj_bias",
      [TC_CLIP_ATTN_OUT_WEIGHT] = "attn.out_proj.weight",
      [TC_CLIP_ATTN_OUT_BIAS] = "attn.out_proj.bias",
      [TC_CLIP_LN_2_WEIGHT] = "ln_2.weight",
      [TC_CLIP_LN_2_BIAS] = "ln_2.bias",
      [TC_CLIP_MLP_FC_WEIGHT] = "mlp.c_fc.weight",
      [TC_CLIP_MLP_FC_BIAS] = "mlp.c_fc.bias",
      [TC_CLIP_MLP_PROJ_WEIGHT] = "mlp.c_proj.weight",
      [TC_CLIP_MLP_PROJ_BIAS] = "mlp.c_proj.bias",
      [TC_CLIP_LN_POST_WEIGHT] = "ln_post.weight",
      [TC_CLIP_LN_POST_BIAS] = "ln_post.bias",
      [TC_CLIP_PROJ] = "proj",
    },
  },
};

static const char *const role_names[TC_CLIP_ROLE_COUNT] = {
  [TC_CLIP_PATCH_EMBED] = "patch_embed",
  [TC_CLIP_CLASS_EMBED] = "class_embed",
  [TC_CLIP_POS_EMBED] = "pos_embed",
  [TC_CLIP_LN_PRE_WEIGHT] = "ln_pre_weight",
  [TC_CLIP_LN_PRE_BIAS] = "ln_pre_bias",
  [TC_CLIP_LN_1_WEIGHT] = "ln_1_weight",
  [TC_CLIP_LN_1_BIAS] = "ln_1_bias",
  [TC_CLIP_QKV_WEIGHT] = "qkv_weight",
  [TC_CLIP_QKV_BIAS] = "qkv_bias",
  [TC_CLIP_ATTN_OUT_WEIGHT] = "attn_out_weight",
  [TC_CLIP_ATTN_OUT_BIAS] = "attn_out_bias",
  [TC_CLIP_LN_2_WEIGHT] = "ln_2_weight",
  [TC_CLIP_LN_2_BIAS] = "ln_2_bias",
  [TC_CLIP_MLP_FC_WEIGHT] = "mlp_fc_weight",
  [TC_CLIP_MLP_FC_BIAS] = "mlp_fc_bias",
  [TC_CLIP_MLP_PROJ_WEIGHT] = "mlp_proj_weight",
  [TC_CLIP_MLP_PROJ_BIAS] = "mlp_proj_bias",
  [TC_CLIP_LN_POST_WEIGHT] = "ln_post_weight",
  [TC_CLIP_LN_POST_BIAS] = "ln_post_bias",
  [TC_CLIP_PROJ] = "proj",
};

const char *tc_clip_role_name(tc_clip_role role)
{
  return (unsigned)role < TC_CLIP_ROLE_COUNT ? role_names[role] : "unknown role";
}

int tc_clip_role_per_layer(tc_clip_role role) { return role >= TC_CLIP_LN_1_WEIGHT && role <= TC_CLIP_MLP_PROJ_BIAS; }

/* ---- finding the vision tower ---- */

typedef struct candidate {
  tc_clip_naming naming;
  const char *anchor_name; /* the tensor that gave it away */
  size_t prefix_len;       /* its first prefix_len characters are the prefix */
} candidate;

static tc_status find_tower(const tc_safetensors *st, candidate *found, tc_error *err)
{
  const char *path = tc_safetensors_path(st);
  int count = 0;
  const char *not_vit = NULL;
  char name[TC_CLIP_NAME_LEN];
  for (size_t i = 0; i < tc_safetensors_count(st); i++) {
    const char *n = tc_safetensors_at(st, i)->name;
    for (int k = 0; k < 2; k++) {
      const tc_clip_scheme *s = &schemes[k];
      const char *anchor = s->names[TC_CLIP_PATCH_EMBED];
      if (!tc_clip_name_ends_with(n, anchor))
        continue;
      size_t plen = strlen(n) - strlen(anchor);
      if (plen + 64 >= sizeof name)
        continue;
      /* a ViT has a class embedding beside its patch embedding (ResNet CLIPs have a conv1 too) */
      snprintf(name, sizeof name, "%.*s%s", (int)plen, n, s->names[TC_CLIP_CLASS_EMBED]);
      if (!tc_safetensors_find(st, name)) {
        not_vit = n;
        continue;
      }
      if (count == 1)
        return tc_error_set(err, TC_ERR_FORMAT, "%s: two CLIP vision towers, at '%s' and '%s': cannot choose",
                            path, found->anchor_name, n);
      found->naming = (tc_clip_naming)k;
      found->anchor_name = n;
      found->prefix_len = plen;
      count++;
    }
  }
  if (count)
    return TC_OK;
  if (not_vit)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: '%s' found but no class embedding beside it: not a CLIP "
                        "ViT (ResNet image towers are not supported)", path, not_vit);
  return tc_error_set(err, TC_ERR_FORMAT, "no CLIP vision weights found in %s (expected vision_model.* or visual.* "
                      "tensors)", path);
}

/* Expected file shape of a role (before q/k/v stacking or transposition). */
static int file_shape(const void *loader, int role, int64_t shape[4])
{
  const tc_clip_vision *cv = loader;
  const tc_clip_vision_config *c = &cv->cfg;
  int64_t W = c->width, M = c->mlp_dim, E = c->embed_dim;
  int hf = cv->tw.naming == TC_CLIP_NAMING_HF;
  switch ((tc_clip_role)role) {
  case TC_CLIP_PATCH_EMBED: shape[0] = W; shape[1] = 3; shape[2] = shape[3] = c->patch_size; return 4;
  case TC_CLIP_POS_EMBED: shape[0] = 1 + (int64_t)c->grid * c->grid; shape[1] = W; return 2;
  case TC_CLIP_QKV_WEIGHT: shape[0] = hf ? W : 3 * W; shape[1] = W; return 2;
  case TC_CLIP_QKV_BIAS: shape[0] = hf ? W : 3 * W; return 1;
  case TC_CLIP_ATTN_OUT_WEIGHT: shape[0] = W; shape[1] = W; return 2;
  case TC_CLIP_MLP_FC_WEIGHT: shape[0] = M; shape[1] = W; return 2;
  case TC_CLIP_MLP_FC_BIAS: shape[0] = M; return 1;
  case TC_CLIP_MLP_PROJ_WEIGHT: shape[0] = W; shape[1] = M; return 2;
  case TC_CLIP_PROJ:
    shape[0] = hf ? E : W;
    shape[1] = hf ? W : E;
    return 2;
  default: shape[0] = W; return 1; /* embeddings, layer norms, biases of width */
  }
}

static const tc_clip_layout layout = {
  .schemes = schemes,
  .what = "",
  .role_names = role_names,
  .role_count = TC_CLIP_ROLE_COUNT,
  .block_first = TC_CLIP_LN_1_WEIGHT,
  .block_last = TC_CLIP_MLP_PROJ_BIAS,
  .proj_role = TC_CLIP_PROJ,
  .file_shape = file_shape,
};

/* Width, patch, grid, heads, MLP and embed sizes from the shapes. */
static tc_status derive_config(tc_clip_vision *cv, const tc_clip_vision_options *opts, tc_error *err)
{
  const char *path = tc_clip_vision_path(cv);
  tc_clip_vision_config *c = &cv->cfg;
  const tc_st_tensor *t;
  tc_status st;

  st = tc_clip_tower_find_role(&cv->tw, TC_CLIP_PATCH_EMBED, 4, (int64_t[]){ -1, 3, -1, -1 }, &t, err);
  if (st != TC_OK)
    return st;
  if (t->shape[2] != t->shape[3] || t->shape[0] <= 0 || t->shape[2] <= 0 || t->shape[0] > (1 << 16) ||
      t->shape[2] > (1 << 12))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has shape [%lld, 3, %lld, %lld]: not square patches "
                        "of a usable size", path, t->name, (long long)t->shape[0], (long long)t->shape[2],
                        (long long)t->shape[3]);
  c->width = (int)t->shape[0];
  c->patch_size = (int)t->shape[2];

  st = tc_clip_tower_find_role(&cv->tw, TC_CLIP_POS_EMBED, 2, (int64_t[]){ -1, c->width }, &t, err);
  if (st != TC_OK)
    return st;
  int64_t rows = t->shape[0], g = 0;
  while ((g + 1) * (g + 1) <= rows - 1)
    g++;
  if (rows < 2 || g * g != rows - 1 || g > (1 << 12))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has %lld rows: not 1 + a square grid of patches",
                        path, t->name, (long long)rows);
  c->grid = (int)g;
  c->image_size = c->grid * c->patch_size;

  st = tc_clip_tower_heads(&cv->tw, opts ? opts->heads : 0, "num_attention_heads", c->width, "width", &c->heads, err);
  if (st != TC_OK)
    return st;
  c->head_dim = c->width / c->heads;
  st = tc_clip_tower_count_layers(&cv->tw, "", err);
  if (st != TC_OK)
    return st;
  c->layers = cv->tw.layers;
  st = tc_clip_tower_mlp_embed(&cv->tw, TC_CLIP_MLP_FC_WEIGHT, c->width, &c->mlp_dim, &c->embed_dim, err);
  if (st != TC_OK)
    return st;
  c->ln_eps = 1e-5f;
  return tc_clip_tower_act(&cv->tw, opts ? opts->act : TC_ACT_NONE, &c->act, err);
}

tc_status tc_clip_vision_open(const char *path, const tc_clip_vision_options *options, tc_clip_vision **out,
                              tc_error *err)
{
  if (!out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_vision_open: out is NULL");
  *out = NULL;
  tc_clip_vision *cv = calloc(1, sizeof *cv);
  if (!cv)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path ? path : "(null)");
  cv->tw.layout = &layout;
  tc_status st = tc_safetensors_open(path, &cv->tw.st, err);
  candidate tower;
  if (st == TC_OK)
    st = find_tower(cv->tw.st, &tower, err);
  if (st == TC_OK)
    st = tc_clip_tower_set_naming(&cv->tw, tower.naming, tower.anchor_name, tower.prefix_len, err);
  if (st == TC_OK)
    st = derive_config(cv, options, err);
  /* bind (and so check) every tensor now: later calls cannot fail on a bad file */
  if (st == TC_OK)
    st = tc_clip_tower_bind(&cv->tw, cv, err);
  if (st != TC_OK) {
    tc_clip_vision_close(cv);
    return st;
  }
  *out = cv;
  return TC_OK;
}

void tc_clip_vision_close(tc_clip_vision *cv)
{
  if (!cv)
    return;
  tc_clip_tower_free(&cv->tw);
  free(cv);
}

const tc_clip_vision_config *tc_clip_vision_get_config(const tc_clip_vision *cv) { return &cv->cfg; }
tc_clip_naming tc_clip_vision_naming(const tc_clip_vision *cv) { return cv->tw.naming; }
const char *tc_clip_vision_prefix(const tc_clip_vision *cv) { return cv->tw.prefix; }
const char *tc_clip_vision_path(const tc_clip_vision *cv) { return tc_clip_tower_path(&cv->tw); }
const tc_safetensors *tc_clip_vision_file(const tc_clip_vision *cv) { return cv->tw.st; }

void tc_clip_vision_role_shape(const tc_clip_vision *cv, tc_clip_role role, int *ndim, int64_t shape[2])
{
  const tc_clip_vision_config *c = &cv->cfg;
  int64_t W = c->width;
  shape[1] = 1;
  *ndim = 2;
  switch (role) {
  case TC_CLIP_PATCH_EMBED: shape[0] = W; shape[1] = 3 * (int64_t)c->patch_size * c->patch_size; return;
  case TC_CLIP_POS_EMBED: shape[0] = 1 + (int64_t)c->grid * c->grid; shape[1] = W; return;
  case TC_CLIP_QKV_WEIGHT: shape[0] = 3 * W; shape[1] = W; return;
  case TC_CLIP_ATTN_OUT_WEIGHT: shape[0] = W; shape[1] = W; return;
  case TC_CLIP_MLP_FC_WEIGHT: shape[0] = c->mlp_dim; shape[1] = W; return;
  case TC_CLIP_MLP_PROJ_WEIGHT: shape[0] = W; shape[1] = c->mlp_dim; return;
  case TC_CLIP_PROJ: shape[0] = c->embed_dim; shape[1] = W; return;
  case TC_CLIP_QKV_BIAS: *ndim = 1; shape[0] = 3 * W; return;
  case TC_CLIP_MLP_FC_BIAS: *ndim = 1; shape[0] = c->mlp_dim; return;
  default: *ndim = 1; shape[0] = W; return;
  }
}

size_t tc_clip_vision_role_numel(const tc_clip_vision *cv, tc_clip_role role)
{
  int ndim;
  int64_t shape[2];
  tc_clip_vision_role_shape(cv, role, &ndim, shape);
  return (size_t)(shape[0] * shape[1]);
}

const tc_clip_tower *tc_clip_vision_tower(const tc_clip_vision *cv) { return &cv->tw; }

tc_st_dtype tc_clip_vision_role_dtype(const tc_clip_vision *cv, tc_clip_role role, int layer)
{
  return cv ? tc_clip_tower_role_dtype(&cv->tw, (int)role, layer) : TC_ST_OTHER;
}

int tc_clip_vision_role_sources(const tc_clip_vision *cv, tc_clip_role role, int layer, const char *names[3])
{
  const tc_clip_source *src = cv ? tc_clip_tower_source(&cv->tw, (int)role, layer) : NULL;
  if (!src)
    return 0;
  for (int k = 0; k < src->n; k++)
    names[k] = src->t[k]->name;
  return src->n;
}

tc_status tc_clip_vision_get_f32(const tc_clip_vision *cv, tc_clip_role role, int layer, float *dst, size_t count,
                                 tc_error *err)
{
  if (!cv)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_vision_get_f32: no model");
  return tc_clip_tower_get_f32(&cv->tw, (int)role, layer, dst, count, err);
}

tc_status tc_clip_vision_get_f16(const tc_clip_vision *cv, tc_clip_role role, int layer, uint16_t *dst,
                                 size_t count, tc_error *err)
{
  if (!cv)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_vision_get_f16: no model");
  return tc_clip_tower_get_f16(&cv->tw, (int)role, layer, dst, count, err);
}

tc_status tc_clip_vision_pos_embed(const tc_clip_vision *cv, int grid_h, int grid_w, tc_interp mode, float *dst,
                                   size_t count, tc_error *err)
{
  if (!cv || !dst || grid_h <= 0 || grid_w <= 0 || grid_h > (1 << 12) || grid_w > (1 << 12))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_vision_pos_embed: invalid grid %dx%d", grid_h,
                        grid_w);
  const tc_clip_vision_config *c = &cv->cfg;
  size_t need = (1 + (size_t)grid_h * (size_t)grid_w) * (size_t)c->width;
  if (count < need)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: a %dx%d positional embedding needs %zu values, the "
                        "destination holds %zu", tc_clip_vision_path(cv), grid_h, grid_w, need, count);
  if (grid_h == c->grid && grid_w == c->grid)
    return tc_clip_vision_get_f32(cv, TC_CLIP_POS_EMBED, 0, dst, count, err);
  size_t stored_n = tc_clip_vision_role_numel(cv, TC_CLIP_POS_EMBED);
  float *stored = malloc(stored_n * sizeof *stored);
  if (!stored)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", tc_clip_vision_path(cv));
  tc_status st = tc_clip_vision_get_f32(cv, TC_CLIP_POS_EMBED, 0, stored, stored_n, err);
  if (st == TC_OK)
    st = tc_pos_embed_resize(stored, c->grid, c->grid, dst, grid_h, grid_w, (size_t)c->width, mode, err);
  free(stored);
  if (st != TC_OK)
    tc_error_prefix(err, "%s: resizing the positional embedding", tc_clip_vision_path(cv));
  return st;
}
