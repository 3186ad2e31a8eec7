/* CLIP text tower: its roles and names, how the tower is found, the
 * configuration from shapes and the token rows; binding and conversion are
 * tc_clip_tower's (shared with the image tower). */
#include "tc_clip_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_clip_tower.h"

_Static_assert(TC_TEXT_LN_1_WEIGHT + TC_BLOCK_QKV_WEIGHT == TC_TEXT_QKV_WEIGHT &&
                 TC_TEXT_LN_1_WEIGHT + TC_BLOCK_MLP_FC_WEIGHT == TC_TEXT_MLP_FC_WEIGHT &&
                 TC_TEXT_LN_1_WEIGHT + TC_BLOCK_ROLE_COUNT - 1 == TC_TEXT_MLP_PROJ_BIAS,
               "the text block's roles in tc_clip_block_role's order");

struct tc_clip_text {
  tc_clip_tower tw; /* prefix: "", "model.", "text_model." ... */
  tc_clip_text_config cfg;
};

/* module: HF's "text_model."; open_clip's text tower sits at the model's
 * root (its names below need no module). */
static const tc_clip_scheme schemes[2] = {
  [TC_CLIP_NAMING_HF] = {
    .module = "text_model.",
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
    .module = "",
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

/* The tower: HF's text_model.embeddings.token_embedding.weight, or
 * open_clip's token_embedding.weight with a positional_embedding beside it. */
static tc_status find_tower(tc_clip_text *ct, tc_error *err)
{
  const tc_safetensors *st = ct->tw.st;
  const char *path = tc_safetensors_path(st);
  int found = 0;
  char name[TC_CLIP_NAME_LEN];
  for (size_t i = 0; i < tc_safetensors_count(st); i++) {
    const char *n = tc_safetensors_at(st, i)->name;
    for (int k = 0; k < 2; k++) {
      const tc_clip_scheme *s = &schemes[k];
      char anchor[128];
      snprintf(anchor, sizeof anchor, "%s%s", s->module, s->names[TC_TEXT_TOKEN_EMBED]);
      if (!tc_clip_name_ends_with(n, anchor))
        continue;
      size_t plen = strlen(n) - strlen(s->names[TC_TEXT_TOKEN_EMBED]);
      if (plen + 64 >= sizeof name)
        continue;
      snprintf(name, sizeof name, "%.*s%s", (int)plen, n, s->names[TC_TEXT_POS_EMBED]);
      if (!tc_safetensors_find(st, name))
        continue;
      if (found)
        return tc_error_set(err, TC_ERR_FORMAT, "%s: two CLIP text towers (prefixes '%s' and '%.*s'): cannot choose",
                            path, ct->tw.prefix, (int)plen, n);
      tc_status e = tc_clip_tower_set_naming(&ct->tw, (tc_clip_naming)k, n, plen, err);
      if (e)
        return e;
      found = 1;
    }
  }
  if (!found)
    return tc_error_set(err, TC_ERR_FORMAT, "no CLIP text tower in %s (expected text_model.embeddings."
                        "token_embedding.weight or token_embedding.weight + positional_embedding): zero-shot "
                        "prompts need the text encoder's weights", path);
  return TC_OK;
}

/* Expected file shape of a role (before q/k/v stacking or transposition). */
static int file_shape(const void *loader, int role, int64_t shape[4])
{
  const tc_clip_text *ct = loader;
  const tc_clip_text_config *c = &ct->cfg;
  int64_t W = c->width, M = c->mlp_dim, E = c->embed_dim;
  int hf = ct->tw.naming == TC_CLIP_NAMING_HF;
  switch ((tc_text_role)role) {
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

static const tc_clip_layout layout = {
  .schemes = schemes,
  .what = "text ",
  .role_names = role_names,
  .role_count = TC_TEXT_ROLE_COUNT,
  .block_first = TC_TEXT_LN_1_WEIGHT,
  .block_last = TC_TEXT_MLP_PROJ_BIAS,
  .proj_role = TC_TEXT_PROJ,
  .file_shape = file_shape,
};

/* Vocabulary, width, context, heads, layers, MLP and embed sizes from the shapes. */
static tc_status derive_config(tc_clip_text *ct, const tc_clip_text_options *opts, tc_error *err)
{
  const char *path = tc_clip_text_path(ct);
  tc_clip_text_config *c = &ct->cfg;
  const tc_st_tensor *t;
  tc_status st;

  st = tc_clip_tower_find_role(&ct->tw, TC_TEXT_TOKEN_EMBED, 2, (int64_t[]){ -1, -1 }, &t, err);
  if (st != TC_OK)
    return st;
  if (t->shape[0] <= 0 || t->shape[0] > (1 << 24) || t->shape[1] <= 0 || t->shape[1] > (1 << 16))
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' has shape [%lld, %lld]: not a token embedding",
                        path, t->name, (long long)t->shape[0], (long long)t->shape[1]);
  c->vocab = (int)t->shape[0];
  c->width = (int)t->shape[1];

  st = tc_clip_tower_find_role(&ct->tw, TC_TEXT_POS_EMBED, 2, (int64_t[]){ -1, c->width }, &t, err);
  if (st != TC_OK)
    return st;
  if (t->shape[0] < 2 || t->shape[0] > 4096)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s': context of %lld positions", path, t->name,
                        (long long)t->shape[0]);
  c->context = (int)t->shape[0];

  st = tc_clip_tower_heads(&ct->tw, opts ? opts->heads : 0, "text_num_attention_heads", c->width, "text width",
                           &c->heads, err);
  if (st != TC_OK)
    return st;
  c->head_dim = c->width / c->heads;
  st = tc_clip_tower_count_layers(&ct->tw, "text ", err);
  if (st != TC_OK)
    return st;
  c->layers = ct->tw.layers;
  st = tc_clip_tower_mlp_embed(&ct->tw, TC_TEXT_MLP_FC_WEIGHT, c->width, &c->mlp_dim, &c->embed_dim, err);
  if (st != TC_OK)
    return st;
  c->ln_eps = 1e-5f;
  return tc_clip_tower_act(&ct->tw, opts ? opts->act : TC_ACT_NONE, &c->act, err);
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
  ct->tw.layout = &layout;
  tc_status st = tc_safetensors_open(path, &ct->tw.st, err);
  if (st == TC_OK)
    st = find_tower(ct, err);
  if (st == TC_OK)
    st = derive_config(ct, options, err);
  if (st == TC_OK)
    st = tc_clip_tower_bind(&ct->tw, ct, err);
  if (st != TC_OK) {
    tc_clip_text_close(ct);
    return st;
  }
  *out = ct;
  return TC_OK;
}

void tc_clip_text_close(tc_clip_text *ct)
{
  if (!ct)
    return;
  tc_clip_tower_free(&ct->tw);
  free(ct);
}

const tc_clip_text_config *tc_clip_text_get_config(const tc_clip_text *ct) { return &ct->cfg; }
tc_clip_naming tc_clip_text_naming(const tc_clip_text *ct) { return ct->tw.naming; }
const char *tc_clip_text_path(const tc_clip_text *ct) { return tc_clip_tower_path(&ct->tw); }

const tc_clip_tower *tc_clip_text_tower(const tc_clip_text *ct) { return &ct->tw; }

size_t tc_clip_text_role_numel(const tc_clip_text *ct, tc_text_role role)
{
  return tc_clip_tower_role_numel(&ct->tw, (int)role);
}

tc_st_dtype tc_clip_text_role_dtype(const tc_clip_text *ct, tc_text_role role, int layer)
{
  return ct ? tc_clip_tower_role_dtype(&ct->tw, (int)role, layer) : TC_ST_OTHER;
}

tc_status tc_clip_text_get_f32(const tc_clip_text *ct, tc_text_role role, int layer, float *dst, size_t count,
                               tc_error *err)
{
  if (!ct)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_text_get_f32: no model");
  return tc_clip_tower_get_f32(&ct->tw, (int)role, layer, dst, count, err);
}

tc_status tc_clip_text_get_f16(const tc_clip_text *ct, tc_text_role role, int layer, uint16_t *dst, size_t count,
                               tc_error *err)
{
  if (!ct)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_clip_text_get_f16: no model");
  return tc_clip_tower_get_f16(&ct->tw, (int)role, layer, dst, count, err);
}

tc_status tc_clip_text_token_rows(const tc_clip_text *ct, const int32_t *ids, size_t n, float *dst, tc_error *err)
{
  const tc_st_tensor *t = tc_clip_tower_source(&ct->tw, TC_TEXT_TOKEN_EMBED, 0)->t[0];
  const size_t W = (size_t)ct->cfg.width;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= ct->cfg.vocab)
      return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: token id %d is outside the text model's vocabulary of "
                          "%d (tensor '%s'): tokenizer and weights do not match", tc_clip_text_path(ct), (int)ids[i],
                          ct->cfg.vocab, t->name);
    for (size_t c = 0; c < W; c++)
      dst[i * W + c] = tc_clip_element_f32(t, (size_t)ids[i] * W + c);
  }
  return TC_OK;
}
