/* GStreamer
 * Copyright (C) 2026 gst-tokenclip developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

#include <string.h>

#include "gsttokenclipframe.h"

gboolean
gst_tokenclip_frame_from_info (const GstVideoInfo * info, tc_frame * frame, gchar ** why)
{
  static const GstVideoFormat formats[] = {     /* in tc_frame_format's order */
    GST_VIDEO_FORMAT_RGBA, GST_VIDEO_FORMAT_BGRA, GST_VIDEO_FORMAT_RGBx, GST_VIDEO_FORMAT_BGRx,
    GST_VIDEO_FORMAT_NV12, GST_VIDEO_FORMAT_I420, GST_VIDEO_FORMAT_YUY2
  };
  const GstVideoColorimetry *c = &GST_VIDEO_INFO_COLORIMETRY (info);
  guint format = 0;

  while (format < G_N_ELEMENTS (formats) && formats[format] != GST_VIDEO_INFO_FORMAT (info))
    format++;
  if (format == G_N_ELEMENTS (formats)) {
    *why = g_strdup_printf ("Unsupported video format %s: tokenclip takes " GST_TOKENCLIP_FORMATS,
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (info)));
    return FALSE;
  }
  *frame = tc_frame_make ((tc_frame_format) format, GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  if (!GST_VIDEO_INFO_IS_YUV (info))
    return TRUE;
  if (c->matrix == GST_VIDEO_COLOR_MATRIX_BT709)
    frame->matrix = TC_YUV_BT709;
  else if (c->matrix == GST_VIDEO_COLOR_MATRIX_BT601)
    frame->matrix = TC_YUV_BT601;
  else if (c->matrix == GST_VIDEO_COLOR_MATRIX_UNKNOWN)
    frame->matrix = GST_VIDEO_INFO_HEIGHT (info) >= 720 ? TC_YUV_BT709 : TC_YUV_BT601;
  else {
    gchar *name = gst_video_colorimetry_to_string (c);
    *why = g_strdup_printf ("Unsupported YUV colorimetry %s: tokenclip reads YUV in the BT.601 or BT.709 matrix; "
        "put videoconvert before it", GST_STR_NULL (name));
    g_free (name);
    return FALSE;
  }
  frame->full_range = c->range == GST_VIDEO_COLOR_RANGE_0_255;
  return TRUE;
}

/* GStreamer's buffers are mostly so (even sizes, default strides); not: I420
 * with a chroma stride rounded up, odd heights, planes in separate memories. */
gboolean
gst_tokenclip_frame_in_layout (const GstVideoFrame * v, const tc_frame * f)
{
  const guint8 *y = GST_VIDEO_FRAME_PLANE_DATA (v, 0);
  gsize s = GST_VIDEO_FRAME_PLANE_STRIDE (v, 0), h = f->height;

  if (f->format == TC_FRAME_NV12)
    return GST_VIDEO_FRAME_PLANE_DATA (v, 1) == y + s * h && (gsize) GST_VIDEO_FRAME_PLANE_STRIDE (v, 1) == s;
  if (f->format == TC_FRAME_I420)
    return s % 2 == 0 && (gsize) GST_VIDEO_FRAME_PLANE_STRIDE (v, 1) == s / 2
        && (gsize) GST_VIDEO_FRAME_PLANE_STRIDE (v, 2) == s / 2 && GST_VIDEO_FRAME_PLANE_DATA (v, 1) == y + s * h
        && GST_VIDEO_FRAME_PLANE_DATA (v, 2) == y + s * h + s / 2 * ((h + 1) / 2);
  return TRUE;
}

/* NV12: Y, then interleaved chroma at the Y stride; I420: Y, then U and V at
 * half the stride: both s * ch bytes of chroma. */
gsize
gst_tokenclip_frame_bytes (const tc_frame * f)
{
  gsize s = f->stride, ch = (f->height + 1) / 2;

  if (f->format == TC_FRAME_NV12 || f->format == TC_FRAME_I420)
    return s * f->height + s * ch;
  return s * f->height;
}

void
gst_tokenclip_frame_pack (GstVideoFrame * v, const tc_frame * f, guint8 * packed, gboolean to_packed)
{
  gsize s = f->stride, ch = (f->height + 1) / 2, cw = (f->width + 1) / 2;
  gsize offset[3] = { 0, s * f->height, s * f->height + s / 2 * ch };
  gsize stride[3] = { s, f->format == TC_FRAME_NV12 ? s : s / 2, s / 2 };
  gsize rows[3] = { f->height, ch, ch }, bytes[3] = { f->width, f->format == TC_FRAME_NV12 ? 2 * cw : cw, cw };
  guint p, r;

  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (v); p++)
    for (r = 0; r < rows[p]; r++) {
      guint8 *g = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (v, p) + r * GST_VIDEO_FRAME_PLANE_STRIDE (v, p);
      guint8 *t = packed + offset[p] + r * stride[p];
      memcpy (to_packed ? t : g, to_packed ? g : t, bytes[p]);
    }
}
