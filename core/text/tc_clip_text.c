/* CLIP text tower: naming detection, configuration from shapes, conversion. */
#include "tc_clip_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_LEN 1024
#define MAX_LAYERS 4096

typedef struct source {
  const tc_st_tensor *t[3];
  int n;         /* 1, or 3 for HF's q, k, v */
  int transpose; /* open_clip's text_projection [width, embed] */
} source;

struct tc_clip_text {
  tc_safetensors *st;
  tc_clip_naming naming;
  char *prefix; /* before the names below: "", "model.", "text_model." ... */
  tc_clip_text_config cfg;
  source global[TC_TEXT_ROLE_COUNT];
  source *per_layer; /* [layers][TC_TEXT_ROLE_COUNT] */
};

typedef struct scheme {
  const char *tower;  /* HF: "text_model."; open_clip: "" (the names sit at the model's root) */
  const char *blocks; /* then "N." */
  const char *names[TC_TEXT_ROLE_COUNT];
} scheme;

static const scheme schemes[2] = {
  [TC_CLIP_NAMING_HF] = {
    .tower = "text_model.",
    .blocks = "encoder.layers.",
    .names = {
      [TC_TEXT_TOKEN_EMBED] = "embeddings.token_embedding.weight",
      [TC_TEXT_POS_EMBED] = "embeddings.position_embedding.weight",
      [TC_TEXT_LN_1_WEIGHT] = "layer_norm1.weight",
      [TC_TEXT_LN_1_BIAS] = "layer_norm1.bias",
      [TC_TEXT_QKV_WEIGHT] = "self_attn.%c_proj.weight",
      [TC_TEXT_QKV_BIAS] = "self_attn.%c_proj.bias",
      [TC_TEXT_ATTN_OUT_WEIGHT] = "self_attn.out_proj.weight",
      [TC_TEXT_ATTN_OUT_BIAS] = "self_attn.out_proj.bias",
      [TC_TEXT_LN_2_WEIGHT] = "layer_norm2.weight",
      [TC_TEXT_LN_2_BIAS] = "layer_norm2.bias",
      [TC_TEXT_MLP_FC_WEIGHT] = "mlp.fc1.weight",
      [TC_TEXT_MLP_FC_BIAS] = "mlp.fc1.bias",
      [TC_TEXT_MLP_PROJ_WEIGHT] = "mlp.fc2.weight",
      [TC_TEXT_MLP_PROJ_BIAS] = "mlp.fc2.bias",
      [TC_TEXT_LN_FINAL_WEIGHT] = "final_layer_norm.weight",
      [TC_TEXT_LN_FINAL_BIAS] = "final_layer_norm.bias",
      [TC_TEXT_PROJ] = "text_projection.weight", /* beside text_model. */
    },
  },
  [TC_CLIP_NAMING_OPENCLIP] = {
    .tower = "",
    .blocks = "transformer.resblocks.",
    .names = {
      [TC_TEXT_TOKEN_EMBED] = "token_embedding.weight",
      [TC_TEXT_POS_EMBED] = "positional_embedding",
      [TC_TEXT_LN_1_WEIGHT] = "ln_1.weight",
      [TC_TEXT_LN_1_BIAS] = "ln_1.bias",
      [TC_TEXT_QKV_WEIGHT] = "attn.in_proj_weight",
      [TC_TEXT_QKV_BIAS] = "attn.in_proj_bias",
      [TC_TEXT_ATTN_OUT_WEIGHT] = "attn.out_proj.weight",
      [TC_TEXT_ATTN_OUT_BIAS] = "attn.out_proj.bias",
      [TC_TEXT_LN_2_WEIGHT] = "ln_2.weight",
      [TC_TEXT_LN_2_BIAS] = "ln_2.bias",
      [TC_TEXT_MLP_FC_WEIGHT] = "mlp.c_fc.weight",
      [TC_TEXT_MLP_FC_BIAS] = "mlp.c_fc.bias",
      [TC_TEXT_MLP_PROJ_WEIGHT] = "mlp.c_proj.weight",
      [TC_TEXT_MLP_PROJ_BIAS] = "mlp.c_proj.bias",
      [TC_TEXT_LN_FINAL_WEIGHT] = "ln_final.weight",
      [TC_TEXT_LN_FINAL_BIAS] = "ln_final.bias",
      [TC_TEXT_PROJ] = "text_projection",
    },
  },
};

static const char *const role_names[TC_TEXT_ROLE_COUNT] = {
  "token_embed", "pos_embed", "ln_1_weight", "ln_1_bias", "qkv_weight", "qkv_bias", "attn_out_weight",
  "attn_out_bias", "ln_2_weight", "ln_2_bias", "mlp_fc_weight", "mlp_fc_bias", "mlp_proj_weight",
  "mlp_proj_bias", "ln_final_weight", "ln_final_bias", "proj",
};

const char *tc_text_role_name(tc_text_role role)
{
  return (unsigned)role < TC_TEXT_ROLE_COUNT ? role_names[role] : "unknown role";
}

int tc_text_role_per_layer(tc_text_role role) { return role >= TC_TEXT_LN_1_WEIGHT && role <= TC_TEXT_MLP_PROJ_BIAS; }

static int ends_with_dot(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0 && (n == m || s[n - m - 1] == '.');
}

/* The tower: HF's text_model.embeddings.token_embedding.weight, or
 * open_clip's token_embedding.weight with a positional_embedding beside it. */
static tc_status find_tower(tc_clip_text *ct, tc_error *err)
{
  const char *path = tc_safetensors_path(ct->st);
  int found = 0;
  char name[NAME_LEN];
  for (size_t i = 0; i < tc_safetensors_count(ct->st); i++) {
    const char *n = tc_safetensors_at(ct->st, i)->name;
    for (int k = 0; k < 2; k++) {
      const scheme *s = &schemes[k];
      char anchor[128];
      snprintf(anchor, sizeof anchor, "%s%s", s->tower, s->names[TC_TEXT_TOKEN_EMBED]);
      if (!ends_with_dot(n, anchor))
        continue;
      size_t plen = strlen(n) - strlen(s->names[TC_TEXT_TOKEN_EMBED]);
      if (plen + 64 >= sizeof name)
        continue;
      snprintf(name, sizeof name, "%.*s%s", (int)plen, n, s->names[TC_TEXT_POS_EMBED]);
      if (!tc_safetensors_find(ct->st, name))
        continue;
      if (found)
        return tc_error_set(err, TC_ERR_FORMAT, "%s: two CLIP text towers (prefixes '%s' and '%.*s'): cannot choose",
                            path, ct->prefix, (int)plen, n);
      ct->naming = (tc_clip_naming)k;
      if (!(ct->prefix = strndup(n, plen)))
        return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
      found = 1;
    }
  }
  if (!found)
    return tc_error_set(err, TC_ERR_FORMAT, "no CLIP text tower in %s (expected text_model.embeddings."
                        "token_embedding.weight or token_embedding.weight + positional_embedding): zero-shot "
                        "prompts need the text encoder's weights", path);
  return TC_OK;
}

static void role_tensor_name(const tc_clip_text *ct, tc_text_role role, int layer, char which, char *out, size_t size)
{
  const scheme *s = &schemes[ct->naming];
  char leaf[64];
  snprintf(leaf, sizeof leaf, s->names[role], which);
  if (tc_text_role_per_layer(role)) {
    snprintf(out, size, "%s%s%d.%s", ct->prefix, s->blocks, layer, leaf);
  } else if (role == TC_TEXT_PROJ && ct->naming == TC_CLIP_NAMING_HF) {
    size_t plen = strlen(ct->prefix), tl = strlen(s->tower); /* model.text_model. -> model.text_projection.weight */
    if (plen >= tl && strcmp(ct->prefix + plen - tl, s->tower) == 0)
      plen -= tl;
    snprintf(out, size, "%.*s%s", (int)plen, ct->prefix, leaf);
  } else {
    snprintf(out, size, "%s%s", ct->prefix, leaf);
  }
}

static tc_status find_source(tc_clip_text *ct, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err)
{
  tc_status s = tc_safetensors_get(ct->st, name, ndim, shape, out, err);
  if (s)
    return s;
  if ((*out)->dtype == TC_ST_OTHER)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; CLIP weights must be F32, F16 or BF16",
                        tc_safetensors_path(ct->st), name, (*out)->dtype_name);
  return TC_OK;
}

static int file_shape(const tc_clip_text *ct, tc_text_role role, int64_t shape[2])
{
  const tc_clip_text_config *c = &ct->cfg;
  int64_t W = c->width, M = c->mlp_dim, E = c->embed_dim;
  int hf = ct->naming == TC_CLIP_NAMING_HF;
  switch (role) {
  case TC_TEXT_TOKEN_EMBED: shape[0] = c->vocab; shape[1] = W; return 2;
  case TC_TEXT_POS_EMBED: shape[0] = c->context; shape[1] = W; return 2;
  case TC_TEXT_QKV_WEIGHT: shape[0] = hf ? W : 3 * W; shape[1] = W; return 2;
  case TC_TEXT_QKV_BIAS: shape[0] = hf ? W : 3 * W; return 1;
  case TC_TEXT_ATTN_OUT_WEIGHT: shape[0] = W; shape[1] = W; return 2;
  case TC_TEXT_MLP_FC_WEIGHT: shape[0] = M; shape[1] = W; return 2;
  case TC_TEXT_MLP_FC_BIAS: shape[0] = M; return 1;
  case TC_TEXT_MLP_PROJ_WEIGHT: shape[0] = W; shape[1] = M; return 2;
  case TC_TEXT_PROJ: shape[0] = hf ? E : W; shape[1] = hf ? W : E; return 2;
  default: shape[0] = W; return 1;
  }
}

static tc_status bind_role(tc_clip_text *ct, tc_text_role role, int layer, source *src, tc_error *err)
{
  int64_t shape[2];
  int ndim = file_shape(ct, role, shape);
  char name[NAME_LEN];
  int split = ct->naming == TC_CLIP_NAMING_HF && (role == TC_TEXT_QKV_WEIGHT || role == TC_TEXT_QKV_BIAS);
  src->n = split ? 3 : 1;
  src->transpose = role == TC_TEXT_PROJ && ct->naming == TC_CLIP_NAMING_OPENCLIP;
  for (int k = 0; k < src->n; k++) {
    role_tensor_name(ct, role, layer, "qkv"[k], name, sizeof name);
    tc_status s = find_source(ct, name, ndim, shape, &src->t[k], err);
    if (s)
      return s;
  }
  return TC_OK;
}

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

static tc_status choose_act(tc_clip_text *ct, const tc_clip_text_options *opts, tc_error *err)
{
  const char *path = tc_safetensors_path(ct->st);
  if (opts && opts->act != TC_ACT_NONE) {
    if (opts->act != TC_ACT_QUICK_GELU && opts->act != TC_ACT_GELU)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: activation %d is not GELU or QuickGELU", path,
                          (int)opts->act);
    ct->cfg.act = opts->act;
    return TC_OK;
  }
  ct->cfg.act = TC_ACT_QUICK_GELU;
  const char *hidden_act = tc_safetensors_metadata(ct->st, "hidden_act");
  const char *quick = tc_safetensors_metadata(ct->st, "quick_gelu");
  if (hidden_act) {
    if (strcmp(hidden_act, "gelu") == 0)
      ct->cfg.act = TC_ACT_GELU;
    else if (strcmp(hidden_act, "quick_gelu") != 0)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: __metadata__ hidden_act \"%s\" is not supported (\"gelu\" or "
                          "\"quick_gelu\"; the caller may override it)", path, hidden_act);
  } else if (quick) {
    if (strcasecmp(quick, "false") == 0)
      ct->cfg.act = TC_ACT_GELU;
    else if (strcasecmp(quick, "true") != 0)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ quick_gelu \"%s\" is not true or false", path, quick);
  }
  return TC_OK;
}

static tc_status derive_config(tc_clip_text *ct, const tc_clip_text_options *opts, tc_error *err)
{
  const char *path = tc_safetensors_path(ct->st);
  tc_clip_text_config *c = &ct->cfg;
  char name[NAME_LEN];
  const tc_st_tensor *t;
  tc_status s;

  role_tensor_name(ct, TC_TEXT_TOKEN_EMBED, 0, 0, name, sizeof name);
  if ((s = find_source(ct, name, 2, (int64_t[]){ -1, -1 }, &t, err)))
    return s;
  if (t->shape[0] <= 0 || t->shape[0] > (1 << 24) || t->shape[1] <= 0 || t->shape[1] > (1 << 16))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has shape [%lld, %lld]: not a token embedding",
                        path, name, (long long)t->shape[0], (long long)t->shape[1]);
  c->vocab = (int)t->shape[0];
  c->width = (int)t->shape[1];

  role_tensor_name(ct, TC_TEXT_POS_EMBED, 0, 0, name, sizeof name);
  if ((s = find_source(ct, name, 2, (int64_t[]){ -1, c->width }, &t, err)))
    return s;
  if (t->shape[0] < 2 || t->shape[0] > 4096)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': context of %lld positions", path, name,
                        (long long)t->shape[0]);
  c->context = (int)t->shape[0];

  int heads = opts && opts->heads > 0 ? opts->heads : 0;
  const char *meta = tc_safetensors_metadata(ct->st, "text_num_attention_heads");
  if (!heads && meta && (heads = parse_count(meta, c->width)) < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ text_num_attention_heads \"%s\" is not a count of "
                        "heads", path, meta);
  if (!heads) {
    if (c->width % 64)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: text width %d is not a multiple of 64 (CLIP's head size): "
                          "give the number of heads", path, c->width);
    heads = c->width / 64;
  }
  if (c->width % heads)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: %d heads do not divide the text width %d", path, heads, c->width);
  c->heads = heads;
  c->head_dim = c->width / heads;

  char blocks[NAME_LEN];
  snprintf(blocks, sizeof blocks, "%s%s", ct->prefix, schemes[ct->naming].blocks);
  size_t blen = strlen(blocks);
  long max = -1;
  for (size_t i = 0; i < tc_safetensors_count(ct->st); i++) {
    const char *n = tc_safetensors_at(ct->st, i)->name;
    if (strncmp(n, blocks, blen) != 0)
      continue;
    const char *d = n + blen;
    long v = 0;
    int digits = 0;
    while (*d >= '0' && *d <= '9' && digits < 6)
      v = v * 10 + (*d++ - '0'), digits++;
    if (digits && *d == '.' && v > max)
      max = v;
  }
  if (max < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: no text transformer blocks (no tensor named %s0.*)", path, blocks);
  if (max >= MAX_LAYERS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: block %s%ld: more than %d layers", path, blocks, max,
                        MAX_LAYERS);
  c->layers = (int)max + 1;

  role_tensor_name(ct, TC_TEXT_MLP_FC_WEIGHT, 0, 0, name, sizeof name);
  if ((s = find_source(ct, name, 2, (int64_t[]){ -1, c->width }, &t, err)))
    return s;
  if (t->shape[0] <= 0 || t->shape[0] > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': MLP size %lld", path, name, (long long)t->shape[0]);
  c->mlp_dim = (int)t->shape[0];

  role_tensor_name(ct, TC_TEXT_PROJ, 0, 0, name, sizeof name);
  int hf = ct->naming == TC_CLIP_NAMING_HF;
  if ((s = find_source(ct, name, 2, hf ? (int64_t[]){ -1, c->width } : (int64_t[]){ c->width, -1 }, &t, err)))
    return s;
  int64_t embed = hf ? t->shape[0] : t->shape[1];
  if (embed <= 0 || embed > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': embed size %lld", path, name, (long long)embed);
  c->embed_dim = (int)embed;
  c->ln_eps = 1e-5f;
  return choose_act(ct, opts, err);
}

tc_status tc_clip_text_open(const char *path, const tc_clip_text_options *options, tc_clip_text **out,
                            tc_error *err)
{
  if (!out)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_text_open: out is NULL");
  *out = NULL;
  tc_clip_text *ct = calloc(1, sizeof *ct);
  if (!ct)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  tc_status s = tc_safetensors_open(path, &ct->st, err);
  if (!s)
    s = find_tower(ct, err);
  if (!s)
    s = derive_config(ct, options, err);
  if (!s && !(ct->per_layer = calloc((size_t)ct->cfg.layers * TC_TEXT_ROLE_COUNT, sizeof *ct->per_layer)))
    s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (int r = 0; !s && r < TC_TEXT_ROLE_COUNT; r++) {
    if (!tc_text_role_per_layer((tc_text_role)r))
      s = bind_role(ct, (tc_text_role)r, 0, &ct->global[r], err);
    for (int l = 0; !s && tc_text_role_per_layer((tc_text_role)r) && l < ct->cfg.layers; l++)
      s = bind_role(ct, (tc_text_role)r, l, &ct->per_layer[(size_t)l * TC_TEXT_ROLE_COUNT + (size_t)r], err);
  }
  if (s) {
    tc_clip_text_close(ct);
    return s;
  }
  *out = ct;
  return TC_OK;
}

void tc_clip_text_close(tc_clip_text *ct)
{
  if (!ct)
    return;
  tc_safetensors_close(ct->st);
  free(ct->per_layer);
  free(ct->prefix);
  free(ct);
}

const tc_clip_text_config *tc_clip_text_get_config(const tc_clip_text *ct) { return &ct->cfg; }
tc_clip_naming tc_clip_text_naming(const tc_clip_text *ct) { return ct->naming; }
const char *tc_clip_text_path(const tc_clip_text *ct) { return tc_safetensors_path(ct->st); }

size_t tc_clip_text_role_numel(const tc_clip_text *ct, tc_text_role role)
{
  int64_t shape[2] = { 1, 1 };
  file_shape(ct, role, shape);
  size_t n = (size_t)shape[0] * (size_t)shape[1];
  if (ct->naming == TC_CLIP_NAMING_HF && (role == TC_TEXT_QKV_WEIGHT || role == TC_TEXT_QKV_BIAS))
    n *= 3;
  return n;
}

static const source *source_of(const tc_clip_text *ct, tc_text_role role, int layer)
{
  if (!ct || (unsigned)role >= TC_TEXT_ROLE_COUNT)
    return NULL;
  if (tc_text_role_per_layer(role))
    return layer >= 0 && layer < ct->cfg.layers ? &ct->per_layer[(size_t)layer * TC_TEXT_ROLE_COUNT + role] : NULL;
  return layer == 0 ? &ct->global[role] : NULL;
}

tc_st_dtype tc_clip_text_role_dtype(const tc_clip_text *ct, tc_text_role role, int layer)
{
  const source *src = source_of(ct, role, layer);
  return src ? src->t[0]->dtype : TC_ST_OTHER;
}

static tc_status check_request(const tc_clip_text *ct, tc_text_role role, int layer, const void *dst, size_t count,
                               const source **src, tc_error *err)
{
  *src = source_of(ct, role, layer);
  if (!*src || !dst)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: no text role %d at layer %d",
                        ct ? tc_clip_text_path(ct) : "(null)", (int)role, layer);
  size_t need = tc_clip_text_role_numel(ct, role);
  if (count < need)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: text %s needs %zu values, the destination holds %zu",
                        tc_clip_text_path(ct), tc_text_role_name(role), need, count);
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

tc_status tc_clip_text_get_f32(const tc_clip_text *ct, tc_text_role role, int layer, float *dst, size_t count,
                               tc_error *err)
{
  const source *src;
  tc_status s = check_request(ct, role, layer, dst, count, &src, err);
  if (s)
    return s;
  if (src->transpose) {
    const tc_st_tensor *t = src->t[0];
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++)
        dst[c * rows + r] = element_f32(t, r * cols + c);
    return TC_OK;
  }
  for (int k = 0; k < src->n && !s; k++) {
    s = tc_st_tensor_to_f32(ct->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return s;
}

tc_status tc_clip_text_get_f16(const tc_clip_text *ct, tc_text_role role, int layer, uint16_t *dst, size_t count,
                               tc_error *err)
{
  const source *src;
  tc_status s = check_request(ct, role, layer, dst, count, &src, err);
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
                              tc_clip_text_path(ct), t->name, r * cols + c, (double)f);
        dst[c * rows + r] = h;
      }
    return TC_OK;
  }
  for (int k = 0; k < src->n && !s; k++) {
    s = tc_st_tensor_to_f16(ct->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return s;
}

tc_status tc_clip_text_token_rows(const tc_clip_text *ct, const int32_t *ids, size_t n, float *dst, tc_error *err)
{
  const tc_st_tensor *t = ct->global[TC_TEXT_TOKEN_EMBED].t[0];
  const size_t W = (size_t)ct->cfg.width;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= ct->cfg.vocab)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: token id %d is outside the text model's vocabulary of "
                          "%d (tensor '%s'): tokenizer and weights do not match", tc_clip_text_path(ct), (int)ids[i],
                          ct->cfg.vocab, t->name);
    for (size_t c = 0; c < W; c++)
      dst[i * W + c] = element_f32(t, (size_t)ids[i] * W + c);
  }
  return TC_OK;
}
