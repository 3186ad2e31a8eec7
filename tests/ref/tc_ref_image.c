/* References of preprocess: torch 1.13's antialiased interpolation, written
 * from aten/src/ATen/native/cpu/UpSampleKernel.cpp (_compute_indices_weights_aa),
 * and PIL's 8-bit resize, written from Pillow's libImaging/Resample.c. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tc_ref_image.h"

static double filter_weight(double x, tc_resample_filter filter)
{
  x = fabs(x);
  if (filter == TC_RESAMPLE_BILINEAR)
    return x < 1 ? 1 - x : 0;
  const double a = -0.5; /* the antialiased path's cubic, as PIL's */
  if (x < 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/* The taps of output o along an axis of n_in samples resized to n_out:
 * weights w[0..count) for inputs xmin.., summing to 1. */
static size_t taps(size_t n_in, size_t n_out, size_t o, tc_resample_filter filter, size_t *xmin_out, double *w)
{
  double scale = (double)n_in / n_out;
  double support = (filter == TC_RESAMPLE_BICUBIC ? 2.0 : 1.0) * (scale >= 1 ? scale : 1);
  double invscale = scale >= 1 ? 1 / scale : 1;
  double center = scale * (o + 0.5);
  long xmin = (long)(center - support + 0.5), xmax = (long)(center + support + 0.5);
  if (xmin < 0)
    xmin = 0;
  if (xmax > (long)n_in)
    xmax = (long)n_in;
  double total = 0;
  for (long j = xmin; j < xmax; j++)
    total += w[j - xmin] = filter_weight((j - center + 0.5) * invscale, filter);
  for (long j = xmin; j < xmax; j++)
    if (total != 0)
      w[j - xmin] /= total;
  *xmin_out = (size_t)xmin;
  return (size_t)(xmax - xmin);
}

void tc_ref_resize_antialias(const float *in, size_t in_h, size_t in_w, float *out, size_t out_h, size_t out_w,
                             tc_resample_filter filter)
{
  /* widest support: 2 * (2 * scale + 1) taps at most, for either axis */
  size_t max_taps = 4 * (in_w > in_h ? in_w : in_h) + 8;
  double *w = malloc(max_taps * sizeof *w);
  double *mid = malloc(in_h * out_w * sizeof *mid); /* rows resized, columns not yet */
  for (size_t y = 0; y < in_h; y++)
    for (size_t x = 0; x < out_w; x++) {
      size_t x0, n = taps(in_w, out_w, x, filter, &x0, w);
      double acc = 0;
      for (size_t k = 0; k < n; k++)
        acc += w[k] * in[y * in_w + x0 + k];
      mid[y * out_w + x] = acc;
    }
  for (size_t y = 0; y < out_h; y++) {
    size_t y0, n = taps(in_h, out_h, y, filter, &y0, w);
    for (size_t x = 0; x < out_w; x++) {
      double acc = 0;
      for (size_t k = 0; k < n; k++)
        acc += w[k] * mid[(y0 + k) * out_w + x];
      out[y * out_w + x] = (float)acc;
    }
  }
  free(w);
  free(mid);
}

/* ---- PIL ---- */

/* Resample.c's bicubic_filter and bilinear_filter, expression for expression. */
static double pil_filter(double x, int bilinear)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (bilinear)
    return x < 1.0 ? 1.0 - x : 0.0;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* precompute_coeffs + normalize_coeffs_8bpc for output o: bounds [*xmin,
 * *xmin + count) and the integer weights k[0..count). */
static size_t pil_coeffs(size_t n_in, size_t n_out, size_t o, int bilinear, size_t *xmin_out, int32_t *k)
{
  double scale = (double)n_in / n_out, filterscale = scale < 1.0 ? 1.0 : scale;
  double support = (bilinear ? 1.0 : 2.0) * filterscale, ss = 1.0 / filterscale;
  double center = (o + 0.5) * scale, ww = 0.0;
  int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
  xmin = xmin < 0 ? 0 : xmin;
  xmax = xmax > (int)n_in ? (int)n_in : xmax;
  double *w = malloc((size_t)(xmax - xmin) * sizeof *w);
  for (int x = xmin; x < xmax; x++)
    ww += w[x - xmin] = pil_filter(((double)x - center + 0.5) * ss, bilinear);
  for (int x = xmin; x < xmax; x++) {
    double v = ww != 0.0 ? w[x - xmin] / ww : w[x - xmin];
    k[x - xmin] = v < 0 ? (int32_t)(-0.5 + v * 4194304.0) : (int32_t)(0.5 + v * 4194304.0); /* 2^22 */
  }
  free(w);
  *xmin_out = (size_t)xmin;
  return (size_t)(xmax - xmin);
}

/* clip8((1 << 21) + sum): floor(sum / 2^22) clamped to 0..255 */
static uint8_t pil_clip8(int64_t sum)
{
  int64_t s = sum + (1 << 21);
  int64_t q = s >= 0 ? s / 4194304 : -((-s + 4194303) / 4194304);
  return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void tc_ref_resize_pil(const uint8_t *in, size_t in_h, size_t in_w, uint8_t *out, size_t out_h, size_t out_w,
                       tc_resample_filter filter)
{
  int bilinear = filter == TC_RESAMPLE_BILINEAR;
  size_t max_n = (in_w > in_h ? in_w : in_h);
  int32_t *k = malloc(max_n * sizeof *k);
  uint8_t *mid = malloc(in_h * out_w); /* rows resized, columns not yet */
  for (size_t y = 0; y < in_h; y++)
    for (size_t x = 0; x < out_w; x++) {
      if (out_w == in_w) {
        mid[y * out_w + x] = in[y * in_w + x];
        continue;
      }
      size_t x0, n = pil_coeffs(in_w, out_w, x, bilinear, &x0, k);
      int64_t acc = 0;
      for (size_t i = 0; i < n; i++)
        acc += (int64_t)k[i] * in[y * in_w + x0 + i];
      mid[y * out_w + x] = pil_clip8(acc);
    }
  for (size_t y = 0; y < out_h; y++) {
    size_t y0 = y, n = 0;
    if (out_h != in_h)
      n = pil_coeffs(in_h, out_h, y, bilinear, &y0, k);
    for (size_t x = 0; x < out_w; x++) {
      if (out_h == in_h) {
        out[y * out_w + x] = mid[y * out_w + x];
        continue;
      }
      int64_t acc = 0;
      for (size_t i = 0; i < n; i++)
        acc += (int64_t)k[i] * mid[(y0 + i) * out_w + x];
      out[y * out_w + x] = pil_clip8(acc);
    }
  }
  free(k);
  free(mid);
}

void tc_ref_preprocess(const uint8_t *pixels, const tc_frame *f, size_t size, tc_resample_filter filter, float *out)
{
  static const double mean[3] = { TC_CLIP_MEAN_R, TC_CLIP_MEAN_G, TC_CLIP_MEAN_B };
  static const double std[3] = { TC_CLIP_STD_R, TC_CLIP_STD_G, TC_CLIP_STD_B };
  size_t w = f->width, h = f->height;
  float *plane = malloc(w * h * sizeof *plane);
  uint8_t *bytes = malloc(w * h), *resized = malloc(size * size);
  for (int c = 0; c < 3; c++) {
    /* byte of channel c (0 red, 1 green, 2 blue) within a pixel */
    int byte = tc_frame_blue_first(f->format) ? 2 - c : c;
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++)
        bytes[y * w + x] = pixels[y * f->stride + 4 * x + byte];
    float *o = out + (size_t)c * size * size;
    if (filter == TC_RESAMPLE_PIL_BICUBIC) {
      tc_ref_resize_pil(bytes, h, w, resized, size, size, filter);
      for (size_t i = 0; i < size * size; i++)
        o[i] = (float)((resized[i] / 255.0 - mean[c]) / std[c]);
    } else {
      for (size_t i = 0; i < w * h; i++)
        plane[i] = bytes[i];
      tc_ref_resize_antialias(plane, h, w, o, size, size, filter);
      for (size_t i = 0; i < size * size; i++)
        o[i] = (float)((o[i] / 255.0 - mean[c]) / std[c]);
    }
  }
  free(plane), free(bytes), free(resized);
}
