/* Prompt ensembles -> textual subspaces T [Q, 2, D]. */
#include "tc_prompts.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_text_encoder.h"
#include "tc_unicode.h"

/* WinCLIP's (and APRIL-GAN's) 35 templates. */
const char *const tc_prompt_templates[] = {
  "a bad photo of a {}.",
  "a low resolution photo of the {}.",
  "a bad photo of the {}.",
  "a cropped photo of the {}.",
  "a bright photo of a {}.",
  "a dark photo of the {}.",
  "a photo of my {}.",
  "a photo of the cool {}.",
  "a close-up photo of a {}.",
  "a black and white photo of the {}.",
  "a bright photo of the {}.",
  "a cropped photo of a {}.",
  "a jpeg corrupted photo of a {}.",
  "a blurry photo of the {}.",
  "a photo of the {}.",
  "a good photo of the {}.",
  "a photo of one {}.",
  "a close-up photo of the {}.",
  "a photo of a {}.",
  "a low resolution photo of a {}.",
  "a photo of a large {}.",
  "a blurry photo of a {}.",
  "a jpeg corrupted photo of the {}.",
  "a good photo of a {}.",
  "a photo of the small {}.",
  "a photo of the large {}.",
  "a black and white photo of a {}.",
  "a dark photo of a {}.",
  "a photo of a cool {}.",
  "a photo of a small {}.",
  "there is a {} in the scene.",
  "there is the {} in the scene.",
  "this is a {} in the scene.",
  "this is the {} in the scene.",
  "this is one {} in the scene.",
};
const uint32_t tc_prompt_templates_count = sizeof tc_prompt_templates / sizeof tc_prompt_templates[0];

const char *const tc_prompt_normal_states[] = {
  "{}", "flawless {}", "perfect {}", "unblemished {}", "{} without flaw", "{} without defect", "{} without damage",
};
const uint32_t tc_prompt_normal_count = sizeof tc_prompt_normal_states / sizeof tc_prompt_normal_states[0];

const char *const tc_prompt_abnormal_states[] = {
  "damaged {}", "broken {}", "{} with flaw", "{} with defect", "{} with damage",
};
const uint32_t tc_prompt_abnormal_count = sizeof tc_prompt_abnormal_states / sizeof tc_prompt_abnormal_states[0];

static int count_holes(const char *s)
{
  int n = 0;
  for (const char *p = s; (p = strstr(p, "{}")); p += 2)
    n++;
  return n;
}

void tc_prompt_templates_free(char **templates, uint32_t n)
{
  for (uint32_t i = 0; templates && i < n; i++)
    free(templates[i]);
  free(templates);
}

tc_status tc_prompt_templates_load(const char *path, char ***templates, uint32_t *n, tc_error *err)
{
  *templates = NULL;
  *n = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return tc_error_set(err, TC_ERR_IO, "%s: cannot open the prompt templates: %s", path, strerror(errno));
  char line[4096];
  char **list = NULL;
  uint32_t count = 0, cap = 0;
  tc_status st = TC_OK;
  for (unsigned lineno = 1; st == TC_OK && fgets(line, sizeof line, f); lineno++) {
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s:%u: line longer than %zu bytes", path, lineno, sizeof line - 2);
      break;
    }
    while (len && isspace((unsigned char)line[len - 1]))
      line[--len] = 0;
    char *s = line;
    while (isspace((unsigned char)*s))
      s++;
    if (!*s || *s == '#')
      continue;
    int holes = count_holes(s);
    if (holes != 1) {
      st = tc_error_set(err, TC_ERR_FORMAT, "%s:%u: a template needs exactly one \"{}\" for the object, \"%.*s\" "
                        "has %d", path, lineno, tc_utf8_prefix(s, 80), s, holes);
      break;
    }
    if (count == cap) {
      cap = cap ? 2 * cap : 16;
      char **p = realloc(list, cap * sizeof *p);
      if (!p) {
        st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
        break;
      }
      list = p;
    }
    if (!(list[count] = strdup(s)))
      st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    else
      count++;
  }
  if (st == TC_OK && ferror(f))
    st = tc_error_set(err, TC_ERR_IO, "%s: read error", path);
  fclose(f);
  if (st == TC_OK && count == 0)
    st = tc_error_set(err, TC_ERR_FORMAT, "%s: no templates (one per line, each with one \"{}\")", path);
  if (st != TC_OK) {
    tc_prompt_templates_free(list, count);
    return st;
  }
  *templates = list;
  *n = count;
  return TC_OK;
}

/* s with its first "{}" replaced by arg, malloc'ed. */
static char *substitute(const char *s, const char *arg)
{
  const char *hole = strstr(s, "{}");
  size_t n = strlen(s) + strlen(arg);
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  if (!hole) {
    strcpy(out, s);
    return out;
  }
  size_t pre = (size_t)(hole - s);
  memcpy(out, s, pre);
  strcpy(out + pre, arg);
  strcat(out, hole + 2);
  return out;
}

tc_status tc_prompt_format(const char *tmpl, const char *state, const char *object, char **out, tc_error *err)
{
  char *phrase = substitute(state, object);
  *out = phrase ? substitute(tmpl, phrase) : NULL;
  free(phrase);
  return *out ? TC_OK : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
}

static void normalise(float *v, uint32_t D)
{
  double s = 0;
  for (uint32_t i = 0; i < D; i++)
    s += (double)v[i] * v[i];
  float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
  for (uint32_t i = 0; i < D; i++)
    v[i] *= inv;
}

tc_status tc_prompt_subspaces_on(tc_context *ctx, const tc_clip_text *model, const tc_tokenizer *tok,
                                 const char *object, const char *const *templates, uint32_t n_templates, float **T,
                                 uint32_t *D_out, tc_error *err)
{
  *T = NULL;
  const char *o = object;
  while (o && isspace((unsigned char)*o))
    o++;
  if (!o || !*o)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no object name for the prompts");
  if (!n_templates)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no prompt templates");
  const tc_clip_text_config *cfg = tc_clip_text_get_config(model);
  if (tc_tokenizer_vocab_size(tok) > (uint32_t)cfg->vocab)
    return tc_error_set(err, TC_ERR_MISMATCH, "the vocabulary %s has %u tokens, the text model %s only %d: they do "
                        "not belong together", tc_tokenizer_path(tok), tc_tokenizer_vocab_size(tok),
                        tc_clip_text_path(model), cfg->vocab);
  const uint32_t S = tc_prompt_normal_count + tc_prompt_abnormal_count, n = n_templates * S;
  const uint32_t C = (uint32_t)cfg->context < TC_CLIP_CONTEXT ? (uint32_t)cfg->context : TC_CLIP_CONTEXT;
  const uint32_t D = (uint32_t)cfg->embed_dim;
  int32_t *ids = malloc((size_t)n * C * sizeof *ids);
  float *emb = malloc((size_t)n * D * sizeof *emb), *out = calloc((size_t)n_templates * 2 * D, sizeof *out);
  tc_status st = ids && emb && out ? TC_OK : tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  for (uint32_t q = 0; st == TC_OK && q < n_templates; q++)
    for (uint32_t s = 0; st == TC_OK && s < S; s++) {
      const char *state = s < tc_prompt_normal_count ? tc_prompt_normal_states[s]
                                                     : tc_prompt_abnormal_states[s - tc_prompt_normal_count];
      char *text;
      st = tc_prompt_format(templates[q], state, object, &text, err);
      if (st == TC_OK) {
        st = tc_tokenizer_tokenize(tok, text, C, ids + ((size_t)q * S + s) * C, NULL, err);
        if (st != TC_OK)
          tc_error_prefix(err, "template %u (\"%.*s\")", q + 1, tc_utf8_prefix(templates[q], 60), templates[q]);
        free(text);
      }
    }
  tc_text_encoder *te = NULL;
  if (st == TC_OK)
    st = tc_text_encoder_create(ctx, model, NULL, &te, err);
  if (st == TC_OK)
    st = tc_text_encoder_run(te, ids, n, C, emb, err);
  tc_text_encoder_destroy(te);
  for (uint32_t i = 0; st == TC_OK && i < n; i++) {
    for (uint32_t k = 0; k < D; k++)
      if (!isfinite(emb[(size_t)i * D + k])) {
        st = tc_error_set(err, TC_ERR_NUMERIC, "%s: the text embedding of prompt %u is not finite",
                          tc_clip_text_path(model), i);
        break;
      }
    normalise(emb + (size_t)i * D, D);
  }
  for (uint32_t q = 0; st == TC_OK && q < n_templates; q++) {
    float *normal = out + (size_t)q * 2 * D, *abnormal = normal + D;
    for (uint32_t s = 0; s < S; s++) {
      const float *e = emb + ((size_t)q * S + s) * D;
      float *dst = s < tc_prompt_normal_count ? normal : abnormal;
      float w = 1.0f / (float)(s < tc_prompt_normal_count ? tc_prompt_normal_count : tc_prompt_abnormal_count);
      for (uint32_t k = 0; k < D; k++)
        dst[k] += w * e[k];
    }
    normalise(normal, D);
    normalise(abnormal, D);
  }
  free(ids);
  free(emb);
  if (st != TC_OK) {
    free(out);
    return st;
  }
  *T = out;
  *D_out = D;
  return TC_OK;
}

tc_status tc_prompt_open_tokenizer(const char *model_path, const char *vocab_path, tc_tokenizer **out, tc_error *err)
{
  if (vocab_path && *vocab_path)
    return tc_tokenizer_open(vocab_path, out, err);
  /* beside the weights, else the installed vocabulary */
  char dir[4096];
  const char *slash = model_path ? strrchr(model_path, '/') : NULL;
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - model_path) : 1, slash ? model_path : ".");
  tc_error quiet = { 0 };
  if (tc_tokenizer_open(dir, out, &quiet) == TC_OK)
    return TC_OK;
  if (quiet.status != TC_ERR_IO) /* a vocabulary is there but broken: say so */
    return tc_error_set(err, quiet.status, "%s", quiet.message);
  return tc_tokenizer_open(NULL, out, err);
}

tc_status tc_prompt_subspaces(const char *model_path, const char *object, const char *templates_path,
                              const char *vocab_path, const char *device, float **T, uint32_t *Q, uint32_t *D,
                              tc_error *err)
{
  *T = NULL;
  *Q = *D = 0;
  char **loaded = NULL;
  uint32_t n = tc_prompt_templates_count;
  const char *const *templates = tc_prompt_templates;
  tc_clip_text *model = NULL;
  tc_tokenizer *tok = NULL;
  tc_context *ctx = NULL;
  tc_status st = TC_OK;
  if (!model_path || !*model_path)
    st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "no model file for the prompts");
  if (st == TC_OK && templates_path && *templates_path) {
    st = tc_prompt_templates_load(templates_path, &loaded, &n, err);
    templates = (const char *const *)loaded;
  }
  if (st == TC_OK)
    st = tc_clip_text_open(model_path, NULL, &model, err);
  if (st == TC_OK)
    st = tc_prompt_open_tokenizer(model_path, vocab_path, &tok, err);
  if (st == TC_OK) {
    tc_context_options opts;
    tc_context_options_init(&opts);
    opts.device = device;
    st = tc_context_create(&opts, &ctx, err);
  }
  if (st == TC_OK)
    st = tc_prompt_subspaces_on(ctx, model, tok, object, templates, n, T, D, err);
  if (st == TC_OK)
    *Q = n;
  tc_context_destroy(ctx);
  tc_tokenizer_close(tok);
  tc_clip_text_close(model);
  tc_prompt_templates_free(loaded, loaded ? n : 0);
  if (st != TC_OK)
    tc_error_prefix(err, "prompts for \"%.*s\"", object ? tc_utf8_prefix(object, 60) : 6,
                    object ? object : "(null)");
  return st;
}
