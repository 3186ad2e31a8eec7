#include "tc_pos_embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *tc_interp_name(tc_interp mode)
{
  switch (mode) {
  case TC_INTERP_BICUBIC: return "bicubic";
  case TC_INTERP_BICUBIC_AA: return "bicubic-aa";
  case TC_INTERP_BILINEAR: return "bilinear";
  }
  return "unknown";
}

int tc_interp_from_name(const char *name)
{
  static const tc_interp all[] = { TC_INTERP_BICUBIC, TC_INTERP_BICUBIC_AA, TC_INTERP_BILINEAR };
  for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
    if (strcmp(name, tc_interp_name(all[i])) == 0)
      return (int)all[i];
  return -1;
}

/* One output index's source taps along an axis. */
typedef struct axis_taps {
  int max_taps;
  int *index;     /* [out][max_taps] */
  double *weight; /* [out][max_taps] */
  int *count;     /* [out] */
} axis_taps;

/* Keys' cubic convolution kernel with parameter a (PyTorch's
 * cubic_convolution1/2 for |x| < 1 and 1 <= |x| < 2). */
static double cubic(double x, double a)
{
  x = fabs(x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

static int clampi(long v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* Source coordinates in double: PyTorch's float32 path rounds them (its
 * float32 result differs from its float64 one by ~1e-5); this matches the
 * float64 one. */
static int make_taps(axis_taps *t, int in, int out, tc_interp mode)
{
  double scale = (double)in / (double)out;
  double support = 0;
  if (mode == TC_INTERP_BICUBIC)
    t->max_taps = 4;
  else if (mode == TC_INTERP_BILINEAR)
    t->max_taps = 2;
  else {
    support = scale >= 1.0 ? 2.0 * scale : 2.0;
    t->max_taps = (int)ceil(support) * 2 + 1;
  }
  t->index = malloc((size_t)out * (size_t)t->max_taps * sizeof *t->index);
  t->weight = malloc((size_t)out * (size_t)t->max_taps * sizeof *t->weight);
  t->count = malloc((size_t)out * sizeof *t->count);
  if (!t->index || !t->weight || !t->count)
    return -1;
  for (int o = 0; o < out; o++) {
    int *idx = t->index + (size_t)o * (size_t)t->max_taps;
    double *w = t->weight + (size_t)o * (size_t)t->max_taps;
    if (mode == TC_INTERP_BICUBIC) {
      double real = scale * (o + 0.5) - 0.5; /* not clamped for cubic */
      double base = floor(real);
      double frac = real - base;
      for (int k = 0; k < 4; k++) {
        idx[k] = clampi((long)base - 1 + k, 0, in - 1);
        w[k] = cubic(frac + 1.0 - k, -0.75);
      }
      t->count[o] = 4;
    } else if (mode == TC_INTERP_BILINEAR) {
      double real = scale * (o + 0.5) - 0.5;
      if (real < 0)
        real = 0;
      int i0 = (int)real;
      double lambda = real - i0;
      idx[0] = i0;
      idx[1] = i0 < in - 1 ? i0 + 1 : i0;
      w[0] = 1.0 - lambda;
      w[1] = lambda;
      t->count[o] = 2;
    } else {
      double center = scale * (o + 0.5);
      double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
      long lo = (long)(center - support + 0.5);
      long hi = (long)(center + support + 0.5);
      if (lo < 0)
        lo = 0;
      if (hi > in)
        hi = in;
      int n = (int)(hi - lo);
      if (n > t->max_taps)
        n = t->max_taps;
      double total = 0;
      for (int k = 0; k < n; k++) {
        idx[k] = (int)lo + k;
        w[k] = cubic(((double)(lo + k) - center + 0.5) * invscale, -0.5);
        total += w[k];
      }
      for (int k = 0; k < n && total != 0.0; k++)
        w[k] /= total;
      t->count[o] = n;
    }
  }
  return 0;
}

static void free_taps(axis_taps *t)
{
  free(t->index);
  free(t->weight);
  free(t->count);
}

tc_status tc_pos_embed_resize_grid(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w,
                                   size_t dim, tc_interp mode, tc_error *err)
{
  if (!src || !dst || src_h <= 0 || src_w <= 0 || dst_h <= 0 || dst_w <= 0 || !dim ||
      tc_interp_from_name(tc_interp_name(mode)) < 0)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_pos_embed_resize_grid: invalid arguments (%dx%d -> "
                        "%dx%d, dim %zu, mode %d)", src_h, src_w, dst_h, dst_w, dim, (int)mode);
  if (src_h == dst_h && src_w == dst_w) {
    memcpy(dst, src, (size_t)src_h * (size_t)src_w * dim * sizeof *dst);
    return TC_OK;
  }
  axis_taps ty = { 0 }, tx = { 0 };
  double *row = malloc((size_t)src_w * dim * sizeof *row);
  double *acc = malloc(dim * sizeof *acc);
  tc_status st = TC_OK;
  if (!row || !acc || make_taps(&ty, src_h, dst_h, mode) || make_taps(&tx, src_w, dst_w, mode)) {
    st = tc_error_set(err, TC_ERR_OUT_OF_MEMORY, "tc_pos_embed_resize_grid: out of memory");
    goto done;
  }
  for (int oy = 0; oy < dst_h; oy++) {
    /* interpolate along y into one source-width row, then along x */
    memset(row, 0, (size_t)src_w * dim * sizeof *row);
    for (int k = 0; k < ty.count[oy]; k++) {
      double wy = ty.weight[(size_t)oy * (size_t)ty.max_taps + (size_t)k];
      const float *in = src + (size_t)ty.index[(size_t)oy * (size_t)ty.max_taps + (size_t)k] * (size_t)src_w * dim;
      for (size_t i = 0; i < (size_t)src_w * dim; i++)
        row[i] += wy * in[i];
    }
    for (int ox = 0; ox < dst_w; ox++) {
      memset(acc, 0, dim * sizeof *acc);
      for (int k = 0; k < tx.count[ox]; k++) {
        double wx = tx.weight[(size_t)ox * (size_t)tx.max_taps + (size_t)k];
        const double *in = row + (size_t)tx.index[(size_t)ox * (size_t)tx.max_taps + (size_t)k] * dim;
        for (size_t c = 0; c < dim; c++)
          acc[c] += wx * in[c];
      }
      float *out = dst + ((size_t)oy * (size_t)dst_w + (size_t)ox) * dim;
      for (size_t c = 0; c < dim; c++)
        out[c] = (float)acc[c];
    }
  }
done:
  free_taps(&ty);
  free_taps(&tx);
  free(row);
  free(acc);
  return st;
}

tc_status tc_pos_embed_resize(const float *src, int src_h, int src_w, float *dst, int dst_h, int dst_w, size_t dim,
                              tc_interp mode, tc_error *err)
{
  if (!src || !dst || !dim)
    return tc_error_set(err, TC_ERR_INVALID_ARGUMENT, "tc_pos_embed_resize: invalid arguments");
  memcpy(dst, src, dim * sizeof *dst);
  return tc_pos_embed_resize_grid(src + dim, src_h, src_w, dst + dim, dst_h, dst_w, dim, mode, err);
}
