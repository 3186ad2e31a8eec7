#include "tc_resample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A row of the dense resampling matrix: the weight of every input sample for
 * output o, accumulated into row[0..n_in) (zeroed by the caller). */
typedef void (*row_fn)(const void *params, uint32_t o, double *row);

/* Dense rows -> banded table: every row's non-zero span fits in `taps`
 * consecutive inputs; spans that would run past the end start earlier. */
static tc_status build(uint32_t n_in, uint32_t n_out, row_fn fn, const void *params, tc_resample_table *t,
                       tc_error *err)
{
  memset(t, 0, sizeof *t);
  double *row = malloc(n_in * sizeof *row);
  uint32_t *lo = malloc(n_out * sizeof *lo);
  if (!row || !lo) {
    free(row), free(lo);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u resampling table", n_out, n_in);
  }
  uint32_t taps = 1;
  for (uint32_t o = 0; o < n_out; o++) {
    memset(row, 0, n_in * sizeof *row);
    fn(params, o, row);
    uint32_t a = 0, b = n_in;
    while (a < n_in && row[a] == 0)
      a++;
    while (b > a && row[b - 1] == 0)
      b--;
    lo[o] = a < n_in ? a : 0;
    if (b > a && b - a > taps)
      taps = b - a;
  }
  t->first = malloc(n_out * sizeof *t->first);
  t->weights = calloc((size_t)n_out * taps, sizeof *t->weights);
  if (!t->first || !t->weights) {
    free(row), free(lo);
    tc_resample_free(t);
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u resampling table", n_out, n_in);
  }
  for (uint32_t o = 0; o < n_out; o++) {
    memset(row, 0, n_in * sizeof *row);
    fn(params, o, row);
    uint32_t first = lo[o] + taps <= n_in ? lo[o] : n_in - taps;
    t->first[o] = first;
    for (uint32_t k = 0; k < taps; k++)
      t->weights[(size_t)o * taps + k] = (float)row[first + k];
  }
  free(row), free(lo);
  t->n_in = n_in;
  t->n_out = n_out;
  t->taps = taps;
  return TC_OK;
}

/* ---- antialiased interpolation (torch 1.13 _upsample_*_aa, PIL) ---- */

typedef struct {
  uint32_t n_in, n_out;
  tc_resample_filter filter;
} aa_params;

/* Both lengths 1..2^24: what every table takes. */
static tc_status check_sizes(uint32_t n_in, uint32_t n_out, tc_error *err)
{
  if (n_in == 0 || n_out == 0 || n_in > (1u << 24) || n_out > (1u << 24))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "resampling %u samples to %u", n_in, n_out);
  return TC_OK;
}

/* A table of one of the filters, rows made by fn (aa_row, pil_row). */
static tc_status build_filtered(uint32_t n_in, uint32_t n_out, tc_resample_filter filter, row_fn fn,
                                tc_resample_table *t, tc_error *err)
{
  memset(t, 0, sizeof *t);
  tc_status st = check_sizes(n_in, n_out, err);
  if (st != TC_OK)
    return st;
  if (!tc_resample_filter_name(filter))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "unknown resampling filter %d", (int)filter);
  aa_params p = { n_in, n_out, filter == TC_RESAMPLE_BILINEAR ? TC_RESAMPLE_BILINEAR : TC_RESAMPLE_BICUBIC };
  return build(n_in, n_out, fn, &p, t, err);
}

static double bilinear_filter(double x)
{
  x = fabs(x);
  return x < 1 ? 1 - x : 0;
}

/* Keys' cubic convolution with a = -0.5, as PIL and torch's antialiased
 * path use (torch's plain bicubic uses a = -0.75). */
static double bicubic_filter(double x)
{
  const double a = -0.5;
  x = fabs(x);
  if (x < 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

static void aa_row(const void *params, uint32_t o, double *row)
{
  const aa_params *p = params;
  double scale = (double)p->n_in / p->n_out;
  double support = (p->filter == TC_RESAMPLE_BICUBIC ? 2.0 : 1.0) * (scale >= 1 ? scale : 1);
  double invscale = scale >= 1 ? 1 / scale : 1;
  double center = scale * (o + 0.5);
  /* truncation, not floor, as torch and PIL write it (the max makes them agree) */
  long xmin = (long)(center - support + 0.5), xmax = (long)(center + support + 0.5);
  if (xmin < 0)
    xmin = 0;
  if (xmax > (long)p->n_in)
    xmax = (long)p->n_in;
  double total = 0;
  for (long j = xmin; j < xmax; j++) {
    double w = p->filter == TC_RESAMPLE_BICUBIC ? bicubic_filter((j - center + 0.5) * invscale)
                                               : bilinear_filter((j - center + 0.5) * invscale);
    row[j] = w;
    total += w;
  }
  if (total != 0)
    for (long j = xmin; j < xmax; j++)
      row[j] /= total;
}

tc_status tc_resample_antialias(uint32_t n_in, uint32_t n_out, tc_resample_filter filter, tc_resample_table *t, tc_error *err)
{
  return build_filtered(n_in, n_out, filter, aa_row, t, err);
}

/* ---- PIL's 8-bit fixed-point resize (libImaging/Resample.c) ---- */

/* PIL's filters, written as Resample.c writes them: the weights are rounded
 * to 22 bits afterwards, so even the order of operations is kept. */
static double pil_bicubic(double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static double pil_bilinear(double x)
{
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return 1.0 - x;
  return 0.0;
}

/* precompute_coeffs (in0 = 0, in1 = n_in) for output o, then
 * normalize_coeffs_8bpc: integer weights into row[xmin .. xmax). */
static void pil_row(const void *params, uint32_t o, double *row)
{
  const aa_params *p = params;
  int bilinear = p->filter == TC_RESAMPLE_BILINEAR;
  double scale = (double)p->n_in / p->n_out, filterscale = scale < 1.0 ? 1.0 : scale;
  double support = (bilinear ? 1.0 : 2.0) * filterscale;
  double center = (o + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
  int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
  if (xmin < 0)
    xmin = 0;
  if (xmax > (int)p->n_in)
    xmax = (int)p->n_in;
  xmax -= xmin;
  double *k = row + xmin;
  for (int x = 0; x < xmax; x++) {
    double w = bilinear ? pil_bilinear((x + xmin - center + 0.5) * ss) : pil_bicubic((x + xmin - center + 0.5) * ss);
    k[x] = w;
    ww += w;
  }
  for (int x = 0; x < xmax; x++) {
    if (ww != 0.0)
      k[x] /= ww;
    k[x] = k[x] < 0 ? (int)(-0.5 + k[x] * (1 << TC_PIL_PRECISION_BITS))
                    : (int)(0.5 + k[x] * (1 << TC_PIL_PRECISION_BITS));
  }
}

tc_status tc_resample_pil(uint32_t n_in, uint32_t n_out, tc_resample_filter filter, tc_resample_table *t, tc_error *err)
{
  return build_filtered(n_in, n_out, filter, pil_row, t, err);
}

/* One PIL pass over `lines` lines of n_in pixels (pixel i of line l at
 * src + l * src_line + i * src_px) into n_out pixels each: the first three
 * bytes of a pixel, 2^21 + sum w p in int64 (PIL's int32 never overflows:
 * |sum| < 1.2 * 255 * 2^22), then >> 22 clamped to 0..255. */
static void pil_pass(const tc_resample_table *t, uint32_t lines, const uint8_t *src, size_t src_line, size_t src_px,
                     uint8_t *dst, size_t dst_line, size_t dst_px)
{
  for (uint32_t l = 0; l < lines; l++)
    for (uint32_t o = 0; o < t->n_out; o++) {
      const float *w = t->weights + (size_t)o * t->taps;
      const uint8_t *in = src + l * src_line + (size_t)t->first[o] * src_px;
      int64_t acc[3] = { 1 << (TC_PIL_PRECISION_BITS - 1), 1 << (TC_PIL_PRECISION_BITS - 1),
                         1 << (TC_PIL_PRECISION_BITS - 1) };
      for (uint32_t k = 0; k < t->taps; k++)
        for (int c = 0; c < 3; c++)
          acc[c] += (int64_t)w[k] * in[k * src_px + c];
      uint8_t *out = dst + l * dst_line + o * dst_px;
      for (int c = 0; c < 3; c++) {
        int64_t v = acc[c] < 0 ? 0 : acc[c] >> TC_PIL_PRECISION_BITS;
        out[c] = (uint8_t)(v > 255 ? 255 : v);
      }
    }
}

tc_status tc_resize_pil_8bit(const uint8_t *src, uint32_t w, uint32_t h, size_t src_stride, uint8_t *dst,
                             uint32_t ow, uint32_t oh, size_t dst_stride, tc_resample_filter filter, tc_error *err)
{
  if (src_stride < 4 * (size_t)w || dst_stride < 4 * (size_t)ow)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "resize %ux%u -> %ux%u: strides %zu, %zu bytes are short of "
                        "4-byte pixels", w, h, ow, oh, src_stride, dst_stride);
  tc_resample_table tx = { 0 }, ty = { 0 };
  tc_status st = w != ow ? tc_resample_pil(w, ow, filter, &tx, err) : TC_OK;
  if (st == TC_OK && h != oh)
    st = tc_resample_pil(h, oh, filter, &ty, err);
  /* the horizontal pass's output: rows of ow pixels (dst itself when there is no vertical pass) */
  uint8_t *mid = NULL;
  if (st == TC_OK && w != ow && h != oh && !(mid = malloc((size_t)h * ow * 4)))
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory to resize %ux%u -> %ux%u", w, h, ow, oh);
  if (st == TC_OK) {
    const uint8_t *rows = src; /* the input of the vertical pass */
    size_t rows_stride = src_stride;
    if (w != ow) {
      rows = mid ? mid : dst;
      rows_stride = mid ? 4 * (size_t)ow : dst_stride;
      pil_pass(&tx, h, src, src_stride, 4, (uint8_t *)rows, rows_stride, 4);
    }
    if (h != oh) {
      pil_pass(&ty, ow, rows, 4, rows_stride, dst, 4, dst_stride);
    } else if (w == ow) {
      for (uint32_t y = 0; y < h; y++)
        memcpy(dst + y * dst_stride, src + y * src_stride, 4 * (size_t)w);
    }
    for (uint32_t y = 0; y < oh; y++)
      for (uint32_t x = 0; x < ow; x++)
        dst[y * dst_stride + 4 * x + 3] = 255;
  }
  free(mid);
  tc_resample_free(&tx);
  tc_resample_free(&ty);
  return st;
}

/* ---- bilinear upsampling, then a Gaussian blur ---- */

typedef struct {
  uint32_t n_in, n_out, radius;
  const double *gauss; /* [2 radius + 1], sums to 1 */
} blur_params;

/* Adds g times the bilinear row of output x (torch's align_corners=False:
 * source clamped at 0, upper neighbour clamped at the last sample). */
static void add_bilinear(const blur_params *p, uint32_t x, double g, double *row)
{
  double scale = (double)p->n_in / p->n_out;
  double src = scale * (x + 0.5) - 0.5;
  if (src < 0)
    src = 0;
  uint32_t i0 = (uint32_t)src;
  if (i0 > p->n_in - 1)
    i0 = p->n_in - 1;
  uint32_t i1 = i0 + (i0 < p->n_in - 1 ? 1 : 0);
  double l1 = src - i0;
  row[i0] += g * (1 - l1);
  row[i1] += g * l1;
}

/* scipy's mode "reflect" (half-sample symmetric): index x of the infinite
 * line mirrored into [0, n), period 2n. */
static long reflect_index(long x, long n)
{
  long m = x % (2 * n);
  m = m < 0 ? m + 2 * n : m;
  return m < n ? m : 2 * n - 1 - m;
}

static void blur_row(const void *params, uint32_t o, double *row)
{
  const blur_params *p = params;
  long r = (long)p->radius;
  for (long k = -r; k <= r; k++)
    add_bilinear(p, (uint32_t)reflect_index((long)o + k, (long)p->n_out), p->gauss[k + r], row);
}

uint32_t tc_gaussian_radius(float sigma) { return sigma > 0 ? (uint32_t)(4.0 * sigma + 0.5) : 0; }

tc_status tc_resample_bilinear_blur(uint32_t n_in, uint32_t n_out, float sigma, tc_resample_table *t, tc_error *err)
{
  memset(t, 0, sizeof *t);
  tc_status st = check_sizes(n_in, n_out, err);
  if (st != TC_OK)
    return st;
  if (!(sigma >= 0 && sigma <= TC_BLUR_MAX_SIGMA))
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "blur sigma %g is outside [0, %g] pixels", sigma,
                        TC_BLUR_MAX_SIGMA);
  uint32_t r = tc_gaussian_radius(sigma);
  double *g = malloc((2 * r + 1) * sizeof *g);
  if (!g)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory");
  double sum = 0;
  for (uint32_t i = 0; i <= 2 * r; i++) {
    double k = (double)i - r;
    g[i] = r ? exp(-0.5 / ((double)sigma * sigma) * (k * k)) : 1; /* as scipy's _gaussian_kernel1d */
    sum += g[i];
  }
  for (uint32_t i = 0; i <= 2 * r; i++)
    g[i] /= sum;
  blur_params p = { n_in, n_out, r, g };
  st = build(n_in, n_out, blur_row, &p, t, err);
  free(g);
  return st;
}

void tc_resample_free(tc_resample_table *t)
{
  free(t->first);
  free(t->weights);
  memset(t, 0, sizeof *t);
}

tc_status tc_resample_upload(tc_context *ctx, const tc_resample_table *t, tc_resample_groups *g, tc_buffer **out,
                             tc_error *err)
{
  *out = NULL;
  uint32_t groups = (t->n_out + 3) / 4, span = 1;
  for (uint32_t gi = 0; gi < groups; gi++) {
    uint32_t o0 = 4 * gi, o1 = o0 + 4 < t->n_out ? o0 + 4 : t->n_out;
    uint32_t lo = t->first[o0], hi = 0;
    for (uint32_t o = o0; o < o1; o++) {
      lo = t->first[o] < lo ? t->first[o] : lo;
      hi = t->first[o] + t->taps > hi ? t->first[o] + t->taps : hi;
    }
    span = hi - lo > span ? hi - lo : span;
  }
  *g = (tc_resample_groups){ .groups = groups, .span = span, .record = 1 + span };
  size_t n = (size_t)groups * g->record * 4;
  float *texels = calloc(n, sizeof *texels);
  if (!texels)
    return tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "out of host memory for a %ux%u resampling table", t->n_out,
                        t->n_in);
  for (uint32_t gi = 0; gi < groups; gi++) {
    uint32_t o0 = 4 * gi, o1 = o0 + 4 < t->n_out ? o0 + 4 : t->n_out;
    uint32_t first = t->first[o0];
    for (uint32_t o = o0; o < o1; o++)
      first = t->first[o] < first ? t->first[o] : first;
    /* keep the record inside the input where it fits */
    if (first + span > t->n_in)
      first = t->n_in > span ? t->n_in - span : 0;
    float *r = texels + (size_t)gi * g->record * 4;
    r[0] = (float)first; /* exact: n_in <= 2^24 */
    for (uint32_t o = o0; o < o1; o++)
      for (uint32_t k = 0; k < t->taps; k++)
        r[4 * (1 + t->first[o] + k - first) + (o - o0)] = t->weights[(size_t)o * t->taps + k];
  }
  tc_status st = tc_buffer_create_from(ctx, texels, n * sizeof *texels, out, err);
  free(texels);
  return st;
}
