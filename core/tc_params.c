/* The analysis parameters: the table, defaults, merging, checking, and the
 * stages' structs (see tc_params.h). */
#include "tc_params.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "encoder/tc_encoder.h"
#include "head/tc_head.h"
#include "map/tc_map.h"

/* Every scalar field is 4 bytes: the table copies them by offset (lists by their size). */
_Static_assert(sizeof(tc_pos_interp) == 4 && sizeof(tc_resample_filter) == 4 && sizeof(tc_head_affinity) == 4 &&
                   sizeof(tc_colormap) == 4 && sizeof(tc_precision) == 4,
               "enum fields of tc_params are 4 bytes");
_Static_assert(TC_PARAM_COUNT <= 64, "tc_params.set has a bit per field");
/* The public position-interpolation values are the encoder's. */
_Static_assert((int)TC_POS_INTERP_BICUBIC == (int)TC_INTERP_BICUBIC &&
                   (int)TC_POS_INTERP_BICUBIC_AA == (int)TC_INTERP_BICUBIC_AA &&
                   (int)TC_POS_INTERP_BILINEAR == (int)TC_INTERP_BILINEAR,
               "tc_pos_interp matches tc_interp");

#define U(field) TC_PARAM_KIND_UINT, offsetof(tc_params, field), 4
#define F(field) TC_PARAM_KIND_FLOAT, offsetof(tc_params, field), 4
#define L(field) TC_PARAM_KIND_LIST, offsetof(tc_params, field), sizeof(((tc_params *)0)->field)
#define BOOL_MEANING "0 (off) or 1 (on)"
#define LOAD_FILE (TC_PARAM_LOAD_TIME | TC_PARAM_IN_HEAD_FILE)

static const tc_param_info table[TC_PARAM_COUNT] = {
  { TC_PARAM_INPUT_SIZE, "input_size", U(input_size), 0, TC_MAX_INPUT_SIZE, LOAD_FILE, "0: the model's own" },
  { TC_PARAM_VV_START, "vv_start", U(vv_start), 0, 1024, LOAD_FILE, "0: off" },
  { TC_PARAM_POS_INTERP, "pos_interp", U(pos_interp), 0, 2, LOAD_FILE,
    "0 (bicubic), 1 (bicubic-aa) or 2 (bilinear)" },
  { TC_PARAM_RESAMPLE, "resample", U(resample), 0, 2, LOAD_FILE, "0 (bicubic), 1 (bilinear) or 2 (bicubic-pil)" },
  { TC_PARAM_FEATURE_LAYERS, "feature_layers", L(feature_layers), 1, 1024, LOAD_FILE, NULL },
  { TC_PARAM_GLOBAL_LN_POST, "global_ln_post", U(global_ln_post), 0, 1, LOAD_FILE, BOOL_MEANING },
  { TC_PARAM_TEMPERATURE, "temperature", F(temperature), 0, INFINITY, TC_PARAM_IN_HEAD_FILE | TC_PARAM_MIN_EXCLUSIVE,
    NULL },
  { TC_PARAM_SINKHORN_EPS, "sinkhorn_eps", F(sinkhorn_eps), 0, INFINITY,
    TC_PARAM_IN_HEAD_FILE | TC_PARAM_MIN_EXCLUSIVE, NULL },
  { TC_PARAM_SINKHORN_ITERS, "sinkhorn_iters", U(sinkhorn_iters), 1, 1000000, TC_PARAM_IN_HEAD_FILE, NULL },
  { TC_PARAM_SINKHORN_TOL, "sinkhorn_tol", F(sinkhorn_tol), 0, INFINITY, 0, NULL },
  { TC_PARAM_TOPK, "topk", U(topk), 0, TC_MAX_SUBSPACES, TC_PARAM_IN_HEAD_FILE | TC_PARAM_MAX_SUBSPACES, "0: all" },
  { TC_PARAM_AFFINITY, "affinity", U(affinity), 0, 2, 0, "0 (max), 1 (mean) or 2 (abnormal)" },
  { TC_PARAM_GREEDY, "greedy", U(greedy), 0, 1, 0, BOOL_MEANING },
  { TC_PARAM_IMAGE_BLEND, "image_blend", F(image_blend), 0, 1, TC_PARAM_IN_HEAD_FILE, NULL },
  { TC_PARAM_SINKHORN_WARM_START, "sinkhorn_warm_start", U(sinkhorn_warm_start), 0, 1, 0, BOOL_MEANING },
  { TC_PARAM_SIGMA, "sigma", F(sigma), 0, 1000, TC_PARAM_IN_HEAD_FILE, NULL },
  { TC_PARAM_COLORMAP, "colormap", U(colormap), 0, 3, 0, "0 (turbo), 1 (jet), 2 (inferno) or 3 (gray)" },
  { TC_PARAM_ALPHA, "alpha", F(alpha), 0, 1, 0, NULL },
  { TC_PARAM_OVERLAY_THRESHOLD, "overlay_threshold", F(overlay_threshold), 0, 1, 0, NULL },
  { TC_PARAM_FIXED_RANGE, "fixed_range", U(fixed_range), 0, 1, 0, BOOL_MEANING },
  { TC_PARAM_RANGE_LO, "range_lo", F(range_lo), -INFINITY, INFINITY, 0, NULL },
  { TC_PARAM_RANGE_HI, "range_hi", F(range_hi), -INFINITY, INFINITY, 0, NULL },
  { TC_PARAM_KEEP_MAP, "keep_map", U(keep_map), 0, 1, 0, BOOL_MEANING },
  { TC_PARAM_THRESHOLD, "threshold", F(threshold), 0, 1, 0, NULL },
  { TC_PARAM_MAX_REGIONS, "max_regions", U(max_regions), 0, TC_MAX_REGIONS, 0, NULL },
  { TC_PARAM_INTERVAL, "interval", U(interval), 1, UINT32_MAX, 0, NULL },
  { TC_PARAM_PRECISION, "precision", U(precision), 0, 2, TC_PARAM_LOAD_TIME, "0 (auto), 1 (fp32) or 2 (fp16)" },
};

const tc_param_info *tc_param_info_of(tc_param id)
{
  return (unsigned)id < TC_PARAM_COUNT ? &table[id] : NULL;
}

const char *tc_param_name(tc_param id)
{
  const tc_param_info *p = tc_param_info_of(id);
  return p ? p->name : NULL;
}

static uint64_t bit(tc_param id) { return (uint64_t)1 << id; }

/* The head's and the map's defaults are their modules' own. */
void tc_params_init(tc_params *p)
{
  tc_head_params h;
  tc_map_params m;
  tc_head_params_default(&h);
  tc_map_params_init(&m);
  *p = (tc_params){
    .pos_interp = TC_POS_INTERP_BICUBIC,
    .resample = TC_RESAMPLE_BICUBIC,
    .global_ln_post = 1,
    .temperature = h.temperature,
    .sinkhorn_eps = h.sinkhorn_eps,
    .sinkhorn_iters = h.sinkhorn_iters,
    .sinkhorn_tol = h.sinkhorn_tol,
    .topk = h.topk,
    .affinity = h.affinity,
    .greedy = h.greedy != 0,
    .image_blend = h.image_blend,
    .sinkhorn_warm_start = h.sinkhorn_warm_start != 0,
    .sigma = m.sigma,
    .colormap = m.colormap,
    .alpha = m.alpha,
    .overlay_threshold = m.threshold,
    .fixed_range = m.fixed_range != 0,
    .range_lo = m.lo,
    .range_hi = m.hi,
    .keep_map = m.keep_map != 0,
    .threshold = 0.5f,
    .max_regions = 16,
    .interval = 1,
  };
}

/* A scalar field's value; a list's number of values. */
static double load(const tc_params *p, const tc_param_info *in)
{
  const char *field = (const char *)p + in->offset;
  if (in->kind == TC_PARAM_KIND_LIST)
    return tc_params_get_list(p, in->id, NULL, 0);
  if (in->kind == TC_PARAM_KIND_FLOAT) {
    float f;
    memcpy(&f, field, 4);
    return f;
  }
  uint32_t u;
  memcpy(&u, field, 4);
  return u;
}

static void store(tc_params *p, const tc_param_info *in, double v)
{
  char *field = (char *)p + in->offset;
  if (in->kind == TC_PARAM_KIND_FLOAT) {
    float f = (float)v;
    memcpy(field, &f, 4);
  } else {
    uint32_t u = (uint32_t)v;
    memcpy(field, &u, 4);
  }
}

void tc_param_requirement(tc_param id, uint32_t subspaces, char *buf, size_t size)
{
  const tc_param_info *in = tc_param_info_of(id);
  char base[96];
  if (!in) {
    snprintf(buf, size, "a known parameter");
    return;
  }
  if (in->kind == TC_PARAM_KIND_LIST) {
    snprintf(buf, size, "1 to %d layers from %.0f to %.0f, increasing (e.g. 6,12,18,24)", TC_MAX_FEATURE_LAYERS,
             in->min, in->max);
    return;
  }
  if (in->kind == TC_PARAM_KIND_UINT && in->meaning && in->max - in->min <= 3) {
    snprintf(buf, size, "%s", in->meaning); /* an enum or a switch: its values */
    return;
  }
  if (in->kind == TC_PARAM_KIND_UINT && (in->flags & TC_PARAM_MAX_SUBSPACES) && subspaces)
    snprintf(base, sizeof base, "a whole number from %.0f to Q = %u", in->min, subspaces);
  else if (in->kind == TC_PARAM_KIND_UINT)
    snprintf(base, sizeof base, "a whole number from %.0f to %.0f", in->min, in->max);
  else if (isinf(in->min) && isinf(in->max))
    snprintf(base, sizeof base, "a finite number");
  else if (isinf(in->max))
    snprintf(base, sizeof base, "%s", (in->flags & TC_PARAM_MIN_EXCLUSIVE) ? "a positive number" : "a number >= 0");
  else
    snprintf(base, sizeof base, "a number from %g to %g", in->min, in->max);
  snprintf(buf, size, "%s%s%s%s", base, in->meaning ? " (" : "", in->meaning ? in->meaning : "",
           in->meaning ? ")" : "");
}

tc_status tc_param_check_value(tc_param id, double v, uint32_t subspaces, tc_error *err)
{
  const tc_param_info *in = tc_param_info_of(id);
  if (!in)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)id);
  if (in->kind == TC_PARAM_KIND_LIST)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s is a list: it takes tc_params_set_list", in->name);
  double max = in->max;
  if ((in->flags & TC_PARAM_MAX_SUBSPACES) && subspaces && subspaces < max)
    max = subspaces;
  int ok = isfinite(v) && ((in->flags & TC_PARAM_MIN_EXCLUSIVE) ? v > in->min : v >= in->min) && v <= max &&
           (in->kind != TC_PARAM_KIND_UINT || v == floor(v));
  if (ok)
    return TC_OK;
  char want[160];
  tc_param_requirement(id, subspaces, want, sizeof want);
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s %g: must be %s", in->name, v, want);
}

tc_status tc_param_check_list(tc_param id, const uint32_t *v, uint32_t n, tc_error *err)
{
  const tc_param_info *in = tc_param_info_of(id);
  if (!in || in->kind != TC_PARAM_KIND_LIST)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s is not a list", in ? in->name : "an unknown parameter");
  int ok = n >= 1 && n <= TC_MAX_FEATURE_LAYERS;
  for (uint32_t i = 0; ok && i < n; i++)
    ok = v[i] >= in->min && v[i] <= in->max && (i == 0 || v[i] > v[i - 1]);
  if (ok)
    return TC_OK;
  char got[160] = "", want[160];
  for (uint32_t i = 0, k = 0; i < n && k < sizeof got - 16; i++)
    k += (uint32_t)snprintf(got + k, sizeof got - k, "%s%u", i ? "," : "", v[i]);
  tc_param_requirement(id, 0, want, sizeof want);
  return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s %s: must be %s", in->name, n ? got : "(none)", want);
}

void tc_param_format(const tc_params *p, tc_param id, char *buf, size_t size)
{
  const tc_param_info *in = tc_param_info_of(id);
  if (!in || size == 0) {
    if (size)
      *buf = 0;
    return;
  }
  if (in->kind != TC_PARAM_KIND_LIST) {
    snprintf(buf, size, "%g", load(p, in));
    return;
  }
  uint32_t v[TC_MAX_FEATURE_LAYERS];
  uint32_t n = tc_params_get_list(p, id, v, TC_MAX_FEATURE_LAYERS);
  size_t k = 0;
  *buf = 0;
  for (uint32_t i = 0; i < n && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, "%s%u", i ? "," : "", v[i]);
}

tc_status tc_params_set_list(tc_params *p, tc_param id, const uint32_t *values, uint32_t n, tc_error *err)
{
  TC_REQUIRE(p, err);
  if (n && !values)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_params_set_list: %u values at NULL", n);
  const tc_param_info *in = tc_param_info_of(id);
  tc_status st = n == 0 && in && in->kind == TC_PARAM_KIND_LIST ? TC_OK : tc_param_check_list(id, values, n, err);
  if (st != TC_OK)
    return st;
  if (n == 0) {
    tc_params_unset(p, id);
    return TC_OK;
  }
  uint32_t *field = (uint32_t *)((char *)p + in->offset);
  memset(field, 0, in->size);
  memcpy(field, values, n * sizeof *values);
  p->set |= bit(id);
  return TC_OK;
}

uint32_t tc_params_get_list(const tc_params *p, tc_param id, uint32_t *out, uint32_t max)
{
  const tc_param_info *in = tc_param_info_of(id);
  if (!in || in->kind != TC_PARAM_KIND_LIST)
    return 0;
  const uint32_t *field = (const uint32_t *)((const char *)p + in->offset);
  uint32_t n = 0;
  while (n < in->size / sizeof *field && field[n])
    n++;
  for (uint32_t i = 0; out && i < n && i < max; i++)
    out[i] = field[i];
  return n;
}

uint32_t tc_params_feature_layers(const tc_params *p, uint32_t *out)
{
  return tc_params_get_list(p, TC_PARAM_FEATURE_LAYERS, out, TC_MAX_FEATURE_LAYERS);
}

uint32_t tc_params_default_vv_start(uint32_t layers)
{
  uint32_t s = (layers + 2) / 4; /* round(L / 4), halves up */
  return s ? s : 1;
}

void tc_params_resolve_model(tc_params *p, uint64_t given, uint32_t layers)
{
  if (!(given & bit(TC_PARAM_VV_START)))
    p->vv_start = tc_params_default_vv_start(layers);
  if (!tc_params_feature_layers(p, NULL)) {
    memset(p->feature_layers, 0, sizeof p->feature_layers);
    p->feature_layers[0] = layers;
  }
}

tc_status tc_params_set(tc_params *p, tc_param id, double value, tc_error *err)
{
  TC_REQUIRE(p, err);
  tc_status st = tc_param_check_value(id, value, 0, err);
  const tc_param_info *in = tc_param_info_of(id);
  /* a float field keeps what the check passed: not 1e-50 stored as 0, nor 1e39 as inf */
  if (st == TC_OK && in->kind == TC_PARAM_KIND_FLOAT && isfinite(value) &&
      (!isfinite((float)value) || (value != 0 && (float)value == 0)))
    st = tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s %g does not fit a float", in->name, value);
  if (st == TC_OK) {
    store(p, &table[id], value);
    p->set |= bit(id);
  }
  return st;
}

void tc_params_unset(tc_params *p, tc_param id)
{
  if (!tc_param_info_of(id))
    return;
  tc_params defaults;
  tc_params_init(&defaults);
  memcpy((char *)p + table[id].offset, (const char *)&defaults + table[id].offset, table[id].size);
  p->set &= ~bit(id);
}

double tc_params_get(const tc_params *p, tc_param id)
{
  const tc_param_info *in = tc_param_info_of(id);
  return in ? load(p, in) : NAN;
}

int tc_params_is_set(const tc_params *p, tc_param id)
{
  return tc_param_info_of(id) && (p->set & bit(id)) != 0;
}

void tc_params_merge(const tc_params *head_file, const tc_params *user, tc_params *out)
{
  tc_params m;
  tc_params_init(&m);
  const tc_params *layers[2] = { head_file, user };
  for (int l = 0; l < 2; l++)
    for (int i = 0; layers[l] && i < TC_PARAM_COUNT; i++)
      if (layers[l]->set & bit((tc_param)i))
        memcpy((char *)&m + table[i].offset, (const char *)layers[l] + table[i].offset, table[i].size);
  m.set = user ? user->set : 0;
  *out = m;
}

tc_status tc_params_check(const tc_params *p, uint32_t subspaces, tc_error *err)
{
  for (int i = 0; i < TC_PARAM_COUNT; i++) {
    tc_status st;
    if (table[i].kind == TC_PARAM_KIND_LIST) {
      /* not given (all zeros) is fine; else the values, then zeros only */
      const uint32_t *v = (const uint32_t *)((const char *)p + table[i].offset);
      uint32_t n = tc_params_get_list(p, (tc_param)i, NULL, 0), all = (uint32_t)(table[i].size / sizeof *v), k = n;
      while (k < all && v[k] == 0)
        k++;
      st = k < all ? tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "%s: a value after a 0", table[i].name)
           : n     ? tc_param_check_list((tc_param)i, v, n, err)
                   : TC_OK;
    } else {
      st = tc_param_check_value((tc_param)i, load(p, &table[i]), subspaces, err);
    }
    if (st != TC_OK)
      return st;
  }
  if (!(p->range_hi > p->range_lo))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "range_hi %g: must be above range_lo %g", (double)p->range_hi,
                        (double)p->range_lo);
  return TC_OK;
}

uint64_t tc_params_diff(const tc_params *a, const tc_params *b)
{
  uint64_t d = 0;
  for (int i = 0; i < TC_PARAM_COUNT; i++)
    if (memcmp((const char *)a + table[i].offset, (const char *)b + table[i].offset, table[i].size) != 0)
      d |= bit((tc_param)i);
  return d;
}

tc_param tc_params_load_time_change(const tc_params *a, const tc_params *b)
{
  uint64_t d = tc_params_diff(a, b);
  for (int i = 0; i < TC_PARAM_COUNT; i++)
    if ((table[i].flags & TC_PARAM_LOAD_TIME) && (d & bit((tc_param)i)))
      return (tc_param)i;
  return TC_PARAM_COUNT;
}

static uint64_t range_bits(tc_param first, tc_param last)
{
  uint64_t m = 0;
  for (int i = first; i <= (int)last; i++)
    m |= bit((tc_param)i);
  return m;
}

uint64_t tc_params_head_fields(void) { return range_bits(TC_PARAM_TEMPERATURE, TC_PARAM_SINKHORN_WARM_START); }
uint64_t tc_params_map_fields(void) { return range_bits(TC_PARAM_SIGMA, TC_PARAM_KEEP_MAP); }

void tc_params_to_head(const tc_params *p, tc_head_params *out)
{
  tc_head_params_default(out);
  out->temperature = p->temperature;
  out->sinkhorn_eps = p->sinkhorn_eps;
  out->sinkhorn_iters = p->sinkhorn_iters;
  out->sinkhorn_tol = p->sinkhorn_tol;
  out->topk = p->topk;
  out->affinity = p->affinity;
  out->greedy = p->greedy != 0;
  out->image_blend = p->image_blend;
  out->sinkhorn_warm_start = p->sinkhorn_warm_start != 0;
}

void tc_params_to_map(const tc_params *p, uint32_t grid, uint32_t input_size, uint32_t frame_w, uint32_t frame_h,
                      tc_map_params *out)
{
  tc_map_params_init(out);
  uint32_t n = tc_params_feature_layers(p, NULL);
  const float layers = n ? (float)n : 1.0f;
  const double S = input_size ? input_size : 1;
  out->grid_w = out->grid_h = grid;
  /* model-input pixels -> frame pixels, per axis: preprocess stretches the frame to S x S */
  out->sigma = (float)(p->sigma * (double)frame_w / S);
  out->sigma_y = (float)(p->sigma * (double)frame_h / S);
  out->fixed_range = p->fixed_range != 0;
  out->lo = p->range_lo * layers;
  out->hi = p->range_hi * layers;
  out->colormap = p->colormap;
  out->alpha = p->alpha;
  out->threshold = p->overlay_threshold;
  out->keep_map = p->keep_map != 0;
}

void tc_params_to_encoder(const tc_params *p, tc_encoder_options *out)
{
  tc_encoder_options_init(out);
  out->input_size = p->input_size;
  out->vv_start = p->vv_start;
  out->pos_interp = (tc_interp)p->pos_interp;
  memcpy(out->feature_layers, p->feature_layers, sizeof out->feature_layers);
  out->global_ln_post = p->global_ln_post != 0;
}
