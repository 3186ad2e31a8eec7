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

void tc_ref_yuv_to_rgba(const tc_frame *f, const uint8_t *yuv, uint8_t *rgba)
{
  tc_frame_plane pl[3];
  tc_frame_planes(f, pl);
  for (uint32_t y = 0; y < f->height; y++)
    for (uint32_t x = 0; x < f->width; x++) {
      int Y, U, V;
      if (f->format == TC_FRAME_NV12) {
        const uint8_t *c = yuv + pl[1].offset + (y / 2) * pl[1].stride + 2 * (x / 2);
        Y = yuv[y * f->stride + x], U = c[0], V = c[1];
      } else if (f->format == TC_FRAME_I420) {
        Y = yuv[y * f->stride + x];
        U = yuv[pl[1].offset + (y / 2) * pl[1].stride + x / 2];
        V = yuv[pl[2].offset + (y / 2) * pl[2].stride + x / 2];
      } else { /* YUY2 */
        const uint8_t *m = yuv + y * f->stride + 4 * (x / 2);
        Y = m[2 * (x & 1)], U = m[1], V = m[3];
      }
      uint8_t *o = rgba + 4 * ((size_t)y * f->width + x);
      yuv_rgb(f, Y, U, V, o);
      o[3] = 255;
    }
}
