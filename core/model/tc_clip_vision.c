#include "tc_clip_vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 1024
#define MAX_LAYERS 4096

/* The file tensors behind one role of one layer. */
typedef struct role_source {
  const tc_st_tensor *t[3];
  int n;         /* 1, or 3 for HF's q, k, v (stacked as rows) */
  int transpose; /* open_clip's proj [width, embed] handed out as [embed, width] */
} role_source;

struct tc_clip_vision {
  tc_safetensors *st;
  tc_clip_naming naming;
  char *prefix;
  tc_clip_vision_config cfg;
  role_source global[TC_CLIP_ROLE_COUNT];
  role_source *per_layer; /* [layers][TC_CLIP_ROLE_COUNT] */
};

/* Where each naming keeps a role: the name after the prefix (after
 * "<blocks>N." for per-layer roles). */
typedef struct naming_scheme {
  const char *anchor;   /* identifies the naming: the patch embedding */
  const char *blocks;   /* the per-layer prefix, followed by "N." */
  const char *names[TC_CLIP_ROLE_COUNT];
} naming_scheme;

static const naming_scheme schemes[2] = {
  [TC_CLIP_NAMING_HF] = {
    .anchor = "embeddings.patch_embedding.weight",
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
    .anchor = "conv1.weight",
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

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0 && (n == m || s[n - m - 1] == '.');
}

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
  char name[NAME_MAX_LEN];
  for (size_t i = 0; i < tc_safetensors_count(st); i++) {
    const char *n = tc_safetensors_at(st, i)->name;
    for (int k = 0; k < 2; k++) {
      const naming_scheme *s = &schemes[k];
      if (!ends_with(n, s->anchor))
        continue;
      size_t plen = strlen(n) - strlen(s->anchor);
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

/* The number of blocks: one past the largest N in "<prefix><blocks>N.". */
static tc_status count_layers(tc_clip_vision *cv, tc_error *err)
{
  const char *path = tc_safetensors_path(cv->st);
  char blocks[NAME_MAX_LEN];
  snprintf(blocks, sizeof blocks, "%s%s", cv->prefix, schemes[cv->naming].blocks);
  size_t blen = strlen(blocks);
  long max = -1;
  for (size_t i = 0; i < tc_safetensors_count(cv->st); i++) {
    const char *n = tc_safetensors_at(cv->st, i)->name;
    if (strncmp(n, blocks, blen) != 0)
      continue;
    const char *d = n + blen;
    long v = 0;
    int digits = 0;
    while (*d >= '0' && *d <= '9' && digits < 6) {
      v = v * 10 + (*d++ - '0');
      digits++;
    }
    if (digits && *d == '.' && v > max)
      max = v;
  }
  if (max < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: no transformer blocks (no tensor named %s0.*)", path, blocks);
  if (max >= MAX_LAYERS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: block %s%ld: more than %d layers", path, blocks, max,
                        MAX_LAYERS);
  cv->cfg.layers = (int)max + 1;
  return TC_OK;
}

/* The file name of a role ("self_attn.%c_proj" takes which = 'q', 'k', 'v'). */
static void role_tensor_name(const tc_clip_vision *cv, tc_clip_role role, int layer, char which, char *out,
                             size_t size)
{
  const naming_scheme *s = &schemes[cv->naming];
  char leaf[64];
  snprintf(leaf, sizeof leaf, s->names[role], which);
  if (tc_clip_role_per_layer(role)) {
    snprintf(out, size, "%s%s%d.%s", cv->prefix, s->blocks, layer, leaf);
  } else if (role == TC_CLIP_PROJ && cv->naming == TC_CLIP_NAMING_HF) {
    /* model.vision_model. -> model.visual_projection.weight */
    size_t plen = strlen(cv->prefix);
    static const char inner[] = "vision_model.";
    if (plen >= sizeof inner - 1 && strcmp(cv->prefix + plen - (sizeof inner - 1), inner) == 0)
      plen -= sizeof inner - 1;
    snprintf(out, size, "%.*s%s", (int)plen, cv->prefix, leaf);
  } else {
    snprintf(out, size, "%s%s", cv->prefix, leaf);
  }
}

/* Finds one source tensor with the expected shape and a float dtype. */
static tc_status find_source(tc_clip_vision *cv, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err)
{
  tc_status s = tc_safetensors_get(cv->st, name, ndim, shape, out, err);
  if (s)
    return s;
  if ((*out)->dtype == TC_ST_OTHER)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; CLIP weights must be F32, F16 or BF16",
                        tc_safetensors_path(cv->st), name, (*out)->dtype_name);
  return TC_OK;
}

/* Expected file shape of a role (before q/k/v split or transposition). */
static int file_shape(const tc_clip_vision *cv, tc_clip_role role, int64_t shape[4])
{
  const tc_clip_vision_config *c = &cv->cfg;
  int64_t W = c->width, M = c->mlp_dim, E = c->embed_dim;
  int hf = cv->naming == TC_CLIP_NAMING_HF;
  switch (role) {
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

static tc_status bind_role(tc_clip_vision *cv, tc_clip_role role, int layer, role_source *src, tc_error *err)
{
  int64_t shape[4];
  int ndim = file_shape(cv, role, shape);
  char name[NAME_MAX_LEN];
  int split = cv->naming == TC_CLIP_NAMING_HF && (role == TC_CLIP_QKV_WEIGHT || role == TC_CLIP_QKV_BIAS);
  src->n = split ? 3 : 1;
  src->transpose = role == TC_CLIP_PROJ && cv->naming == TC_CLIP_NAMING_OPENCLIP;
  for (int k = 0; k < src->n; k++) {
    role_tensor_name(cv, role, layer, "qkv"[k], name, sizeof name);
    tc_status s = find_source(cv, name, ndim, shape, &src->t[k], err);
    if (s)
      return s;
  }
  return TC_OK;
}

/* A strict decimal integer in [1, max] from a metadata value. */
static int parse_count(const char *s, int max)
{
  long v = 0;
  if (!s || !*s)
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > max)
      return -1;
    v = v * 10 + (*s - '0');
  }
  return v >= 1 && v <= max ? (int)v : -1;
}

static tc_status choose_act(tc_clip_vision *cv, const tc_clip_vision_options *opts, tc_error *err)
{
  const char *path = tc_safetensors_path(cv->st);
  if (opts && opts->act != TC_ACT_NONE) {
    if (opts->act != TC_ACT_QUICK_GELU && opts->act != TC_ACT_GELU)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: activation %d is not GELU or QuickGELU", path,
                          (int)opts->act);
    cv->cfg.act = opts->act;
    return TC_OK;
  }
  cv->cfg.act = TC_ACT_QUICK_GELU; /* OpenAI's CLIP weights were trained with it */
  const char *hidden_act = tc_safetensors_metadata(cv->st, "hidden_act");
  const char *quick = tc_safetensors_metadata(cv->st, "quick_gelu");
  if (hidden_act) {
    if (strcmp(hidden_act, "gelu") == 0)
      cv->cfg.act = TC_ACT_GELU;
    else if (strcmp(hidden_act, "quick_gelu") != 0)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: __metadata__ hidden_act \"%s\" is not supported (\"gelu\" or "
                          "\"quick_gelu\"; the caller may override it)", path, hidden_act);
  } else if (quick) {
    if (strcasecmp(quick, "false") == 0)
      cv->cfg.act = TC_ACT_GELU;
    else if (strcasecmp(quick, "true") != 0)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ quick_gelu \"%s\" is not true or false", path, quick);
  }
  return TC_OK;
}

/* Width, patch, grid, heads, MLP and embed sizes from the shapes. */
static tc_status derive_config(tc_clip_vision *cv, const tc_clip_vision_options *opts, tc_error *err)
{
  const char *path = tc_safetensors_path(cv->st);
  tc_clip_vision_config *c = &cv->cfg;
  char name[NAME_MAX_LEN];
  const tc_st_tensor *t;
  tc_status s;

  role_tensor_name(cv, TC_CLIP_PATCH_EMBED, 0, 0, name, sizeof name);
  if ((s = find_source(cv, name, 4, (int64_t[]){ -1, 3, -1, -1 }, &t, err)))
    return s;
  if (t->shape[2] != t->shape[3] || t->shape[0] <= 0 || t->shape[2] <= 0 || t->shape[0] > (1 << 16) ||
      t->shape[2] > (1 << 12))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has shape [%lld, 3, %lld, %lld]: not square patches "
                        "of a usable size", path, name, (long long)t->shape[0], (long long)t->shape[2],
                        (long long)t->shape[3]);
  c->width = (int)t->shape[0];
  c->patch_size = (int)t->shape[2];

  role_tensor_name(cv, TC_CLIP_POS_EMBED, 0, 0, name, sizeof name);
  if ((s = find_source(cv, name, 2, (int64_t[]){ -1, c->width }, &t, err)))
    return s;
  int64_t rows = t->shape[0], g = 0;
  while ((g + 1) * (g + 1) <= rows - 1)
    g++;
  if (rows < 2 || g * g != rows - 1 || g > (1 << 12))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has %lld rows: not 1 + a square grid of patches",
                        path, name, (long long)rows);
  c->grid = (int)g;
  c->image_size = c->grid * c->patch_size;

  int heads = opts && opts->heads > 0 ? opts->heads : 0;
  const char *meta_heads = tc_safetensors_metadata(cv->st, "num_attention_heads");
  if (!heads && meta_heads && (heads = parse_count(meta_heads, c->width)) < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ num_attention_heads \"%s\" is not a count of heads",
                        path, meta_heads);
  if (!heads) {
    if (c->width % 64)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: width %d is not a multiple of 64 (CLIP's head size): give "
                          "the number of heads", path, c->width);
    heads = c->width / 64;
  }
  if (c->width % heads)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: %d heads do not divide the width %d", path, heads, c->width);
  c->heads = heads;
  c->head_dim = c->width / heads;

  s = count_layers(cv, err);
  if (s)
    return s;

  role_tensor_name(cv, TC_CLIP_MLP_FC_WEIGHT, 0, 0, name, sizeof name);
  if ((s = find_source(cv, name, 2, (int64_t[]){ -1, c->width }, &t, err)))
    return s;
  if (t->shape[0] <= 0 || t->shape[0] > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': MLP size %lld", path, name, (long long)t->shape[0]);
  c->mlp_dim = (int)t->shape[0];

  role_tensor_name(cv, TC_CLIP_PROJ, 0, 0, name, sizeof name);
  int hf = cv->naming == TC_CLIP_NAMING_HF;
  if ((s = find_source(cv, name, 2, hf ? (int64_t[]){ -1, c->width } : (int64_t[]){ c->width, -1 }, &t, err)))
    return s;
  int64_t embed = hf ? t->shape[0] : t->shape[1];
  if (embed <= 0 || embed > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': embed size %lld", path, name, (long long)embed);
  c->embed_dim = (int)embed;
  c->ln_eps = 1e-5f;
  return choose_act(cv, opts, err);
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
  tc_status s = tc_safetensors_open(path, &cv->st, err);
  candidate tower;
  if (!s)
    s = find_tower(cv->st, &tower, err);
  if (!s) {
    cv->naming = tower.naming;
    cv->prefix = strndup(tower.anchor_name, tower.prefix_len);
    if (!cv->prefix)
      s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  if (!s)
    s = derive_config(cv, options, err);
  if (!s) {
    cv->per_layer = calloc((size_t)cv->cfg.layers * TC_CLIP_ROLE_COUNT, sizeof *cv->per_layer);
    if (!cv->per_layer)
      s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  /* bind (and so check) every tensor now: later calls cannot fail on a bad file */
  for (int r = 0; !s && r < TC_CLIP_ROLE_COUNT; r++) {
    if (!tc_clip_role_per_layer((tc_clip_role)r))
      s = bind_role(cv, (tc_clip_role)r, 0, &cv->global[r], err);
    for (int l = 0; !s && tc_clip_role_per_layer((tc_clip_role)r) && l < cv->cfg.layers; l++)
      s = bind_role(cv, (tc_clip_role)r, l, &cv->per_layer[(size_t)l * TC_CLIP_ROLE_COUNT + (size_t)r], err);
  }
  if (s) {
    tc_clip_vision_close(cv);
    return s;
  }
  *out = cv;
  return TC_OK;
}

void tc_clip_vision_close(tc_clip_vision *cv)
{
  if (!cv)
    return;
  tc_safetensors_close(cv->st);
  free(cv->per_layer);
  free(cv->prefix);
  free(cv);
}

const tc_clip_vision_config *tc_clip_vision_get_config(const tc_clip_vision *cv) { return &cv->cfg; }
tc_clip_naming tc_clip_vision_naming(const tc_clip_vision *cv) { return cv->naming; }
const char *tc_clip_vision_prefix(const tc_clip_vision *cv) { return cv->prefix; }
const char *tc_clip_vision_path(const tc_clip_vision *cv) { return tc_safetensors_path(cv->st); }
const tc_safetensors *tc_clip_vision_file(const tc_clip_vision *cv) { return cv->st; }

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

static const role_source *source_of(const tc_clip_vision *cv, tc_clip_role role, int layer)
{
  if (!cv || (unsigned)role >= TC_CLIP_ROLE_COUNT)
    return NULL;
  if (tc_clip_role_per_layer(role))
    return layer >= 0 && layer < cv->cfg.layers ? &cv->per_layer[(size_t)layer * TC_CLIP_ROLE_COUNT + role] : NULL;
  return layer == 0 ? &cv->global[role] : NULL;
}

tc_st_dtype tc_clip_vision_role_dtype(const tc_clip_vision *cv, tc_clip_role role, int layer)
{
  const role_source *src = source_of(cv, role, layer);
  return src ? src->t[0]->dtype : TC_ST_OTHER;
}

int tc_clip_vision_role_sources(const tc_clip_vision *cv, tc_clip_role role, int layer, const char *names[3])
{
  const role_source *src = source_of(cv, role, layer);
  if (!src)
    return 0;
  for (int k = 0; k < src->n; k++)
    names[k] = src->t[k]->name;
  return src->n;
}

static tc_status check_request(const tc_clip_vision *cv, tc_clip_role role, int layer, const void *dst, size_t count,
                               const role_source **src, tc_error *err)
{
  *src = source_of(cv, role, layer);
  if (!*src || !dst)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: no role %d at layer %d (%d layers; global roles take "
                        "layer 0)", cv ? tc_clip_vision_path(cv) : "(null)", (int)role, layer,
                        cv ? cv->cfg.layers : 0);
  size_t need = tc_clip_vision_role_numel(cv, role);
  if (count < need)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: %s needs %zu values, the destination holds %zu",
                        tc_clip_vision_path(cv), tc_clip_role_name(role), need, count);
  return TC_OK;
}

static float element_f32(const tc_st_tensor *t, size_t i)
{
  const unsigned char *p = t->data;
  if (t->dtype == TC_ST_F32) {
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  memcpy(&h, p + 2 * i, 2);
  return t->dtype == TC_ST_F16 ? tc_f16_to_f32(h) : tc_bf16_to_f32(h);
}

tc_status tc_clip_vision_get_f32(const tc_clip_vision *cv, tc_clip_role role, int layer, float *dst, size_t count,
                                 tc_error *err)
{
  const role_source *src;
  tc_status s = check_request(cv, role, layer, dst, count, &src, err);
  if (s)
    return s;
  if (src->transpose) {
    const tc_st_tensor *t = src->t[0];
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1]; /* [width, embed] */
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++)
        dst[c * rows + r] = element_f32(t, r * cols + c);
    return TC_OK;
  }
  for (int k = 0; k < src->n && !s; k++) {
    s = tc_st_tensor_to_f32(cv->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return s;
}

tc_status tc_clip_vision_get_f16(const tc_clip_vision *cv, tc_clip_role role, int layer, uint16_t *dst,
                                 size_t count, tc_error *err)
{
  const role_source *src;
  tc_status s = check_request(cv, role, layer, dst, count, &src, err);
  if (s)
    return s;
  if (src->transpose) {
    const tc_st_tensor *t = src->t[0];
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++) {
        float f = element_f32(t, r * cols + c);
        uint16_t h = tc_f32_to_f16(f);
        if (isfinite(f) && (h & 0x7fff) == 0x7c00)
          return tc_error_set(err, TC_ERR_NUMERIC, "%s: tensor '%s': element %zu (%g) overflows float16",
                              tc_clip_vision_path(cv), t->name, r * cols + c, (double)f);
        dst[c * rows + r] = h;
      }
    return TC_OK;
  }
  for (int k = 0; k < src->n && !s; k++) {
    s = tc_st_tensor_to_f16(cv->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return s;
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
  tc_status s = tc_clip_vision_get_f32(cv, TC_CLIP_POS_EMBED, 0, stored, stored_n, err);
  if (!s)
    s = tc_pos_embed_resize(stored, c->grid, c->grid, dst, grid_h, grid_w, (size_t)c->width, mode, err);
  free(stored);
  if (s)
    tc_error_prefix(err, "%s: resizing the positional embedding", tc_clip_vision_path(cv));
  return s;
}
