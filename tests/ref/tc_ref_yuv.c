#include "tc_ref_yuv.h"

#include <math.h>

static void yuv_rgb(const tc_frame *f, int Y, int U, int V, uint8_t *out)
{
  float kr = f->matrix == TC_YUV_BT709 ? 0.2126f : 0.299f, kb = f->matrix == TC_YUV_BT709 ? 0.0722f : 0.114f;
  float kg = 1.0f - kr - kb;
  float y = f->full_range ? (float)Y : ((float)Y - 16.0f) * (255.0f / 219.0f);
  float cs = f->full_range ? 1.0f : 255.0f / 224.0f;
  float cb = ((float)U - 128.0f) * cs, cr = ((float)V - 128.0f) * cs;
  float rgb[3] = { y + 2.0f * (1.0f - kr) * cr,
                   y - (2.0f * kb * (1.0f - kb) / kg) * cb - (2.0f * kr * (1.0f - kr) / kg) * cr,
                   y + 2.0f * (1.0f - kb) * cb };
  for (int c = 0; c < 3; c++) {
    float v = floorf(rgb[c] + 0.5f);
    out[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

void tc_ref_yuv_chroma_offsets(const tc_frame *f, const tc_frame_plane pl[3], uint32_t cx, uint32_t cy, size_t *u,
                               size_t *v)
{
  if (f->format == TC_FRAME_NV12) {
    *u = pl[1].offset + (size_t)cy * pl[1].stride + 2 * (size_t)cx, *v = *u + 1;
  } else if (f->format == TC_FRAME_I420) {
    *u = pl[1].offset + (size_t)cy * pl[1].stride + cx;
    *v = pl[2].offset + (size_t)cy * pl[2].stride + cx;
  } else { /* YUY2: Y0 U Y1 V */
    *u = (size_t)cy * f->stride + 4 * (size_t)cx + 1, *v = *u + 2;
  }
}

void tc_ref_yuv_to_rgba(const tc_frame *f, const uint8_t *yuv, uint8_t *rgba)
{
  tc_frame_plane pl[3];
  tc_frame_planes(f, pl);
  const int yuy2 = f->format == TC_FRAME_YUY2;
  for (uint32_t y = 0; y < f->height; y++)
    for (uint32_t x = 0; x < f->width; x++) {
      size_t u, v;
      tc_ref_yuv_chroma_offsets(f, pl, x / 2, yuy2 ? y : y / 2, &u, &v);
      int Y = yuy2 ? yuv[(size_t)y * f->stride + 4 * (x / 2) + 2 * (x & 1)] : yuv[(size_t)y * f->stride + x];
      int U = yuv[u], V = yuv[v];
      uint8_t *o = rgba + 4 * ((size_t)y * f->width + x);
      yuv_rgb(f, Y, U, V, o);
      o[3] = 255;
    }
}
