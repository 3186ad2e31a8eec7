/* References of the anomaly map: torch's bilinear upsampling
 * (UpSampleKernel.cpp, align_corners=False), scipy's Gaussian blur
 * (ndimage.gaussian_filter, mode reflect, truncate 4: _filters.py and
 * ni_support.c's line extension), and the colour blend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tc_ref_image.h"
#include "tc_ref_yuv.h"

/* Source index and weight of the upper neighbour for output o (torch's
 * area_pixel_compute_source_index: negative sources clamp to 0). */
static void bilinear_source(size_t n_in, size_t n_out, size_t o, size_t *i0, size_t *i1, double *l1)
{
  double src = (double)n_in / n_out * (o + 0.5) - 0.5;
  if (src < 0)
    src = 0;
  *i0 = (size_t)src;
  if (*i0 > n_in - 1)
    *i0 = n_in - 1;
  *i1 = *i0 + (*i0 < n_in - 1 ? 1 : 0);
  *l1 = src - (double)*i0;
}

void tc_ref_upsample_bilinear(const float *in, size_t in_h, size_t in_w, float *out, size_t out_h, size_t out_w)
{
  for (size_t y = 0; y < out_h; y++) {
    size_t y0, y1;
    double ly;
    bilinear_source(in_h, out_h, y, &y0, &y1, &ly);
    for (size_t x = 0; x < out_w; x++) {
      size_t x0, x1;
      double lx;
      bilinear_source(in_w, out_w, x, &x0, &x1, &lx);
      double top = (1 - lx) * in[y0 * in_w + x0] + lx * in[y0 * in_w + x1];
      double bottom = (1 - lx) * in[y1 * in_w + x0] + lx * in[y1 * in_w + x1];
      out[y * out_w + x] = (float)((1 - ly) * top + ly * bottom);
    }
  }
}

/* The normalised Gaussian of scipy's _gaussian_kernel1d: g[0 .. 2r], r = int(4 sigma + 0.5). */
static double *gaussian(float sigma, long *radius)
{
  long r = (long)(4.0 * (double)sigma + 0.5);
  double *g = malloc((size_t)(2 * r + 1) * sizeof *g), sum = 0;
  for (long k = -r; k <= r; k++)
    sum += g[k + r] = exp(-0.5 / ((double)sigma * sigma) * (double)(k * k));
  for (long k = -r; k <= r; k++)
    g[k + r] /= sum;
  *radius = r;
  return g;
}

/* scipy's mode "reflect": i mirrored into [0, n) as often as needed (period 2n). */
static size_t reflect(long i, size_t n)
{
  long m = (long)n, j = i % (2 * m);
  j = j < 0 ? j + 2 * m : j;
  return (size_t)(j < m ? j : 2 * m - 1 - j);
}

/* One axis: n lines of len samples, sample i of line l at l * line + i * step. */
static void blur_axis(const double *in, double *out, size_t n, size_t len, size_t line, size_t step, float sigma)
{
  if (!(sigma > 0)) {
    for (size_t l = 0; l < n; l++)
      for (size_t i = 0; i < len; i++)
        out[l * line + i * step] = in[l * line + i * step];
    return;
  }
  long r;
  double *g = gaussian(sigma, &r);
  for (size_t l = 0; l < n; l++)
    for (size_t i = 0; i < len; i++) {
      double acc = 0;
      for (long k = -r; k <= r; k++)
        acc += g[k + r] * in[l * line + reflect((long)i + k, len) * step];
      out[l * line + i * step] = acc;
    }
  free(g);
}

void tc_ref_gaussian_blur_xy(const float *in, float *out, size_t h, size_t w, float sigma_x, float sigma_y)
{
  double *a = calloc(h * w, sizeof *a), *b = calloc(h * w, sizeof *b);
  for (size_t i = 0; i < h * w; i++)
    a[i] = in[i];
  blur_axis(a, b, h, w, w, 1, sigma_x); /* along rows, as scipy's axis 1 */
  blur_axis(b, a, w, h, 1, w, sigma_y); /* along columns */
  for (size_t i = 0; i < h * w; i++)
    out[i] = (float)a[i];
  free(a);
  free(b);
}

void tc_ref_gaussian_blur(const float *in, float *out, size_t h, size_t w, float sigma)
{
  tc_ref_gaussian_blur_xy(in, out, h, w, sigma, sigma);
}

void tc_ref_map_smooth_xy(const float *scores, size_t grid_h, size_t grid_w, float *map, size_t h, size_t w,
                          float sigma_x, float sigma_y, float *min, float *max)
{
  float *up = malloc(h * w * sizeof *up);
  tc_ref_upsample_bilinear(scores, grid_h, grid_w, up, h, w);
  tc_ref_gaussian_blur_xy(up, map, h, w, sigma_x, sigma_y);
  free(up);
  float mn = map[0], mx = map[0];
  for (size_t i = 1; i < h * w; i++) {
    mn = map[i] < mn ? map[i] : mn;
    mx = map[i] > mx ? map[i] : mx;
  }
  *min = mn;
  *max = mx;
}

void tc_ref_map_smooth(const float *scores, size_t grid_h, size_t grid_w, float *map, size_t h, size_t w,
                       float sigma, float *min, float *max)
{
  tc_ref_map_smooth_xy(scores, grid_h, grid_w, map, h, w, sigma, sigma, min, max);
}

void tc_ref_map_blend(const float *map, float lo, float hi, const uint8_t *lut_rgb, float alpha, float threshold,
                      uint8_t *pixels, const tc_frame *f)
{
  int blue_first = tc_frame_blue_first(f->format);
  for (size_t y = 0; y < f->height; y++)
    for (size_t x = 0; x < f->width; x++) {
      float v = map[y * f->width + x];
      float t = hi > lo ? (v - lo) / (hi - lo) : 0.0f;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      if (!(alpha > 0) || t < threshold)
        continue;
      int idx = (int)(t * 256.0f);
      idx = idx > 255 ? 255 : idx;
      uint8_t *p = pixels + y * f->stride + 4 * x;
      for (int c = 0; c < 3; c++) {
        float colour = lut_rgb[3 * idx + (blue_first ? 2 - c : c)]; /* the colour of byte c */
        p[c] = (uint8_t)floorf(p[c] + alpha * (colour - p[c]) + 0.5f);
      }
    }
}

void tc_ref_map_blend_yuv(const float *map, float lo, float hi, const uint32_t *lut_yuv, float alpha,
                          float threshold, uint8_t *px, const tc_frame *f)
{
  if (!(alpha > 0))
    return;
  tc_frame_plane pl[3];
  tc_frame_planes(f, pl);
  uint32_t bh = f->format == TC_FRAME_YUY2 ? 1 : 2;
  for (uint32_t cy = 0; cy * bh < f->height; cy++)
    for (uint32_t cx = 0; 2 * cx < f->width; cx++) {
      size_t uo, vo;
      tc_ref_yuv_chroma_offsets(f, pl, cx, cy, &uo, &vo);
      float c[2] = { px[uo], px[vo] }, pull[2] = { 0, 0 };
      int n = 0, any = 0;
      for (uint32_t dy = 0; dy < bh; dy++)
        for (uint32_t dx = 0; dx < 2; dx++) {
          uint32_t x = 2 * cx + dx, y = bh * cy + dy;
          if (x >= f->width || y >= f->height)
            continue;
          n++;
          float t = hi > lo ? (map[(size_t)y * f->width + x] - lo) / (hi - lo) : 0.0f;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          if (t < threshold)
            continue;
          any = 1;
          int idx = (int)(t * 256.0f);
          uint32_t colour = lut_yuv[idx > 255 ? 255 : idx];
          size_t yo = f->format == TC_FRAME_YUY2 ? (size_t)y * f->stride + 4 * cx + 2 * dx : (size_t)y * f->stride + x;
          px[yo] = (uint8_t)floorf(px[yo] + alpha * ((float)(colour & 0xff) - px[yo]) + 0.5f);
          pull[0] += alpha * ((float)((colour >> 8) & 0xff) - c[0]);
          pull[1] += alpha * ((float)((colour >> 16) & 0xff) - c[1]);
        }
      if (any) {
        px[uo] = (uint8_t)floorf(c[0] + pull[0] / (float)n + 0.5f);
        px[vo] = (uint8_t)floorf(c[1] + pull[1] / (float)n + 0.5f);
      }
    }
}
