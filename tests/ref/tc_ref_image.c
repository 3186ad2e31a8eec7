/* References of preprocess: torch 1.13's antialiased interpolation, written
 * from aten/src/ATen/native/cpu/UpSampleKernel.cpp (_compute_indices_weights_aa). */
#include <math.h>
#include <stdlib.h>

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

void tc_ref_preprocess(const uint8_t *pixels, const tc_frame *f, size_t size, tc_resample_filter filter, float *out)
{
  static const double mean[3] = { TC_CLIP_MEAN_R, TC_CLIP_MEAN_G, TC_CLIP_MEAN_B };
  static const double std[3] = { TC_CLIP_STD_R, TC_CLIP_STD_G, TC_CLIP_STD_B };
  size_t w = f->width, h = f->height;
  float *plane = malloc(w * h * sizeof *plane);
  for (int c = 0; c < 3; c++) {
    /* byte of channel c (0 red, 1 green, 2 blue) within a pixel */
    int byte = tc_frame_blue_first(f->format) ? 2 - c : c;
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++)
        plane[y * w + x] = pixels[y * f->stride + 4 * x + byte];
    float *o = out + (size_t)c * size * size;
    tc_ref_resize_antialias(plane, h, w, o, size, size, filter);
    for (size_t i = 0; i < size * size; i++)
      o[i] = (float)((o[i] / 255.0 - mean[c]) / std[c]);
  }
  free(plane);
}
