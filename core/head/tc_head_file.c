/* Head files (tc_head_file.h) through the safetensors reader. */
#include "tc_head_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_common.h"
#include "tc_safetensors.h"

void tc_head_file_free(tc_head_file *f)
{
  if (f) {
    free(f->subspaces);
    *f = (tc_head_file){ 0 };
  }
}

/* Element i of an integer or float tensor, as a double. */
static tc_status element(const tc_safetensors *st, const tc_st_tensor *t, size_t i, double *value, tc_error *err)
{
  if (strcmp(t->dtype_name, "I64") == 0) {
    int64_t v;
    memcpy(&v, (const char *)t->data + 8 * i, 8);
    *value = (double)v;
  } else if (strcmp(t->dtype_name, "I32") == 0) {
    int32_t v;
    memcpy(&v, (const char *)t->data + 4 * i, 4);
    *value = v;
  } else {
    float all[TC_MAX_FEATURE_LAYERS];
    tc_status s = tc_st_tensor_to_f32(st, t, all, err);
    if (s != TC_OK)
      return s;
    *value = all[i];
  }
  return TC_OK;
}

/* The value of a one-element tensor, float or integer; *found = 0 when the
 * file does not have it. */
static tc_status scalar(const tc_safetensors *st, const char *name, double *value, int *found, tc_error *err)
{
  const tc_st_tensor *t = tc_safetensors_find(st, name);
  *found = t != NULL;
  if (!t)
    return TC_OK;
  if (t->numel != 1 || t->ndim > 1)
    return tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor '%s' should hold one value, not %zu in %d dimensions",
                        tc_safetensors_path(st), name, t->numel, t->ndim);
  return element(st, t, 0, value, err);
}

/* A list default (feature_layers): a tensor [n] of whole numbers; *found = 0
 * when the file does not have it. */
static tc_status list(const tc_safetensors *st, const tc_param_info *in, tc_params *p, int *found, tc_error *err)
{
  const char *path = tc_safetensors_path(st), *name = in->name;
  const tc_st_tensor *t = tc_safetensors_find(st, name);
  *found = t != NULL;
  if (!t)
    return TC_OK;
  char want[160];
  tc_param_requirement(in->id, 0, want, sizeof want);
  if (t->ndim != 1 || t->numel < 1 || t->numel > TC_MAX_FEATURE_LAYERS)
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' has %zu values in %d dimensions; it must be [n], %s",
                        path, name, t->numel, t->ndim, want);
  uint32_t v[TC_MAX_FEATURE_LAYERS];
  for (size_t i = 0; i < t->numel; i++) {
    double d = 0;
    tc_status s = element(st, t, i, &d, err);
    if (s != TC_OK)
      return s;
    if (!(d >= 0 && d <= UINT32_MAX && d == floor(d)))
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' holds %g; it must be %s", path, name, d, want);
    v[i] = (uint32_t)d;
  }
  if (tc_param_check_list(in->id, v, (uint32_t)t->numel, NULL) != TC_OK) {
    char got[160] = "";
    for (size_t i = 0, k = 0; i < t->numel && k < sizeof got - 16; i++)
      k += (size_t)snprintf(got + k, sizeof got - k, "%s%u", i ? "," : "", v[i]);
    return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' is [%s]; it must be %s", path, name, got, want);
  }
  return tc_params_set_list(p, in->id, v, (uint32_t)t->numel, err);
}

/* Reads the defaults the file holds into a copy of tc_params_init's values,
 * given back only when all are valid. */
static tc_status read_defaults(const tc_safetensors *st, uint32_t Q, tc_params *out, tc_error *err)
{
  tc_params p;
  tc_params_init(&p);
  tc_status s = TC_OK;
  for (int i = 0; i < TC_PARAM_COUNT && s == TC_OK; i++) {
    const tc_param_info *in = tc_param_info_of((tc_param)i);
    double v = 0;
    int found;
    if (!(in->flags & TC_PARAM_IN_HEAD_FILE))
      continue;
    if (in->kind == TC_PARAM_KIND_LIST) {
      s = list(st, in, &p, &found, err);
      continue;
    }
    s = scalar(st, in->name, &v, &found, err);
    if (s != TC_OK || !found)
      continue;
    if (tc_param_check_value(in->id, v, Q, NULL) != TC_OK) {
      char want[160];
      tc_param_requirement(in->id, Q, want, sizeof want);
      return tc_error_set(err, TC_ERR_FORMAT, "%s: tensor '%s' is %g; it must be %s", tc_safetensors_path(st),
                          in->name, v, want);
    }
    s = tc_params_set(&p, in->id, v, err);
  }
  if (s == TC_OK)
    *out = p;
  return s;
}

/* Every subspace vector finite and not zero. */
static tc_status check_subspaces(const char *path, const float *t, uint32_t Q, uint32_t D, tc_error *err)
{
  for (uint32_t j = 0; j < 2 * Q; j++) {
    double ss = 0;
    for (uint32_t d = 0; d < D; d++) {
      float x = t[(size_t)j * D + d];
      if (!isfinite(x))
        return tc_error_set(err, TC_ERR_NUMERIC, "%s: subspace %u (%s) has a non-finite value at %u", path, j / 2,
                            j % 2 ? "abnormal" : "normal", d);
      ss += (double)x * x;
    }
    if (ss == 0)
      return tc_error_set(err, TC_ERR_NUMERIC, "%s: subspace %u (%s) is all zeros", path, j / 2,
                          j % 2 ? "abnormal" : "normal");
  }
  return TC_OK;
}

tc_status tc_head_file_load(const char *path, uint32_t expected_dim, tc_head_file *out, tc_params *defaults,
                            tc_error *err)
{
  *out = (tc_head_file){ 0 };
  tc_safetensors *st = NULL;
  tc_status s = tc_safetensors_open(path, &st, err);
  if (s != TC_OK)
    return s;
  const tc_st_tensor *t = tc_safetensors_find(st, "subspaces");
  if (!t) {
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: no tensor 'subspaces' (a head file holds subspaces [Q, 2, D])", path);
  } else if (t->ndim != 3 || t->shape[1] != 2) {
    s = tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor 'subspaces' has %d dimensions%s; expected [Q, 2, D]", path,
                     t->ndim, t->ndim == 3 ? " and a middle one other than 2" : "");
  } else if (t->shape[0] == 0) {
    s = tc_error_set(err, TC_ERR_FORMAT, "%s: tensor 'subspaces' holds no subspaces (Q = 0)", path);
  } else if (t->shape[0] > TC_MAX_SUBSPACES) {
    s = tc_error_set(err, TC_ERR_UNSUPPORTED, "%s: tensor 'subspaces' holds %lld subspaces; at most %u are supported",
                     path, (long long)t->shape[0], TC_MAX_SUBSPACES);
  } else if (t->shape[2] == 0 || t->shape[0] > UINT32_MAX / 2 || t->shape[2] > UINT32_MAX) {
    s = tc_error_set(err, TC_ERR_MISMATCH, "%s: tensor 'subspaces' has an unusable shape [%lld, 2, %lld]", path,
                     (long long)t->shape[0], (long long)t->shape[2]);
  } else if (expected_dim && t->shape[2] != expected_dim) {
    s = tc_error_set(err, TC_ERR_MISMATCH, "%s: subspaces have dimension %lld but the encoder's embeddings have %u",
                     path, (long long)t->shape[2], expected_dim);
  }
  uint32_t Q = t && s == TC_OK ? (uint32_t)t->shape[0] : 0, D = t && s == TC_OK ? (uint32_t)t->shape[2] : 0;
  float *sub = NULL;
  if (s == TC_OK && !(sub = malloc(t->numel * sizeof *sub)))
    s = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  if (s == TC_OK)
    s = tc_st_tensor_to_f32(st, t, sub, err);
  if (s == TC_OK)
    s = check_subspaces(path, sub, Q, D, err);
  tc_params file_defaults;
  if (s == TC_OK)
    s = read_defaults(st, Q, &file_defaults, err);
  tc_safetensors_close(st);
  if (s != TC_OK) {
    free(sub);
    return s;
  }
  if (defaults)
    *defaults = file_defaults;
  *out = (tc_head_file){ .Q = Q, .D = D, .subspaces = sub };
  return TC_OK;
}

tc_status tc_head_file_write(const char *path, const float *subspaces, uint32_t Q, uint32_t D, int half,
                             const tc_params *defaults, tc_error *err)
{
  size_t n = 2 * (size_t)Q * D;
  uint16_t *h = NULL;
  if (half) {
    if (!(h = malloc(n * sizeof *h)))
      return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++)
      h[i] = tc_f32_to_f16(subspaces[i]);
  }
  float scalars[TC_PARAM_COUNT][TC_MAX_FEATURE_LAYERS] = { { 0 } };
  tc_st_write_tensor ts[1 + TC_PARAM_COUNT] = {
    { .name = "subspaces", .dtype = half ? TC_ST_F16 : TC_ST_F32, .ndim = 3, .shape = { Q, 2, D },
      .data = half ? (const void *)h : (const void *)subspaces },
  };
  size_t count = 1;
  for (int i = 0; defaults && i < TC_PARAM_COUNT; i++) {
    const tc_param_info *in = tc_param_info_of((tc_param)i);
    if (!(in->flags & TC_PARAM_IN_HEAD_FILE) || !tc_params_is_set(defaults, in->id))
      continue;
    int64_t n = 1;
    if (in->kind == TC_PARAM_KIND_LIST) { /* as F32 [n]: readers take whole-valued floats */
      uint32_t v[TC_MAX_FEATURE_LAYERS];
      n = tc_params_get_list(defaults, in->id, v, TC_MAX_FEATURE_LAYERS);
      for (int64_t k = 0; k < n; k++)
        scalars[i][k] = (float)v[k];
    } else {
      scalars[i][0] = (float)tc_params_get(defaults, in->id);
    }
    ts[count++] = (tc_st_write_tensor){ .name = in->name, .dtype = TC_ST_F32, .ndim = 1, .shape = { n },
                                        .data = scalars[i] };
  }
  tc_status st = tc_safetensors_write(path, ts, count, NULL, err);
  free(h);
  return st;
}
