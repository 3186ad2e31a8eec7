/* The part of the CLIP tower loaders that is the same for the image and
 * the text tower: see tc_clip_tower.h. */
#include "tc_clip_tower.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LAYERS 4096

tc_status tc_clip_tower_set_naming(tc_clip_tower *tw, tc_clip_naming naming, const char *name, size_t prefix_len,
                                   tc_error *err)
{
  free(tw->prefix);
  tw->naming = naming;
  tw->prefix = strndup(name, prefix_len);
  if (!tw->prefix)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", tc_clip_tower_path(tw));
  return TC_OK;
}

void tc_clip_tower_free(tc_clip_tower *tw)
{
  tc_safetensors_close(tw->st);
  free(tw->sources);
  free(tw->prefix);
  tw->st = NULL, tw->sources = NULL, tw->prefix = NULL;
}

const char *tc_clip_tower_path(const tc_clip_tower *tw) { return tc_safetensors_path(tw->st); }

const tc_clip_scheme *tc_clip_tower_scheme(const tc_clip_tower *tw) { return &tw->layout->schemes[tw->naming]; }

int tc_clip_tower_per_layer(const tc_clip_tower *tw, int role)
{
  return role >= tw->layout->block_first && role <= tw->layout->block_last;
}

int tc_clip_tower_parts(const tc_clip_tower *tw, int role)
{
  if (role < 0 || role >= tw->layout->role_count)
    return 1;
  return strchr(tc_clip_tower_scheme(tw)->names[role], '%') ? 3 : 1;
}

int tc_clip_name_ends_with(const char *name, const char *suffix)
{
  size_t n = strlen(name), m = strlen(suffix);
  return n >= m && memcmp(name + n - m, suffix, m) == 0 && (n == m || name[n - m - 1] == '.');
}

void tc_clip_tower_name(const tc_clip_tower *tw, int role, int layer, char which, char *out, size_t size)
{
  const tc_clip_scheme *s = tc_clip_tower_scheme(tw);
  char leaf[64];
  snprintf(leaf, sizeof leaf, s->names[role], which);
  if (tc_clip_tower_per_layer(tw, role)) {
    snprintf(out, size, "%s%s%d.%s", tw->prefix, s->blocks, layer, leaf);
  } else if (role == tw->layout->proj_role) {
    /* beside the module: model.text_model. -> model.text_projection.weight */
    size_t plen = strlen(tw->prefix), ml = strlen(s->module);
    if (plen >= ml && strcmp(tw->prefix + plen - ml, s->module) == 0)
      plen -= ml;
    snprintf(out, size, "%.*s%s", (int)plen, tw->prefix, leaf);
  } else {
    snprintf(out, size, "%s%s", tw->prefix, leaf);
  }
}

tc_status tc_clip_tower_find(const tc_clip_tower *tw, const char *name, int ndim, const int64_t *shape,
                             const tc_st_tensor **out, tc_error *err)
{
  tc_status st = tc_safetensors_get(tw->st, name, ndim, shape, out, err);
  if (st != TC_OK)
    return st;
  if ((*out)->dtype == TC_ST_OTHER)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; CLIP weights must be F32, F16 or BF16",
                        tc_clip_tower_path(tw), name, (*out)->dtype_name);
  return TC_OK;
}

tc_status tc_clip_tower_find_role(const tc_clip_tower *tw, int role, int ndim, const int64_t *shape,
                                  const tc_st_tensor **out, tc_error *err)
{
  char name[TC_CLIP_NAME_LEN];
  tc_clip_tower_name(tw, role, 0, 0, name, sizeof name);
  return tc_clip_tower_find(tw, name, ndim, shape, out, err);
}

tc_status tc_clip_tower_count_layers(tc_clip_tower *tw, const char *what, tc_error *err)
{
  const char *path = tc_clip_tower_path(tw);
  char blocks[TC_CLIP_NAME_LEN];
  snprintf(blocks, sizeof blocks, "%s%s", tw->prefix, tc_clip_tower_scheme(tw)->blocks);
  size_t blen = strlen(blocks);
  long max = -1;
  for (size_t i = 0; i < tc_safetensors_count(tw->st); i++) {
    const char *n = tc_safetensors_at(tw->st, i)->name;
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
    return tc_error_set(err, TC_ERR_FORMAT, "%s: no %stransformer blocks (no tensor named %s0.*)", path, what,
                        blocks);
  if (max >= MAX_LAYERS)
    return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: block %s%ld: more than %d layers", path, blocks, max,
                        MAX_LAYERS);
  tw->layers = (int)max + 1;
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

tc_status tc_clip_tower_heads(const tc_clip_tower *tw, int requested, const char *meta_key, int width,
                              const char *what, int *heads, tc_error *err)
{
  const char *path = tc_clip_tower_path(tw);
  int h = requested > 0 ? requested : 0;
  const char *meta = tc_safetensors_metadata(tw->st, meta_key);
  if (!h && meta && (h = parse_count(meta, width)) < 0)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ %s \"%s\" is not a count of heads", path, meta_key,
                        meta);
  if (!h) {
    if (width % 64)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: %s %d is not a multiple of 64 (CLIP's head size): give "
                          "the number of heads", path, what, width);
    h = width / 64;
  }
  if (width % h)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: %d heads do not divide the %s %d", path, h, what, width);
  *heads = h;
  return TC_OK;
}

tc_status tc_clip_tower_mlp_embed(const tc_clip_tower *tw, int mlp_fc_role, int width, int *mlp_dim,
                                  int *embed_dim, tc_error *err)
{
  const char *path = tc_clip_tower_path(tw);
  const tc_st_tensor *t;
  tc_status st = tc_clip_tower_find_role(tw, mlp_fc_role, 2, (int64_t[]){ -1, width }, &t, err);
  if (st != TC_OK)
    return st;
  if (t->shape[0] <= 0 || t->shape[0] > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': MLP size %lld", path, t->name,
                        (long long)t->shape[0]);
  *mlp_dim = (int)t->shape[0];

  int hf = tw->naming == TC_CLIP_NAMING_HF; /* [embed, width]; open_clip's is [width, embed] */
  st = tc_clip_tower_find_role(tw, tw->layout->proj_role, 2,
                               hf ? (int64_t[]){ -1, width } : (int64_t[]){ width, -1 }, &t, err);
  if (st != TC_OK)
    return st;
  int64_t embed = hf ? t->shape[0] : t->shape[1];
  if (embed <= 0 || embed > (1 << 20))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': embed size %lld", path, t->name, (long long)embed);
  *embed_dim = (int)embed;
  return TC_OK;
}

tc_status tc_clip_tower_act(const tc_clip_tower *tw, tc_act requested, tc_act *act, tc_error *err)
{
  const char *path = tc_clip_tower_path(tw);
  if (requested != TC_ACT_NONE) {
    if (requested != TC_ACT_QUICK_GELU && requested != TC_ACT_GELU)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: activation %d is not GELU or QuickGELU", path,
                          (int)requested);
    *act = requested;
    return TC_OK;
  }
  *act = TC_ACT_QUICK_GELU; /* OpenAI's CLIP weights were trained with it */
  const char *hidden_act = tc_safetensors_metadata(tw->st, "hidden_act");
  const char *quick = tc_safetensors_metadata(tw->st, "quick_gelu");
  if (hidden_act) {
    if (strcmp(hidden_act, "gelu") == 0)
      *act = TC_ACT_GELU;
    else if (strcmp(hidden_act, "quick_gelu") != 0)
      return tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: __metadata__ hidden_act \"%s\" is not supported (\"gelu\" or "
                          "\"quick_gelu\"; the caller may override it)", path, hidden_act);
  } else if (quick) {
    if (strcasecmp(quick, "false") == 0)
      *act = TC_ACT_GELU;
    else if (strcasecmp(quick, "true") != 0)
      return tc_error_set(err, TC_ERR_FORMAT, "%s: __metadata__ quick_gelu \"%s\" is not true or false", path, quick);
  }
  return TC_OK;
}

static tc_clip_source *slot(const tc_clip_tower *tw, int role, int layer)
{
  if (!tw->sources || role < 0 || role >= tw->layout->role_count)
    return NULL;
  if (tc_clip_tower_per_layer(tw, role))
    return layer >= 0 && layer < tw->layers ? &tw->sources[(size_t)(1 + layer) * tw->layout->role_count + role]
                                            : NULL;
  return layer == 0 ? &tw->sources[role] : NULL;
}

static tc_status bind_role(const tc_clip_tower *tw, const void *loader, int role, int layer, tc_clip_source *src,
                           tc_error *err)
{
  int64_t shape[4] = { 1, 1, 1, 1 };
  int ndim = tw->layout->file_shape(loader, role, shape);
  char name[TC_CLIP_NAME_LEN];
  src->n = tc_clip_tower_parts(tw, role);
  src->transpose = role == tw->layout->proj_role && tw->naming == TC_CLIP_NAMING_OPENCLIP;
  for (int k = 0; k < src->n; k++) {
    tc_clip_tower_name(tw, role, layer, "qkv"[k], name, sizeof name);
    tc_status st = tc_clip_tower_find(tw, name, ndim, shape, &src->t[k], err);
    if (st != TC_OK)
      return st;
  }
  return TC_OK;
}

tc_status tc_clip_tower_bind(tc_clip_tower *tw, const void *loader, tc_error *err)
{
  const int roles = tw->layout->role_count;
  tw->sources = calloc((size_t)(1 + tw->layers) * (size_t)roles, sizeof *tw->sources);
  if (!tw->sources)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "%s: out of memory", tc_clip_tower_path(tw));
  tc_status st = TC_OK;
  for (int r = 0; st == TC_OK && r < roles; r++) {
    int layers = tc_clip_tower_per_layer(tw, r) ? tw->layers : 1;
    for (int l = 0; st == TC_OK && l < layers; l++)
      st = bind_role(tw, loader, r, l, slot(tw, r, l), err);
  }
  return st;
}

const tc_clip_source *tc_clip_tower_source(const tc_clip_tower *tw, int role, int layer)
{
  return slot(tw, role, layer);
}

float tc_clip_element_f32(const tc_st_tensor *t, size_t i)
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

tc_status tc_clip_source_get_f32(const tc_clip_tower *tw, const tc_clip_source *src, float *dst, tc_error *err)
{
  if (src->transpose) {
    const tc_st_tensor *t = src->t[0];
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1]; /* [width, embed] */
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++)
        dst[c * rows + r] = tc_clip_element_f32(t, r * cols + c);
    return TC_OK;
  }
  tc_status st = TC_OK;
  for (int k = 0; k < src->n && st == TC_OK; k++) {
    st = tc_st_tensor_to_f32(tw->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return st;
}

tc_status tc_clip_source_get_f16(const tc_clip_tower *tw, const tc_clip_source *src, uint16_t *dst,
                                 tc_error *err)
{
  if (src->transpose) {
    const tc_st_tensor *t = src->t[0];
    size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1];
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++) {
        float f = tc_clip_element_f32(t, r * cols + c);
        uint16_t h = tc_f32_to_f16(f);
        if (isfinite(f) && (h & 0x7fff) == 0x7c00)
          return tc_error_set(err, TC_ERR_NUMERIC, "%s: tensor '%s': element %zu (%g) overflows float16",
                              tc_clip_tower_path(tw), t->name, r * cols + c, (double)f);
        dst[c * rows + r] = h;
      }
    return TC_OK;
  }
  tc_status st = TC_OK;
  for (int k = 0; k < src->n && st == TC_OK; k++) {
    st = tc_st_tensor_to_f16(tw->st, src->t[k], dst, err);
    dst += src->t[k]->numel;
  }
  return st;
}

/* ---- a bound role by number ---- */

const char *tc_clip_tower_role_name(const tc_clip_tower *tw, int role)
{
  return role >= 0 && role < tw->layout->role_count ? tw->layout->role_names[role] : "unknown role";
}

size_t tc_clip_tower_role_numel(const tc_clip_tower *tw, int role)
{
  const tc_clip_source *src = slot(tw, role, 0);
  size_t n = 0;
  for (int k = 0; src && k < src->n; k++)
    n += src->t[k]->numel;
  return n;
}

void tc_clip_tower_role_matrix(const tc_clip_tower *tw, int role, uint32_t *rows, uint32_t *cols)
{
  const tc_clip_source *src = slot(tw, role, 0);
  size_t n = tc_clip_tower_role_numel(tw, role), r = 0;
  for (int k = 0; src && k < src->n; k++)
    r += (size_t)(src->transpose ? src->t[k]->shape[1] : src->t[k]->shape[0]);
  if (!src || src->t[0]->ndim < 2)
    r = n;
  *rows = (uint32_t)r;
  *cols = r ? (uint32_t)(n / r) : 0;
}

tc_st_dtype tc_clip_tower_role_dtype(const tc_clip_tower *tw, int role, int layer)
{
  const tc_clip_source *src = slot(tw, role, layer);
  return src ? src->t[0]->dtype : TC_ST_OTHER;
}

tc_dtype tc_clip_tower_matrix_dtype(const tc_clip_tower *tw, int role, int layer, tc_weight_precision wp)
{
  if (wp == TC_WEIGHTS_F16)
    return TC_F16;
  if (wp == TC_WEIGHTS_AS_STORED && tc_clip_tower_role_dtype(tw, role, layer) == TC_ST_F16)
    return TC_F16;
  return TC_F32;
}

static tc_status check_request(const tc_clip_tower *tw, int role, int layer, const void *dst, size_t count,
                               const tc_clip_source **src, tc_error *err)
{
  const char *what = tw->layout->what;
  *src = slot(tw, role, layer);
  if (!*src || !dst)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: no %srole %d at layer %d (%d layers; global roles take "
                        "layer 0)", tc_clip_tower_path(tw), what, role, layer, tw->layers);
  size_t need = tc_clip_tower_role_numel(tw, role);
  if (count < need)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: %s%s needs %zu values, the destination holds %zu",
                        tc_clip_tower_path(tw), what, tc_clip_tower_role_name(tw, role), need, count);
  return TC_OK;
}

tc_status tc_clip_tower_get_f32(const tc_clip_tower *tw, int role, int layer, float *dst, size_t count,
                                tc_error *err)
{
  const tc_clip_source *src;
  tc_status st = check_request(tw, role, layer, dst, count, &src, err);
  return st != TC_OK ? st : tc_clip_source_get_f32(tw, src, dst, err);
}

tc_status tc_clip_tower_get_f16(const tc_clip_tower *tw, int role, int layer, uint16_t *dst, size_t count,
                                tc_error *err)
{
  const tc_clip_source *src;
  tc_status st = check_request(tw, role, layer, dst, count, &src, err);
  return st != TC_OK ? st : tc_clip_source_get_f16(tw, src, dst, err);
}
